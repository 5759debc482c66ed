//! Notifications end to end through the edge: Bob's open StreamNotifications (grpc-web, as a
//! browser holds it) receives his assignment as it happens; a mention and a completion
//! notify; the actor is never told of their own action; the inbox lists, counts, marks read
//! and archives; muting a kind keeps it out of the inbox; another organization's member and
//! another user see nothing.

mod support;

use std::time::Duration;

use support::{Mesh, assert_refused, bearer};
use taskmesh::notifications::v1::notification_service_client::NotificationServiceClient;
use taskmesh::notifications::v1::stream_notifications_response::Event as StreamEvent;
use taskmesh::notifications::v1::*;

use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::*;
use taskmesh::tenancy::v1::OrganizationRole;
use tonic::Code;

const HUNG: Duration = Duration::from_secs(10);

async fn next<S>(stream: &mut tonic::Streaming<S>) -> S {
    tokio::time::timeout(HUNG, stream.message())
        .await
        .expect("notification stream hung")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn assignments_mentions_and_completions_reach_the_inbox_and_the_stream() {
    let mesh = Mesh::start().await;
    let (ada_user, ada) = mesh.sign_up("ada@notify.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "notify").await;
    let (bob_user, bob) = mesh.sign_up("bob@notify.test").await;
    let bob = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "bob@notify.test",
            OrganizationRole::Member,
            &bob,
        )
        .await;
    let (ada_token, bob_token) = (ada.access_token.clone(), bob.access_token.clone());
    let mut tasks = TaskServiceClient::new(mesh.channel.clone());
    let mut inbox = NotificationServiceClient::new(mesh.channel.clone());

    // Bob opens his feed from a browser-like grpc-web client before anything happens.
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http);
    let mut feed = NotificationServiceClient::with_origin(
        web,
        format!("http://{}", mesh.address).parse().unwrap(),
    )
    .stream_notifications(bearer(StreamNotificationsRequest::default(), &bob_token))
    .await
    .unwrap()
    .into_inner();
    let first = next(&mut feed).await;
    assert!(!first.resume_token.is_empty());
    let Some(StreamEvent::UnreadCount(count)) = first.event else {
        panic!("{first:?}")
    };
    // Joining through an invitation is Bob's own act: nothing to tell him.
    assert_eq!(count.unread_count, 0);

    let project = support::create_project(&mesh.channel, &ada_token, "WEB").await;
    support::add_project_member(&mesh.channel, &ada_token, &project.id, &bob_user.id).await;
    let added = next(&mut feed).await;
    let Some(StreamEvent::Notification(added)) = added.event else {
        panic!("{added:?}")
    };
    assert_eq!(added.kind, NotificationKind::MemberAdded as i32);
    assert_eq!(added.project_id, project.id);
    let bumped = next(&mut feed).await;
    assert!(
        matches!(
            bumped.event,
            Some(StreamEvent::UnreadCount(UnreadCount { unread_count: 1 }))
        ),
        "{bumped:?}"
    );

    // Ada assigns Bob a task: it reaches his open stream.
    let assigned_to_bob = |title: &str| Task {
        project_id: project.id.clone(),
        title: title.into(),
        assignee_user_ids: vec![bob_user.id.clone()],
        ..Task::default()
    };
    let task = support::create_task(&mesh.channel, &ada_token, assigned_to_bob("Fix login")).await;
    let assigned = next(&mut feed).await;
    let Some(StreamEvent::Notification(assigned)) = assigned.event else {
        panic!("{assigned:?}")
    };
    assert_eq!(assigned.kind, NotificationKind::TaskAssigned as i32);
    assert_eq!(assigned.task_id, task.id);
    assert_eq!(
        assigned.title,
        format!("You were assigned {} \"Fix login\"", task.key)
    );
    assert_eq!(assigned.actor_user_id, ada_user.id);
    let resume_after_assignment = {
        let count = next(&mut feed).await;
        assert!(matches!(count.event, Some(StreamEvent::UnreadCount(_))));
        count.resume_token
    };

    // Ada mentions Bob: a mention, not also a plain comment notice; Ada hears nothing.
    tasks
        .create_comment(bearer(
            CreateCommentRequest {
                comment: Some(Comment {
                    task_id: task.id.clone(),
                    body: format!("@[Bob](user:{}) can you look?", bob_user.id),
                    ..Comment::default()
                }),
                request_id: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap();
    // Bob completes the task: Ada, its reporter, hears; Bob does not.
    let done = mesh_done_column(&mesh, &project, &bob_token).await;
    tasks
        .move_task(bearer(
            MoveTaskRequest {
                id: task.id.clone(),
                column_id: done,
                position: None,
                etag: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap();
    let mentioned = loop {
        let message = next(&mut feed).await;
        if let Some(StreamEvent::Notification(notification)) = message.event {
            break notification;
        }
    };
    assert_eq!(mentioned.kind, NotificationKind::TaskMentioned as i32);
    assert!(mentioned.body.contains("can you look?"));

    // Ada's inbox holds the completion, and nothing of her own doing.
    let ada_inbox = inbox
        .list_notifications(bearer(ListNotificationsRequest::default(), &ada_token))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    let kinds: Vec<i32> = ada_inbox.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        vec![NotificationKind::TaskCompleted as i32],
        "{ada_inbox:?}"
    );

    // Bob's inbox: newest first, filters, counts, mark read, archive.
    let bob_inbox = inbox
        .list_notifications(bearer(ListNotificationsRequest::default(), &bob_token))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    let kinds: Vec<i32> = bob_inbox.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        vec![
            NotificationKind::TaskMentioned as i32,
            NotificationKind::TaskAssigned as i32,
            NotificationKind::MemberAdded as i32,
        ]
    );
    let mentions = inbox
        .list_notifications(bearer(
            ListNotificationsRequest {
                filter: "kind = NOTIFICATION_KIND_TASK_MENTIONED AND read = false".into(),
                ..ListNotificationsRequest::default()
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(mentions.len(), 1);
    assert_refused(
        inbox
            .list_notifications(bearer(
                ListNotificationsRequest {
                    filter: "kind = TASK_MENTIONED".into(),
                    ..ListNotificationsRequest::default()
                },
                &bob_token,
            ))
            .await,
        Code::InvalidArgument,
        "FILTER_INVALID",
    );
    // Ada cannot touch Bob's notifications: they are not hers.
    assert_refused(
        inbox
            .archive_notification(bearer(
                ArchiveNotificationRequest {
                    id: bob_inbox[0].id.clone(),
                },
                &ada_token,
            ))
            .await,
        Code::NotFound,
        "NOTIFICATION_NOT_FOUND",
    );
    let marked = inbox
        .mark_notifications_read(bearer(
            MarkNotificationsReadRequest {
                ids: vec![bob_inbox[0].id.clone()],
                all: false,
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((marked.marked_count, marked.unread_count), (1, 2));
    assert_refused(
        inbox
            .mark_notifications_read(bearer(
                MarkNotificationsReadRequest {
                    ids: vec![bob_inbox[0].id.clone()],
                    all: true,
                },
                &bob_token,
            ))
            .await,
        Code::InvalidArgument,
        "FIELD_INVALID",
    );
    let archived = inbox
        .archive_notification(bearer(
            ArchiveNotificationRequest {
                id: bob_inbox[2].id.clone(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notification
        .unwrap();
    assert!(archived.archive_time.is_some() && archived.read_time.is_some());
    let unread = inbox
        .get_unread_count(bearer(GetUnreadCountRequest::default(), &bob_token))
        .await
        .unwrap()
        .into_inner()
        .unread_count;
    assert_eq!(unread, 1);

    // A stream resumed after the assignment replays the mention, in order.
    let mut resumed = inbox
        .stream_notifications(bearer(
            StreamNotificationsRequest {
                resume_token: resume_after_assignment,
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let count = next(&mut resumed).await;
    assert!(matches!(
        count.event,
        Some(StreamEvent::UnreadCount(UnreadCount { unread_count: 1 }))
    ));
    let replayed = next(&mut resumed).await;
    let Some(StreamEvent::Notification(replayed)) = replayed.event else {
        panic!("{replayed:?}")
    };
    assert_eq!(replayed.id, mentioned.id);
    // A token is Bob's alone.
    assert_refused(
        inbox
            .stream_notifications(bearer(
                StreamNotificationsRequest {
                    resume_token: count.resume_token.clone(),
                },
                &ada_token,
            ))
            .await,
        Code::InvalidArgument,
        "RESUME_TOKEN_INVALID",
    );

    // Bob mutes comments in-app: Ada's next plain comment stays out of his inbox.
    let preferences = inbox
        .get_preferences(bearer(GetPreferencesRequest::default(), &bob_token))
        .await
        .unwrap()
        .into_inner()
        .preferences
        .unwrap();
    assert_eq!(preferences.kind_preferences.len(), 15);
    let updated = inbox
        .update_preferences(bearer(
            UpdatePreferencesRequest {
                preferences: Some(NotificationPreferences {
                    kind_preferences: vec![NotificationKindPreference {
                        kind: NotificationKind::TaskCommented as i32,
                        in_app: false,
                        email: false,
                    }],
                    etag: preferences.etag.clone(),
                    ..NotificationPreferences::default()
                }),
                update_mask: None,
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .preferences
        .unwrap();
    assert_ne!(updated.etag, preferences.etag);
    assert_refused(
        inbox
            .update_preferences(bearer(
                UpdatePreferencesRequest {
                    preferences: Some(NotificationPreferences {
                        kind_preferences: vec![NotificationKindPreference {
                            kind: NotificationKind::SecurityAlert as i32,
                            in_app: true,
                            email: false,
                        }],
                        ..NotificationPreferences::default()
                    }),
                    update_mask: None,
                },
                &bob_token,
            ))
            .await,
        Code::InvalidArgument,
        "FIELD_INVALID",
    );
    tasks
        .create_comment(bearer(
            CreateCommentRequest {
                comment: Some(Comment {
                    task_id: task.id.clone(),
                    body: "Shipped, thanks".into(),
                    ..Comment::default()
                }),
                request_id: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap();
    // The next thing Bob's stream shows is a later assignment, not the comment: events are
    // applied in order, so the muted comment was handled (and skipped) before it.
    support::create_task(&mesh.channel, &ada_token, assigned_to_bob("Second")).await;
    let after_mute = loop {
        let message = next(&mut resumed).await;
        if let Some(StreamEvent::Notification(notification)) = message.event {
            break notification;
        }
    };
    assert_eq!(after_mute.kind, NotificationKind::TaskAssigned as i32);
    assert!(after_mute.title.contains("Second"));
    let muted = inbox
        .list_notifications(bearer(
            ListNotificationsRequest {
                filter: "kind = NOTIFICATION_KIND_TASK_COMMENTED".into(),
                ..ListNotificationsRequest::default()
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert!(muted.is_empty(), "{muted:?}");

    // Ada removes Bob from the organization: his open stream ends, told why.
    mesh.tenancy()
        .remove_member(bearer(
            taskmesh::tenancy::v1::RemoveMemberRequest {
                organization_id: organization.id.clone(),
                user_id: bob_user.id.clone(),
                etag: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap();
    let ended = loop {
        match tokio::time::timeout(HUNG, resumed.message())
            .await
            .expect("the stream outlived the membership")
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::PermissionDenied);
    assert_eq!(support::reason(&ended), "MEMBERSHIP_REVOKED");

    // Someone of another organization sees an empty inbox.
    let (_, eve) = mesh.sign_up("eve@notify.test").await;
    let (_, eve) = mesh.create_organization(&eve, "elsewhere").await;
    let eve_inbox = inbox
        .list_notifications(bearer(
            ListNotificationsRequest::default(),
            &eve.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert!(eve_inbox.is_empty());
    mesh.stop().await;
}

async fn mesh_done_column(mesh: &Mesh, project: &Project, token: &str) -> String {
    column_of(mesh, project, token, StatusCategory::Done).await
}

async fn column_of(
    mesh: &Mesh,
    project: &Project,
    token: &str,
    category: StatusCategory,
) -> String {
    let board =
        taskmesh::projects::v1::board_service_client::BoardServiceClient::new(mesh.channel.clone())
            .get_board(bearer(
                GetBoardRequest {
                    id: project.default_board_id.clone(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .board
            .unwrap();
    board
        .columns
        .iter()
        .find(|column| column.status_category == category as i32)
        .unwrap()
        .id
        .clone()
}

/// A task due within the window reminds its assignee once; moving its due time into the
/// past makes it overdue, once. The scheduler runs in the mesh (every second here).
#[tokio::test]
async fn due_and_overdue_reminders_reach_the_assignee_once() {
    let mesh = Mesh::start_with(|config| {
        config
            .update_section(
                "notifications",
                |notifications: &mut notifications::NotificationsConfig| {
                    notifications.reminder_scan_secs = 1;
                },
            )
            .unwrap();
    })
    .await;
    let (_, ada) = mesh.sign_up("ada@due.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "due").await;
    let (bob_user, bob) = mesh.sign_up("bob@due.test").await;
    let bob = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "bob@due.test",
            OrganizationRole::Member,
            &bob,
        )
        .await;
    let mut tasks = TaskServiceClient::new(mesh.channel.clone());
    let project = support::create_project(&mesh.channel, &ada.access_token, "DUE").await;
    support::add_project_member(&mesh.channel, &ada.access_token, &project.id, &bob_user.id).await;
    let mut feed = NotificationServiceClient::new(mesh.channel.clone())
        .stream_notifications(bearer(
            StreamNotificationsRequest::default(),
            &bob.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let hour = 3_600_000;
    let task = support::create_task(
        &mesh.channel,
        &ada.access_token,
        Task {
            project_id: project.id.clone(),
            title: "File taxes".into(),
            assignee_user_ids: vec![bob_user.id.clone()],
            due_time: Some(mesh::time::timestamp(mesh::time::now_millis() + hour)),
            ..Task::default()
        },
    )
    .await;
    // The scheduler works in the background: wait for each reminder on Bob's stream, then
    // read his inbox for that kind.
    async fn reminders(
        feed: &mut tonic::Streaming<StreamNotificationsResponse>,
        inbox: &mut NotificationServiceClient<tonic::transport::Channel>,
        token: &str,
        kind: NotificationKind,
    ) -> Vec<Notification> {
        loop {
            if let Some(StreamEvent::Notification(notification)) = next(feed).await.event
                && notification.kind == kind as i32
            {
                break;
            }
        }
        inbox
            .list_notifications(bearer(
                ListNotificationsRequest {
                    filter: format!("kind = {}", kind.as_str_name()),
                    ..ListNotificationsRequest::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .notifications
    }
    let mut inbox = NotificationServiceClient::new(mesh.channel.clone());
    let token = bob.access_token.clone();
    let soon = reminders(&mut feed, &mut inbox, &token, NotificationKind::TaskDueSoon).await;
    assert_eq!(soon.len(), 1);
    assert_eq!(soon[0].task_id, task.id);
    assert_eq!(
        soon[0].title,
        format!("{} \"File taxes\" is due soon", task.key)
    );
    tasks
        .update_task(bearer(
            UpdateTaskRequest {
                task: Some(Task {
                    id: task.id.clone(),
                    due_time: Some(mesh::time::timestamp(mesh::time::now_millis() - hour)),
                    ..Task::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["due_time".into()],
                }),
            },
            &ada.access_token,
        ))
        .await
        .unwrap();
    let overdue = reminders(&mut feed, &mut inbox, &token, NotificationKind::TaskOverdue).await;
    assert_eq!(overdue.len(), 1);
    // Still one of each after further scans (the overdue one came from a later scan).
    let soon_again = inbox
        .list_notifications(bearer(
            ListNotificationsRequest {
                filter: "kind = NOTIFICATION_KIND_TASK_DUE_SOON".into(),
                ..ListNotificationsRequest::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(soon_again.len(), 1);
    // Ada starts the task: Bob, its assignee, hears of the status change.
    let doing = column_of(
        &mesh,
        &project,
        &ada.access_token,
        StatusCategory::InProgress,
    )
    .await;
    tasks
        .move_task(bearer(
            MoveTaskRequest {
                id: task.id.clone(),
                column_id: doing,
                position: None,
                etag: String::new(),
            },
            &ada.access_token,
        ))
        .await
        .unwrap();
    let moved = reminders(
        &mut feed,
        &mut inbox,
        &token,
        NotificationKind::TaskStatusChanged,
    )
    .await;
    assert_eq!(moved.len(), 1);
    assert_eq!(
        moved[0].title,
        format!("{} \"File taxes\" moved to in progress", task.key)
    );
    mesh.stop().await;
}
