//! The projects role × RPC matrix (API_DESIGN.md, "Authorization matrix"), checked cell by
//! cell on the real mesh for seven callers: organization owner and admin (implicit project
//! owners; the admin is listed as a mere viewer, which must not lower them), organization
//! members who are project owner, member or viewer, an organization guest who is a project
//! viewer, and an organization member outside the project. Each cell runs against a fresh
//! project. `A` must pass authorization, `D` must be PERMISSION_DENIED, `H` must be the
//! NOT_FOUND of a random id.

mod support;

use support::*;
use taskmesh::identity::v1::AuthTokens;
use taskmesh::projects::v1::board_service_client::BoardServiceClient;
use taskmesh::projects::v1::project_service_client::ProjectServiceClient;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::*;
use taskmesh::tenancy::v1::OrganizationRole as Role;
use tonic::Code;
use tonic::transport::Channel;

const CALLERS: [&str; 7] = [
    "org-owner",
    "org-admin",
    "p-owner",
    "p-member",
    "p-viewer",
    "guest",
    "outsider",
];

/// (rpc, expectation for each caller).
const MATRIX: &[(&str, &str)] = &[
    ("CreateProject", "AAAAADA"),
    ("GetProject", "AAAAAAH"),
    ("ListProjects", "AAAAAAA"),
    ("UpdateProject", "AAADDDH"),
    ("ArchiveProject", "AAADDDH"),
    ("UnarchiveProject", "AAADDDH"),
    ("DeleteProject", "AAADDDH"),
    ("AddProjectMember", "AAADDDH"),
    ("ListProjectMembers", "AAAAAAH"),
    ("UpdateProjectMember", "AAADDDH"),
    ("RemoveProjectMember.other", "AAADDDH"),
    ("RemoveProjectMember.self", "AAAAAAH"),
    ("CreateLabel", "AAADDDH"),
    ("ListLabels", "AAAAAAH"),
    ("UpdateLabel", "AAADDDH"),
    ("DeleteLabel", "AAADDDH"),
    ("CreateBoard", "AAADDDH"),
    ("GetBoard", "AAAAAAH"),
    ("ListBoards", "AAAAAAH"),
    ("UpdateBoard", "AAADDDH"),
    ("DeleteBoard", "AAADDDH"),
    ("CreateColumn", "AAADDDH"),
    ("UpdateColumn", "AAADDDH"),
    ("MoveColumn", "AAADDDH"),
    ("DeleteColumn", "AAADDDH"),
    ("WatchBoard", "AAAAAAH"),
    ("CreateTask", "AAAADDH"),
    ("GetTask", "AAAAAAH"),
    ("ListTasks", "AAAAAAH"),
    ("UpdateTask", "AAAADDH"),
    ("MoveTask", "AAAADDH"),
    ("DeleteTask", "AAAADDH"),
    ("CreateComment", "AAAADDH"),
    ("ListComments", "AAAAAAH"),
    ("UpdateComment.others", "DDDADDH"),
    ("DeleteComment.others", "AAAADDH"),
    ("CreateWorkLog", "AAAADDH"),
    ("ListWorkLogs", "AAAAAAH"),
    ("DeleteWorkLog.others", "AAAADDH"),
    ("ListTaskActivity", "AAAAAAH"),
    ("ListProjectActivity", "AAAAAAH"),
    ("GetUndoState", "AAAADDH"),
    ("UndoLastAction", "AAAADDH"),
    ("RedoLastAction", "AAAADDH"),
    // Answers service credentials only (links' share views), never a user.
    ("GetTaskShareView", "DDDDDDD"),
];

/// Rows whose every cell needs its own project: a removal, deletion or unique name in one cell
/// would change the answer of the next.
const FRESH: [&str; 12] = [
    "DeleteProject",
    "AddProjectMember",
    "RemoveProjectMember.other",
    "RemoveProjectMember.self",
    "CreateLabel",
    "DeleteLabel",
    "CreateColumn",
    "DeleteColumn",
    "DeleteTask",
    "DeleteComment.others",
    "DeleteWorkLog.others",
    "DeleteBoard",
];

struct People {
    tokens: Vec<AuthTokens>,
    ids: Vec<String>,
}

struct Fixture {
    project: Project,
    board: Board,
    label: Label,
    task: Task,
    comment: Comment,
    work_log: WorkLog,
}

#[derive(Clone)]
struct Clients {
    projects: ProjectServiceClient<Channel>,
    boards: BoardServiceClient<Channel>,
    tasks: TaskServiceClient<Channel>,
}

fn key() -> String {
    let digits = uuid::Uuid::now_v7().simple().to_string().to_uppercase();
    format!("M{}", &digits[24..31])
}

/// A fresh project: the admin, p-owner, p-member, p-viewer and guest listed as members.
async fn fixture(c: &mut Clients, people: &People) -> Fixture {
    let owner = &people.tokens[0].access_token;
    let project = c
        .projects
        .create_project(bearer(
            CreateProjectRequest {
                project: Some(Project {
                    key: key(),
                    name: "Matrix".into(),
                    ..Project::default()
                }),
                request_id: String::new(),
            },
            owner,
        ))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    for (index, role) in [
        (1, ProjectRole::Viewer),
        (2, ProjectRole::Owner),
        (3, ProjectRole::Member),
        (4, ProjectRole::Viewer),
        (5, ProjectRole::Viewer),
    ] {
        c.projects
            .add_project_member(bearer(
                AddProjectMemberRequest {
                    project_id: project.id.clone(),
                    user_id: people.ids[index].clone(),
                    role: role as i32,
                },
                owner,
            ))
            .await
            .unwrap();
    }
    let board = c
        .boards
        .get_board(bearer(
            GetBoardRequest {
                id: project.default_board_id.clone(),
            },
            owner,
        ))
        .await
        .unwrap()
        .into_inner()
        .board
        .unwrap();
    let label = c
        .projects
        .create_label(bearer(
            CreateLabelRequest {
                label: Some(Label {
                    project_id: project.id.clone(),
                    name: "bug".into(),
                    color: "#ff0000".into(),
                    ..Label::default()
                }),
                request_id: String::new(),
            },
            owner,
        ))
        .await
        .unwrap()
        .into_inner()
        .label
        .unwrap();
    let member = &people.tokens[3].access_token;
    let task = c
        .tasks
        .create_task(bearer(
            CreateTaskRequest {
                task: Some(Task {
                    project_id: project.id.clone(),
                    title: "Matrix task".into(),
                    ..Task::default()
                }),
                request_id: String::new(),
            },
            member,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let comment = c
        .tasks
        .create_comment(bearer(
            CreateCommentRequest {
                comment: Some(Comment {
                    task_id: task.id.clone(),
                    body: "hi".into(),
                    ..Comment::default()
                }),
                request_id: String::new(),
            },
            member,
        ))
        .await
        .unwrap()
        .into_inner()
        .comment
        .unwrap();
    let work_log = c
        .tasks
        .create_work_log(bearer(
            CreateWorkLogRequest {
                work_log: Some(WorkLog {
                    task_id: task.id.clone(),
                    duration: Some(prost_types::Duration {
                        seconds: 600,
                        nanos: 0,
                    }),
                    ..WorkLog::default()
                }),
                request_id: String::new(),
            },
            member,
        ))
        .await
        .unwrap()
        .into_inner()
        .work_log
        .unwrap();
    Fixture {
        project,
        board,
        label,
        task,
        comment,
        work_log,
    }
}

fn mask(path: &str) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec![path.into()],
    })
}

async fn call(
    c: &mut Clients,
    people: &People,
    f: &Fixture,
    rpc: &str,
    caller: usize,
) -> Result<(), tonic::Status> {
    let token = people.tokens[caller].access_token.clone();
    macro_rules! t {
        ($message:expr) => {
            bearer($message, &token)
        };
    }
    let p = f.project.id.clone();
    let columns = &f.board.columns;
    match rpc {
        "CreateProject" => c
            .projects
            .create_project(t!(CreateProjectRequest {
                project: Some(Project {
                    key: key(),
                    name: "Mine".into(),
                    ..Project::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "GetProject" => c
            .projects
            .get_project(t!(GetProjectRequest { id: p }))
            .await
            .map(drop),
        "ListProjects" => c
            .projects
            .list_projects(t!(ListProjectsRequest::default()))
            .await
            .map(drop),
        "UpdateProject" => c
            .projects
            .update_project(t!(UpdateProjectRequest {
                project: Some(Project {
                    id: p,
                    name: "Renamed".into(),
                    ..Project::default()
                }),
                update_mask: mask("name"),
            }))
            .await
            .map(drop),
        "ArchiveProject" => c
            .projects
            .archive_project(t!(ArchiveProjectRequest {
                id: p,
                etag: String::new(),
            }))
            .await
            .map(drop),
        "UnarchiveProject" => c
            .projects
            .unarchive_project(t!(UnarchiveProjectRequest {
                id: p,
                etag: String::new(),
            }))
            .await
            .map(drop),
        "DeleteProject" => c
            .projects
            .delete_project(t!(DeleteProjectRequest {
                id: p,
                etag: String::new(),
            }))
            .await
            .map(drop),
        "AddProjectMember" => c
            .projects
            .add_project_member(t!(AddProjectMemberRequest {
                project_id: p,
                user_id: people.ids[6].clone(),
                role: 0,
            }))
            .await
            .map(drop),
        "ListProjectMembers" => c
            .projects
            .list_project_members(t!(ListProjectMembersRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateProjectMember" => c
            .projects
            .update_project_member(t!(UpdateProjectMemberRequest {
                member: Some(ProjectMember {
                    project_id: p,
                    user_id: people.ids[4].clone(),
                    role: ProjectRole::Member as i32,
                    ..Default::default()
                }),
                update_mask: mask("role"),
            }))
            .await
            .map(drop),
        "RemoveProjectMember.other" => c
            .projects
            .remove_project_member(t!(RemoveProjectMemberRequest {
                project_id: p,
                user_id: people.ids[if caller == 3 { 4 } else { 3 }].clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "RemoveProjectMember.self" => c
            .projects
            .remove_project_member(t!(RemoveProjectMemberRequest {
                project_id: p,
                user_id: people.ids[caller].clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "CreateLabel" => c
            .projects
            .create_label(t!(CreateLabelRequest {
                label: Some(Label {
                    project_id: p,
                    name: "new".into(),
                    color: "#00ff00".into(),
                    ..Label::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "ListLabels" => c
            .projects
            .list_labels(t!(ListLabelsRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateLabel" => c
            .projects
            .update_label(t!(UpdateLabelRequest {
                label: Some(Label {
                    id: f.label.id.clone(),
                    color: "#0000ff".into(),
                    ..Label::default()
                }),
                update_mask: mask("color"),
            }))
            .await
            .map(drop),
        "DeleteLabel" => c
            .projects
            .delete_label(t!(DeleteLabelRequest {
                id: f.label.id.clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "CreateBoard" => c
            .boards
            .create_board(t!(CreateBoardRequest {
                board: Some(Board {
                    project_id: p,
                    name: "Second".into(),
                    ..Board::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "GetBoard" => c
            .boards
            .get_board(t!(GetBoardRequest {
                id: f.board.id.clone(),
            }))
            .await
            .map(drop),
        "ListBoards" => c
            .boards
            .list_boards(t!(ListBoardsRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateBoard" => c
            .boards
            .update_board(t!(UpdateBoardRequest {
                board: Some(Board {
                    id: f.board.id.clone(),
                    name: "Renamed".into(),
                    ..Board::default()
                }),
                update_mask: mask("name"),
            }))
            .await
            .map(drop),
        "DeleteBoard" => {
            let owner = &people.tokens[0].access_token;
            let extra = c
                .boards
                .create_board(bearer(
                    CreateBoardRequest {
                        board: Some(Board {
                            project_id: p,
                            name: "Doomed".into(),
                            ..Board::default()
                        }),
                        request_id: String::new(),
                    },
                    owner,
                ))
                .await
                .unwrap()
                .into_inner()
                .board
                .unwrap();
            c.boards
                .delete_board(t!(DeleteBoardRequest {
                    id: extra.id,
                    etag: String::new(),
                }))
                .await
                .map(drop)
        }
        "CreateColumn" => c
            .boards
            .create_column(t!(CreateColumnRequest {
                column: Some(Column {
                    board_id: f.board.id.clone(),
                    name: "Review".into(),
                    status_category: StatusCategory::InProgress as i32,
                    ..Column::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "UpdateColumn" => c
            .boards
            .update_column(t!(UpdateColumnRequest {
                column: Some(Column {
                    id: columns[1].id.clone(),
                    wip_limit: 3,
                    ..Column::default()
                }),
                update_mask: mask("wip_limit"),
            }))
            .await
            .map(drop),
        "MoveColumn" => c
            .boards
            .move_column(t!(MoveColumnRequest {
                id: columns[2].id.clone(),
                position: 0,
                etag: String::new(),
            }))
            .await
            .map(drop),
        "DeleteColumn" => c
            .boards
            .delete_column(t!(DeleteColumnRequest {
                id: columns[1].id.clone(),
                etag: String::new(),
                move_tasks_to_column_id: String::new(),
            }))
            .await
            .map(drop),
        "WatchBoard" => {
            let mut stream = c
                .boards
                .watch_board(t!(WatchBoardRequest {
                    board_id: f.board.id.clone(),
                    resume_token: String::new(),
                }))
                .await?
                .into_inner();
            stream.message().await.map(drop)
        }
        "CreateTask" => c
            .tasks
            .create_task(t!(CreateTaskRequest {
                task: Some(Task {
                    project_id: p,
                    title: "Mine".into(),
                    ..Task::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "GetTaskShareView" => c
            .tasks
            .get_task_share_view(t!(GetTaskShareViewRequest {
                task_id: f.task.id.clone(),
                include_comments: true,
            }))
            .await
            .map(drop),
        "GetTask" => c
            .tasks
            .get_task(t!(GetTaskRequest {
                task_ref: Some(get_task_request::TaskRef::Id(f.task.id.clone())),
                view: 0,
            }))
            .await
            .map(drop),
        "ListTasks" => c
            .tasks
            .list_tasks(t!(ListTasksRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateTask" => c
            .tasks
            .update_task(t!(UpdateTaskRequest {
                task: Some(Task {
                    id: f.task.id.clone(),
                    title: "Edited".into(),
                    ..Task::default()
                }),
                update_mask: mask("title"),
            }))
            .await
            .map(drop),
        "MoveTask" => c
            .tasks
            .move_task(t!(MoveTaskRequest {
                id: f.task.id.clone(),
                column_id: columns[1].id.clone(),
                position: None,
                etag: String::new(),
            }))
            .await
            .map(drop),
        "DeleteTask" => c
            .tasks
            .delete_task(t!(DeleteTaskRequest {
                id: f.task.id.clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "CreateComment" => c
            .tasks
            .create_comment(t!(CreateCommentRequest {
                comment: Some(Comment {
                    task_id: f.task.id.clone(),
                    body: "mine".into(),
                    ..Comment::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "ListComments" => c
            .tasks
            .list_comments(t!(ListCommentsRequest {
                task_id: f.task.id.clone(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "UpdateComment.others" => c
            .tasks
            .update_comment(t!(UpdateCommentRequest {
                comment: Some(Comment {
                    id: f.comment.id.clone(),
                    body: "edited".into(),
                    ..Comment::default()
                }),
                update_mask: mask("body"),
            }))
            .await
            .map(drop),
        "DeleteComment.others" => c
            .tasks
            .delete_comment(t!(DeleteCommentRequest {
                id: f.comment.id.clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "CreateWorkLog" => c
            .tasks
            .create_work_log(t!(CreateWorkLogRequest {
                work_log: Some(WorkLog {
                    task_id: f.task.id.clone(),
                    duration: Some(prost_types::Duration {
                        seconds: 60,
                        nanos: 0,
                    }),
                    ..WorkLog::default()
                }),
                request_id: String::new(),
            }))
            .await
            .map(drop),
        "ListWorkLogs" => c
            .tasks
            .list_work_logs(t!(ListWorkLogsRequest {
                scope: Some(list_work_logs_request::Scope::ProjectId(p)),
                ..Default::default()
            }))
            .await
            .map(drop),
        "DeleteWorkLog.others" => c
            .tasks
            .delete_work_log(t!(DeleteWorkLogRequest {
                id: f.work_log.id.clone(),
                etag: String::new(),
            }))
            .await
            .map(drop),
        "ListTaskActivity" => c
            .tasks
            .list_task_activity(t!(ListTaskActivityRequest {
                task_id: f.task.id.clone(),
                ..Default::default()
            }))
            .await
            .map(drop),
        "ListProjectActivity" => c
            .tasks
            .list_project_activity(t!(ListProjectActivityRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "GetUndoState" => c
            .tasks
            .get_undo_state(t!(GetUndoStateRequest { project_id: p }))
            .await
            .map(drop),
        "UndoLastAction" => c
            .tasks
            .undo_last_action(t!(UndoLastActionRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        "RedoLastAction" => c
            .tasks
            .redo_last_action(t!(RedoLastActionRequest {
                project_id: p,
                ..Default::default()
            }))
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

/// Failures an allowed cell may meet after passing authorization.
const ALLOWED_FAILURES: [&str; 3] = [
    "PROJECT_MEMBER_NOT_FOUND",
    "NOTHING_TO_UNDO",
    "NOTHING_TO_REDO",
];
const DENIALS: [&str; 5] = [
    "SERVICE_CREDENTIAL_REQUIRED",
    "ROLE_INSUFFICIENT",
    "NOT_COMMENT_AUTHOR",
    "NOT_WORK_LOG_AUTHOR",
    "SCOPE_INSUFFICIENT",
];

#[tokio::test]
async fn every_cell_of_the_projects_role_matrix_holds() {
    // Thousands of calls from one address and user as fast as the mesh answers: this test
    // is about roles, so rate limits (tested in flood.rs) must not be what refuses them.
    let mesh = Mesh::start_with(|config| {
        let limits = &mut config.edge.rate_limit;
        limits.per_ip_per_second = 100_000;
        limits.per_ip_burst = 100_000;
        limits.per_principal_per_second = 100_000;
        limits.per_principal_burst = 100_000;
    })
    .await;
    let (owner, owner_tokens) = mesh.sign_up("owner@matrix.test").await;
    let (organization, owner_scoped) = mesh
        .create_organization(&owner_tokens, "project-matrix")
        .await;
    let mut people = People {
        tokens: vec![owner_scoped.clone()],
        ids: vec![owner.id],
    };
    for (name, role) in [
        ("admin", Role::Admin),
        ("powner", Role::Member),
        ("pmember", Role::Member),
        ("pviewer", Role::Member),
        ("guest", Role::Guest),
        ("outsider", Role::Member),
    ] {
        let email = format!("{name}@matrix.test");
        let (user, tokens) = mesh.sign_up(&email).await;
        people.tokens.push(
            mesh.invite_and_join(&owner_scoped, &organization.id, &email, role, &tokens)
                .await,
        );
        people.ids.push(user.id);
    }
    let mut c = Clients {
        projects: ProjectServiceClient::new(mesh.channel.clone()),
        boards: BoardServiceClient::new(mesh.channel.clone()),
        tasks: TaskServiceClient::new(mesh.channel.clone()),
    };
    let mut checked = 0;
    for (rpc, expected) in MATRIX {
        // A row shares one project, unless a cell's change would change the next cell's answer.
        let fresh = FRESH.contains(rpc);
        let shared = fixture(&mut c, &people).await;
        for (index, expectation) in expected.chars().enumerate() {
            let fixture = if fresh {
                Some(fixture(&mut c, &people).await)
            } else {
                None
            };
            let fixture = fixture.as_ref().unwrap_or(&shared);
            let result = call(&mut c, &people, fixture, rpc, index).await;
            let caller = CALLERS[index];
            match (expectation, &result) {
                ('A', Ok(())) => {}
                ('A', Err(status)) => assert!(
                    ALLOWED_FAILURES.contains(&reason(status).as_str()),
                    "{rpc} must be allowed for {caller}: {status:?}"
                ),
                ('D', Err(status)) if status.code() == Code::PermissionDenied => assert!(
                    DENIALS.contains(&reason(status).as_str()),
                    "{rpc} for {caller}: {status:?}"
                ),
                ('H', Err(status)) if status.code() == Code::NotFound => assert!(
                    reason(status).ends_with("_NOT_FOUND")
                        && reason(status) != "PROJECT_MEMBER_NOT_FOUND",
                    "{rpc} for {caller}: {status:?}"
                ),
                (expectation, result) => {
                    panic!("{rpc} for {caller}: expected {expectation}, got {result:?}")
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MATRIX.len() * CALLERS.len());

    // Every RPC of the three services appears in the matrix.
    for service in ["project_service", "board_service", "task_service"] {
        let path = format!(
            "{}/../../proto/taskmesh/projects/v1/{service}.proto",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::read_to_string(path).unwrap();
        for line in file
            .lines()
            .filter_map(|line| line.trim().strip_prefix("rpc "))
        {
            let method = line.split('(').next().unwrap();
            assert!(
                MATRIX
                    .iter()
                    .any(|(rpc, _)| rpc.split('.').next() == Some(method)),
                "{method} is missing from the projects role matrix"
            );
        }
    }
    mesh.stop().await;
}
