//! The events of the changes the Kanban end-to-end test does not make reach the outbox:
//! archiving and unarchiving a project, adding and removing a project member, logging work
//! and deleting the log, each with the payload its consumers act on.

use mesh::ids::UserId;
use prost::Message;
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::project_service_server::ProjectService;
use taskmesh::projects::v1::task_service_server::TaskService;
use taskmesh::projects::v1::*;

use super::test_world::*;

#[tokio::test]
async fn project_member_and_work_log_changes_publish_their_events() {
    let world = World::new(600).await;
    let project_id = world.project.id.clone();
    let archive = world.request(ArchiveProjectRequest {
        id: project_id.clone(),
        etag: String::new(),
    });
    ProjectService::archive_project(&world.api, archive)
        .await
        .unwrap();
    let unarchive = world.request(UnarchiveProjectRequest {
        id: project_id.clone(),
        etag: String::new(),
    });
    ProjectService::unarchive_project(&world.api, unarchive)
        .await
        .unwrap();
    let member = UserId::new();
    let add = world.request(AddProjectMemberRequest {
        project_id: project_id.clone(),
        user_id: member.to_string(),
        role: ProjectRole::Member as i32,
    });
    ProjectService::add_project_member(&world.api, add)
        .await
        .unwrap();
    let remove = world.request(RemoveProjectMemberRequest {
        project_id: project_id.clone(),
        user_id: member.to_string(),
        etag: String::new(),
    });
    ProjectService::remove_project_member(&world.api, remove)
        .await
        .unwrap();
    let task = world.task("Measure").await;
    let log = world.request(CreateWorkLogRequest {
        work_log: Some(WorkLog {
            task_id: task.id.clone(),
            duration: Some(prost_types::Duration {
                seconds: 1_800,
                nanos: 0,
            }),
            ..WorkLog::default()
        }),
        request_id: String::new(),
    });
    let log = TaskService::create_work_log(&world.api, log)
        .await
        .unwrap()
        .into_inner()
        .work_log
        .unwrap();
    let delete = world.request(DeleteWorkLogRequest {
        id: log.id.clone(),
        etag: String::new(),
    });
    TaskService::delete_work_log(&world.api, delete)
        .await
        .unwrap();

    let published = world.published("taskmesh.projects.>").await;
    // The newest event of each kind (creating the project added its owner as a member too).
    let payload = |subject: &str| {
        published
            .iter()
            .rev()
            .find(|event| event.r#type == subject)
            .unwrap_or_else(|| panic!("no {subject} event"))
            .payload
            .clone()
    };
    let archived = payload("taskmesh.projects.project.archived");
    assert!(!archived.is_empty());
    let unarchived = wire_events::ProjectUnarchived::decode(
        payload("taskmesh.projects.project.unarchived").as_slice(),
    )
    .unwrap();
    assert_eq!(unarchived.project_id, project_id);
    let added = wire_events::ProjectMemberAdded::decode(
        payload("taskmesh.projects.project_member.added").as_slice(),
    )
    .unwrap();
    assert_eq!(added.user_id, member.to_string());
    let removed = wire_events::ProjectMemberRemoved::decode(
        payload("taskmesh.projects.project_member.removed").as_slice(),
    )
    .unwrap();
    assert_eq!(removed.user_id, member.to_string());
    let logged =
        wire_events::WorkLogged::decode(payload("taskmesh.projects.task.work_logged").as_slice())
            .unwrap();
    let unlogged = wire_events::WorkLogDeleted::decode(
        payload("taskmesh.projects.task.work_log_deleted").as_slice(),
    )
    .unwrap();
    assert_eq!(unlogged.work_log_id, log.id);
    assert_eq!(
        (
            unlogged.task_id.as_str(),
            unlogged.duration,
            unlogged.user_id.as_str()
        ),
        (task.id.as_str(), logged.duration, logged.user_id.as_str())
    );
    assert_eq!(unlogged.duration.unwrap().seconds, 1_800);
}
