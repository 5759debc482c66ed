//! A Kanban day through the real mesh and its edge: a project and a board with a WIP limit
//! and a restricted workflow, tasks with labels and two assignees, a subtask two levels deep,
//! moves (one refused by the WIP limit, one by the workflow), a comment with a mention, a
//! work log, undo and redo of a move and of a delete, lists with filters and pages, and a
//! board watched from a grpc-web client that sees every change arrive in order, and the events
//! of each kind of change on the bus.

mod support;

use std::time::Duration;

use support::{Mesh, assert_refused, bearer};
use taskmesh::projects::v1::board_service_client::BoardServiceClient;
use taskmesh::projects::v1::project_service_client::ProjectServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::watch_board_response::Event;
use taskmesh::projects::v1::*;
use taskmesh::tenancy::v1::OrganizationRole;
use tonic::Code;
use tonic::transport::Channel;

/// A hang guard for stream reads, not a timing claim.
const HUNG: Duration = Duration::from_secs(30);

struct Clients {
    projects: ProjectServiceClient<Channel>,
    boards: BoardServiceClient<Channel>,
    tasks: TaskServiceClient<Channel>,
}

fn clients(mesh: &Mesh) -> Clients {
    Clients {
        projects: ProjectServiceClient::new(mesh.channel.clone()),
        boards: BoardServiceClient::new(mesh.channel.clone()),
        tasks: TaskServiceClient::new(mesh.channel.clone()),
    }
}

async fn create_task(c: &mut Clients, token: &str, task: Task) -> Task {
    c.tasks
        .create_task(bearer(
            CreateTaskRequest {
                task: Some(task),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

async fn move_task(
    c: &mut Clients,
    token: &str,
    id: &str,
    column: &str,
) -> Result<Task, tonic::Status> {
    c.tasks
        .move_task(bearer(
            MoveTaskRequest {
                id: id.into(),
                column_id: column.into(),
                position: None,
                etag: String::new(),
            },
            token,
        ))
        .await
        .map(|response| response.into_inner().task.unwrap())
}

async fn keys(
    c: &mut Clients,
    token: &str,
    project: &str,
    filter: &str,
    order_by: &str,
) -> Vec<String> {
    let mut keys = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .tasks
            .list_tasks(bearer(
                ListTasksRequest {
                    project_id: project.into(),
                    page_size: 2,
                    page_token: page_token.clone(),
                    filter: filter.into(),
                    order_by: order_by.into(),
                    view: 0,
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner();
        keys.extend(page.tasks.into_iter().map(|task| task.key));
        if page.next_page_token.is_empty() {
            return keys;
        }
        page_token = page.next_page_token;
    }
}

/// What a watcher saw, as `kind key` lines.
fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::TaskCreated(task) => format!("created {}", task.key),
        Event::TaskMoved(moved) => format!("moved {}", moved.task.as_ref()?.key),
        Event::TaskDeleted(deleted) => format!("deleted {}", deleted.task_key),
        Event::ColumnChanged(_) => "column".into(),
        Event::BoardUpdated(_) => "board".into(),
        _ => return None,
    })
}

#[tokio::test]
async fn a_kanban_day_through_the_edge() {
    let mesh = Mesh::start().await;
    let mut c = clients(&mesh);
    let (ada_user, ada) = mesh.sign_up("ada@kanban.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "kanban-day").await;
    let (bob_user, bob) = mesh.sign_up("bob@kanban.test").await;
    let bob = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "bob@kanban.test",
            OrganizationRole::Member,
            &bob,
        )
        .await;
    let (ada_token, bob_token) = (ada.access_token.clone(), bob.access_token.clone());

    // A project (a retried create returns the first), its default board, a member.
    let create = |request_id: &str| CreateProjectRequest {
        project: Some(Project {
            key: "WEB".into(),
            name: "Website".into(),
            ..Project::default()
        }),
        request_id: request_id.into(),
    };
    let project = c
        .projects
        .create_project(bearer(create("p-1"), &ada_token))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let again = c
        .projects
        .create_project(bearer(create("p-1"), &ada_token))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(again.id, project.id);
    assert_refused(
        c.projects
            .create_project(bearer(create("p-2"), &ada_token))
            .await,
        Code::AlreadyExists,
        "PROJECT_KEY_TAKEN",
    );
    c.projects
        .add_project_member(bearer(
            AddProjectMemberRequest {
                project_id: project.id.clone(),
                user_id: bob_user.id.clone(),
                role: 0,
            },
            &ada_token,
        ))
        .await
        .unwrap();
    let board = c
        .boards
        .get_board(bearer(
            GetBoardRequest {
                id: project.default_board_id.clone(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(board.caller_role, ProjectRole::Member as i32);
    let board = board.board.unwrap();
    let names: Vec<_> = board
        .columns
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    assert_eq!(names, ["To Do", "In Progress", "Done"]);
    let (todo, doing, done) = (
        board.columns[0].id.clone(),
        board.columns[1].id.clone(),
        board.columns[2].id.clone(),
    );

    // A review column with a WIP limit of 1, moved before Done; a restricted workflow.
    let review = c
        .boards
        .create_column(bearer(
            CreateColumnRequest {
                column: Some(Column {
                    board_id: board.id.clone(),
                    name: "Review".into(),
                    wip_limit: 1,
                    status_category: StatusCategory::InProgress as i32,
                    ..Column::default()
                }),
                request_id: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .column
        .unwrap();
    c.boards
        .move_column(bearer(
            MoveColumnRequest {
                id: review.id.clone(),
                position: 2,
                etag: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap();
    let transition = |from: &str, to: &str| WorkflowTransition {
        from_column_id: from.into(),
        to_column_id: to.into(),
        allowed_roles: vec![],
    };
    let workflow = BoardWorkflow {
        restricted: true,
        transitions: vec![
            transition(&todo, &doing),
            transition(&doing, &review.id),
            transition(&review.id, &doing),
            transition(&review.id, &done),
        ],
    };
    let updated = c
        .boards
        .update_board(bearer(
            UpdateBoardRequest {
                board: Some(Board {
                    id: board.id.clone(),
                    workflow: Some(workflow),
                    ..Board::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["workflow".into()],
                }),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .board
        .unwrap();
    assert!(updated.workflow.unwrap().restricted);
    // Members may not change the board.
    assert_refused(
        c.boards
            .update_board(bearer(
                UpdateBoardRequest {
                    board: Some(Board {
                        id: board.id.clone(),
                        name: "Mine".into(),
                        ..Board::default()
                    }),
                    update_mask: None,
                },
                &bob_token,
            ))
            .await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );

    // Bob watches the board from a browser-like grpc-web client.
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(http);
    let mut watcher =
        BoardServiceClient::with_origin(web, format!("http://{}", mesh.address).parse().unwrap());
    let mut stream = watcher
        .watch_board(bearer(
            WatchBoardRequest {
                board_id: board.id.clone(),
                resume_token: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(HUNG, stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Some(Event::Snapshot(snapshot)) = first.event else {
        panic!("{first:?}")
    };
    assert!(snapshot.complete && snapshot.tasks.is_empty() && !first.resume_token.is_empty());
    assert_eq!(snapshot.board.unwrap().columns.len(), 4);

    // Labels and tasks: two assignees, a subtask two levels deep.
    let label = |name: &str, color: &str| {
        let request = CreateLabelRequest {
            label: Some(Label {
                project_id: project.id.clone(),
                name: name.into(),
                color: color.into(),
                ..Label::default()
            }),
            request_id: String::new(),
        };
        let mut projects = c.projects.clone();
        let token = ada_token.clone();
        async move {
            projects
                .create_label(bearer(request, &token))
                .await
                .unwrap()
                .into_inner()
                .label
                .unwrap()
        }
    };
    let bug = label("bug", "#D73A4A").await;
    let frontend = label("frontend", "#0075ca").await;
    assert_eq!(bug.color, "#d73a4a");
    let web1 = create_task(
        &mut c,
        &ada_token,
        Task {
            project_id: project.id.clone(),
            title: "Fix login".into(),
            description: "The login page loops.".into(),
            label_ids: vec![bug.id.clone(), frontend.id.clone()],
            assignee_user_ids: vec![ada_user.id.clone(), bob_user.id.clone()],
            priority: TaskPriority::High as i32,
            ..Task::default()
        },
    )
    .await;
    assert_eq!(
        (web1.key.as_str(), web1.column_id.as_str()),
        ("WEB-1", todo.as_str())
    );
    assert_eq!(
        web1.assignee_user_ids,
        vec![ada_user.id.clone(), bob_user.id.clone()]
    );
    let web2 = create_task(
        &mut c,
        &bob_token,
        Task {
            project_id: project.id.clone(),
            title: "Polish footer".into(),
            ..Task::default()
        },
    )
    .await;
    let web3 = create_task(
        &mut c,
        &ada_token,
        Task {
            project_id: project.id.clone(),
            title: "Reproduce".into(),
            parent_task_id: web1.id.clone(),
            ..Task::default()
        },
    )
    .await;
    let web4 = create_task(
        &mut c,
        &ada_token,
        Task {
            project_id: project.id.clone(),
            title: "Capture HAR".into(),
            parent_task_id: web3.id.clone(),
            ..Task::default()
        },
    )
    .await;
    assert_eq!(web4.key, "WEB-4");
    // A parent cycle and a foreign assignee are refused.
    let (_, carol) = mesh.sign_up("carol@elsewhere.test").await;
    let (_, carol) = mesh.create_organization(&carol, "elsewhere").await;
    assert_refused(
        c.tasks
            .update_task(bearer(
                UpdateTaskRequest {
                    task: Some(Task {
                        id: web1.id.clone(),
                        parent_task_id: web4.id.clone(),
                        ..Task::default()
                    }),
                    update_mask: None,
                },
                &ada_token,
            ))
            .await,
        Code::FailedPrecondition,
        "TASK_PARENT_CYCLE",
    );

    // Moves: through the workflow; a WIP refusal; a transition refusal.
    move_task(&mut c, &ada_token, &web1.id, &doing)
        .await
        .unwrap();
    let in_review = move_task(&mut c, &ada_token, &web1.id, &review.id)
        .await
        .unwrap();
    assert_eq!(in_review.status_category, StatusCategory::InProgress as i32);
    move_task(&mut c, &bob_token, &web2.id, &doing)
        .await
        .unwrap();
    assert_refused(
        move_task(&mut c, &bob_token, &web2.id, &review.id).await,
        Code::FailedPrecondition,
        "WIP_LIMIT_EXCEEDED",
    );
    assert_refused(
        move_task(&mut c, &bob_token, &web2.id, &done).await,
        Code::FailedPrecondition,
        "TRANSITION_NOT_ALLOWED",
    );

    // A comment with a mention; a mention of someone who cannot see the project.
    let mention = format!("@[Ada](user:{}) can you look?", ada_user.id);
    let comment = c
        .tasks
        .create_comment(bearer(
            CreateCommentRequest {
                comment: Some(Comment {
                    task_id: web1.id.clone(),
                    body: mention,
                    ..Comment::default()
                }),
                request_id: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap();
    assert_eq!(comment.mentioned_user_ids, vec![ada_user.id.clone()]);
    let stranger = format!("@[Carol](user:{})", uuid::Uuid::now_v7());
    assert_refused(
        c.tasks
            .create_comment(bearer(
                CreateCommentRequest {
                    comment: Some(Comment {
                        task_id: web1.id.clone(),
                        body: stranger,
                        ..Comment::default()
                    }),
                    request_id: String::new(),
                },
                &bob_token,
            ))
            .await,
        Code::FailedPrecondition,
        "MENTIONED_USER_CANNOT_SEE_PROJECT",
    );
    // A work log.
    c.tasks
        .create_work_log(bearer(
            CreateWorkLogRequest {
                work_log: Some(WorkLog {
                    task_id: web1.id.clone(),
                    duration: Some(prost_types::Duration {
                        seconds: 1_800,
                        nanos: 0,
                    }),
                    ..WorkLog::default()
                }),
                request_id: String::new(),
            },
            &bob_token,
        ))
        .await
        .unwrap();

    // Undo and redo of a move (Ada's last action: WEB-1 into Review).
    let state = c
        .tasks
        .get_undo_state(bearer(
            GetUndoStateRequest {
                project_id: project.id.clone(),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let next = state.next_undo.unwrap();
    assert!(
        next.summary.contains("back from Review to In Progress"),
        "{}",
        next.summary
    );
    assert!(next.refusal.is_none());
    let undone = c
        .tasks
        .undo_last_action(bearer(
            UndoLastActionRequest {
                project_id: project.id.clone(),
                request_id: "u-1".into(),
                expected_activity_id: next.activity.unwrap().id,
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(undone.task.unwrap().column_id, doing);
    assert!(undone.can_redo);
    // The review slot is free again, so Bob can use it; Ada's redo is then refused by the WIP limit.
    move_task(&mut c, &bob_token, &web2.id, &review.id)
        .await
        .unwrap();
    assert_refused(
        c.tasks
            .redo_last_action(bearer(
                RedoLastActionRequest {
                    project_id: project.id.clone(),
                    ..RedoLastActionRequest::default()
                },
                &ada_token,
            ))
            .await,
        Code::FailedPrecondition,
        "WIP_LIMIT_EXCEEDED",
    );
    move_task(&mut c, &bob_token, &web2.id, &doing)
        .await
        .unwrap();
    let redone = c
        .tasks
        .redo_last_action(bearer(
            RedoLastActionRequest {
                project_id: project.id.clone(),
                ..RedoLastActionRequest::default()
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redone.task.unwrap().column_id, review.id);

    // Delete WEB-1 with its subtree, then undo brings it back with its comment and work log.
    let deleted = c
        .tasks
        .delete_task(bearer(
            DeleteTaskRequest {
                id: web1.id.clone(),
                etag: String::new(),
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted_task_count, 3);
    assert_refused(
        c.tasks
            .get_task(bearer(
                GetTaskRequest {
                    task_ref: Some(get_task_request::TaskRef::Key("web-4".into())),
                    view: 0,
                },
                &ada_token,
            ))
            .await,
        Code::NotFound,
        "TASK_NOT_FOUND",
    );
    let restored = c
        .tasks
        .undo_last_action(bearer(
            UndoLastActionRequest {
                project_id: project.id.clone(),
                ..UndoLastActionRequest::default()
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let restored = restored.task.unwrap();
    assert_eq!(
        (
            restored.key.as_str(),
            restored.comment_count,
            restored.time_spent.unwrap().seconds
        ),
        ("WEB-1", 1, 1_800)
    );
    assert_eq!(restored.column_id, review.id);
    let web4_again = c
        .tasks
        .get_task(bearer(
            GetTaskRequest {
                task_ref: Some(get_task_request::TaskRef::Key("web-4".into())),
                view: 0,
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(web4_again.parent_task_id, web3.id);

    // Lists with filters and pages.
    assert_eq!(
        keys(&mut c, &bob_token, &project.id, r#"label = "bug""#, "").await,
        ["WEB-1"]
    );
    assert_eq!(
        keys(
            &mut c,
            &bob_token,
            &project.id,
            r#"assignee_user_id = "me""#,
            ""
        )
        .await,
        ["WEB-1"]
    );
    assert_eq!(
        keys(
            &mut c,
            &bob_token,
            &project.id,
            r#"parent_task_id = """#,
            "create_time"
        )
        .await,
        ["WEB-1", "WEB-2"]
    );
    assert_eq!(
        keys(&mut c, &bob_token, &project.id, "", "create_time").await,
        ["WEB-1", "WEB-2", "WEB-3", "WEB-4"]
    );
    assert_eq!(
        keys(
            &mut c,
            &bob_token,
            "",
            r#"(status_category = "IN_PROGRESS" OR status_category = "DONE")"#,
            "priority desc"
        )
        .await,
        ["WEB-1", "WEB-2"]
    );
    assert_refused(
        c.tasks
            .list_tasks(bearer(
                ListTasksRequest {
                    project_id: project.id.clone(),
                    filter: "title = 1".into(),
                    ..ListTasksRequest::default()
                },
                &bob_token,
            ))
            .await,
        Code::InvalidArgument,
        "FILTER_INVALID",
    );
    let history = c
        .tasks
        .list_task_activity(bearer(
            ListTaskActivityRequest {
                task_id: web1.id.clone(),
                ..ListTaskActivityRequest::default()
            },
            &ada_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<i32> = history.activities.iter().map(|entry| entry.kind).collect();
    use TaskActivityKind as K;
    assert_eq!(
        kinds,
        [
            K::Created,
            K::Moved,
            K::Moved,
            K::Commented,
            K::WorkLogged,
            K::Moved,
            K::Moved,
            K::Deleted,
            K::Restored
        ]
        .map(|kind| kind as i32)
    );

    // Another organization sees none of it.
    assert_refused(
        c.tasks
            .get_task(bearer(
                GetTaskRequest {
                    task_ref: Some(get_task_request::TaskRef::Id(web1.id.clone())),
                    view: 0,
                },
                &carol.access_token,
            ))
            .await,
        Code::NotFound,
        "TASK_NOT_FOUND",
    );
    assert_refused(
        c.projects
            .get_project(bearer(
                GetProjectRequest {
                    id: project.id.clone(),
                },
                &carol.access_token,
            ))
            .await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
    assert!(
        keys(&mut c, &carol.access_token, "", "", "")
            .await
            .is_empty()
    );

    // WEB-1 is done: it enters the Done column and completes.
    let finished = move_task(&mut c, &ada_token, &web1.id, &done)
        .await
        .unwrap();
    assert!(finished.complete_time.is_some());

    // The watcher saw every change, in order.
    let expected = [
        "created WEB-1",
        "created WEB-2",
        "created WEB-3",
        "created WEB-4",
        "moved WEB-1",
        "moved WEB-1",
        "moved WEB-2",
        "moved WEB-1",
        "moved WEB-2",
        "moved WEB-2",
        "moved WEB-1",
        "deleted WEB-1",
        "deleted WEB-3",
        "deleted WEB-4",
        "created WEB-1",
        "created WEB-3",
        "created WEB-4",
        "moved WEB-1",
    ];
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        let message = tokio::time::timeout(HUNG, stream.message())
            .await
            .expect("watch stream hung")
            .unwrap()
            .unwrap();
        assert!(!message.resume_token.is_empty());
        if let Some(line) = message.event.as_ref().and_then(describe)
            && line != "column"
            && line != "board"
        {
            seen.push(line);
        }
    }
    assert_eq!(seen, expected);

    // Every kind of change above reached the bus through the outbox (a fresh consumer starts
    // at the oldest retained message, so this waits for the relay without polling).
    use events::Bus;
    let consumer = events::ConsumerConfig {
        name: "kanban-day".into(),
        filter_subjects: vec!["taskmesh.projects.>".into()],
        ack_wait: HUNG,
        ..Default::default()
    };
    let mut subscription = mesh.bus.subscribe(&consumer).await.unwrap();
    let mut missing: std::collections::BTreeSet<&str> = [
        "project.created",
        "project_member.added",
        "task.created",
        "task.moved",
        "task.completed",
        "task.deleted",
        "task.work_logged",
        "comment.created",
        "board.changed",
    ]
    .into_iter()
    .collect();
    let mut comment = None;
    let mut restored = 0;
    while !missing.is_empty() || restored < 3 {
        let delivery = tokio::time::timeout(HUNG, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("no events for {missing:?}"))
            .unwrap();
        let event = events::envelope::decode(&delivery.message).unwrap();
        delivery.ack().await.unwrap();
        let kind = event.r#type.trim_start_matches("taskmesh.projects.");
        missing.remove(kind);
        use prost::Message;
        use taskmesh::events::v1 as wire_events;
        match kind {
            "comment.created" => {
                comment =
                    Some(wire_events::CommentCreated::decode(event.payload.as_slice()).unwrap())
            }
            "task.completed" => {
                let completed =
                    wire_events::TaskCompleted::decode(event.payload.as_slice()).unwrap();
                assert_eq!(completed.key, "WEB-1");
                assert_eq!(completed.assignee_user_ids.len(), 2);
            }
            "task.created" => {
                let created = wire_events::TaskCreated::decode(event.payload.as_slice()).unwrap();
                restored += usize::from(created.restored);
            }
            _ => {}
        }
        assert_eq!(event.tenant_id, organization.id);
    }
    let comment = comment.unwrap();
    assert_eq!(
        (
            comment.task_key.as_str(),
            comment.mentioned_user_ids.as_slice()
        ),
        ("WEB-1", [ada_user.id.clone()].as_slice())
    );
    let mut watchers = comment.watcher_user_ids.clone();
    watchers.sort();
    let mut both = vec![ada_user.id.clone(), bob_user.id.clone()];
    both.sort();
    assert_eq!(watchers, both);
    mesh.stop().await;
}
