//! Analytics end to end through the edge: real projects calls (create, move through the
//! board, complete, reopen, comment) become task metrics, the dashboard and per-project
//! scopes; members see only their projects, guests nothing, another organization nothing.
//! The test waits for analytics' consumers to settle on the bus, never on a clock.

mod support;

use support::*;
use taskmesh::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use taskmesh::analytics::v1::*;
use taskmesh::projects::v1::board_service_client::BoardServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::*;
use taskmesh::tenancy::v1::OrganizationRole;
use tonic::Code;

async fn settled(mesh: &Mesh) {
    for consumer in ["analytics-projects", "analytics-tenancy"] {
        tokio::time::timeout(
            std::time::Duration::from_secs(15),
            mesh.bus.settled(consumer),
        )
        .await
        .unwrap_or_else(|_| panic!("{consumer} did not catch up"));
    }
}

fn today(now: i64) -> GetTaskMetricsRequest {
    let day = 86_400_000;
    GetTaskMetricsRequest {
        start_time: Some(mesh::time::timestamp(now - now.rem_euclid(day))),
        end_time: Some(mesh::time::timestamp(now - now.rem_euclid(day) + day)),
        ..GetTaskMetricsRequest::default()
    }
}

#[tokio::test]
async fn real_activity_becomes_metrics_for_those_allowed_to_see_them() {
    let mesh = Mesh::start().await;
    let (_, ada) = mesh.sign_up("ada@metrics.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "metricians").await;
    let token = ada.access_token.as_str();
    let web = support::create_project(&mesh.channel, token, "WEB").await;
    let ops = support::create_project(&mesh.channel, token, "OPS").await;
    let board = BoardServiceClient::new(mesh.channel.clone())
        .get_board(bearer(
            GetBoardRequest {
                id: web.default_board_id.clone(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .board
        .unwrap();
    let (todo, doing, done) = (
        &board.columns[0].id,
        &board.columns[1].id,
        &board.columns[2].id,
    );
    let mut tasks = TaskServiceClient::new(mesh.channel.clone());
    let create = |project: &Project, title: &str| {
        let task = Task {
            project_id: project.id.clone(),
            title: title.into(),
            ..Task::default()
        };
        support::create_task(&mesh.channel, token, task)
    };
    let first = create(&web, "First").await;
    let second = create(&web, "Second").await;
    create(&ops, "Elsewhere").await;
    for (task, column) in [
        (&first.id, doing),
        (&first.id, done),
        (&first.id, todo),
        (&first.id, done),
        (&second.id, doing),
    ] {
        tasks
            .move_task(bearer(
                MoveTaskRequest {
                    id: task.clone(),
                    column_id: column.clone(),
                    position: None,
                    etag: String::new(),
                },
                token,
            ))
            .await
            .unwrap();
    }
    // Bob is a member of the organization and of WEB only; Cy is a guest.
    let (bob_user, bob) = mesh.sign_up("bob@metrics.test").await;
    let bob = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "bob@metrics.test",
            OrganizationRole::Member,
            &bob,
        )
        .await;
    support::add_project_member(&mesh.channel, token, &web.id, &bob_user.id).await;
    let (cy_user, cy) = mesh.sign_up("cy@metrics.test").await;
    let cy = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "cy@metrics.test",
            OrganizationRole::Guest,
            &cy,
        )
        .await;
    // The last change's event must be on the bus before "caught up" means anything.
    support::wait_for_event_where(&mesh, "taskmesh.tenancy.member.added", |event| {
        use prost::Message;
        taskmesh::events::v1::MemberAdded::decode(event.payload.as_slice())
            .is_ok_and(|added| added.user_id == cy_user.id)
    })
    .await;
    settled(&mesh).await;

    let mut analytics = AnalyticsServiceClient::new(mesh.channel.clone());
    let now = mesh::time::now_millis();
    let all = analytics
        .get_task_metrics(bearer(today(now), token))
        .await
        .unwrap()
        .into_inner();
    let total = all.total.unwrap();
    assert_eq!(
        (
            total.created_count,
            total.completed_count,
            total.reopened_count,
            total.in_progress_count,
            total.todo_count
        ),
        (3, 2, 1, 1, 1),
        "{total:?}"
    );
    assert_eq!(all.points.len(), 1);
    assert!(total.median_lead_time.is_some() && total.median_cycle_time.is_some());
    assert!(all.as_of_time.is_some());

    // Bob sees WEB only (two tasks); OPS is not found for him.
    let mine = analytics
        .get_task_metrics(bearer(today(now), &bob.access_token))
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!(mine.created_count, 2);
    let mut ops_only = today(now);
    ops_only.project_id = ops.id.clone();
    assert_refused(
        analytics
            .get_task_metrics(bearer(ops_only.clone(), &bob.access_token))
            .await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
    let ops_metrics = analytics
        .get_task_metrics(bearer(ops_only, token))
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!((ops_metrics.created_count, ops_metrics.todo_count), (1, 1));

    // The dashboard: two projects, open tasks (todo or in progress), members of any role.
    let dashboard = analytics
        .get_organization_dashboard(bearer(
            GetOrganizationDashboardRequest {},
            &bob.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .dashboard
        .unwrap();
    assert_eq!(
        (
            dashboard.project_count,
            dashboard.open_task_count,
            dashboard.member_count,
            dashboard.completed_task_count_last_7_days
        ),
        (2, 2, 3, 2),
        "{dashboard:?}"
    );

    // Guests see nothing; bad ranges and zones say why.
    assert_refused(
        analytics
            .get_organization_dashboard(bearer(
                GetOrganizationDashboardRequest {},
                &cy.access_token,
            ))
            .await,
        Code::PermissionDenied,
        "ROLE_INSUFFICIENT",
    );
    let mut reversed = today(now);
    std::mem::swap(&mut reversed.start_time, &mut reversed.end_time);
    assert_refused(
        analytics.get_task_metrics(bearer(reversed, token)).await,
        Code::InvalidArgument,
        "TIME_RANGE_INVALID",
    );
    let mut mars = today(now);
    mars.time_zone = "Mars/Olympus_Mons".into();
    assert_refused(
        analytics.get_task_metrics(bearer(mars, token)).await,
        Code::InvalidArgument,
        "TIME_ZONE_INVALID",
    );
    let unknown_link = GetLinkMetricsRequest {
        link_id: "00000000-0000-7000-8000-000000000000".into(),
        start_time: today(now).start_time,
        end_time: today(now).end_time,
        top_links_limit: 0,
    };
    assert_refused(
        analytics
            .get_link_metrics(bearer(unknown_link, token))
            .await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );

    // Another organization: none of it.
    let (_, eve) = mesh.sign_up("eve@metrics.test").await;
    let (_, eve) = mesh.create_organization(&eve, "elsewhere").await;
    let theirs = analytics
        .get_task_metrics(bearer(today(now), &eve.access_token))
        .await
        .unwrap()
        .into_inner()
        .total
        .unwrap();
    assert_eq!((theirs.created_count, theirs.completed_count), (0, 0));
    mesh.stop().await;
}
