//! Someone left the organization (tenancy's `member.removed`): their project memberships end,
//! they are unassigned from open tasks (closed ones keep them as a record), and they stop
//! leading projects, in the consumer's transaction (so exactly once, with the inbox row),
//! publishing `project_member.removed` and `task.assigned` with a service actor.

use events::EventMessage;
use events::consumer::{EventTx, Handler, HandlerError};
use prost::{Message, Name};
use taskmesh::events::v1::{Event, MemberRemoved, ProjectMemberRemoved, TaskAssigned};

/// The subject tenancy publishes departures on (a contract, not a crate dependency).
pub const MEMBER_REMOVED: &str = "taskmesh.tenancy.member.removed";

/// Applies departures; see the module docs.
pub struct DepartureHandler;

fn service_event<P: Name>(
    topic: kit::Topic<P>,
    event: &Event,
    resource: String,
    payload: &P,
) -> EventMessage {
    let mut builder = topic
        .event(resource, payload)
        .service_actor("projects")
        .request_id(event.request_id.clone());
    if let Ok(tenant) = event.tenant_id.parse() {
        builder = builder.tenant(tenant);
    }
    builder.build()
}

#[async_trait::async_trait]
impl Handler for DepartureHandler {
    async fn handle(&self, tx: EventTx<'_>, event: &Event) -> Result<(), HandlerError> {
        if event.payload_type != MemberRemoved::full_name() {
            return Ok(());
        }
        let departed = MemberRemoved::decode(event.payload.as_slice())
            .map_err(|error| HandlerError(format!("bad MemberRemoved payload: {error}")))?;
        let organization = departed.organization_id.clone();
        let user = departed.user_id.clone();
        let now = mesh::time::now_millis();
        ::events::on_connection!(tx, |connection, enqueue| {
            let memberships: Vec<(String, String, String)> = sqlx::query_as("select m.project_id, m.role, p.key from project_members m join projects p on p.id = m.project_id where m.organization_id = $1 and m.user_id = $2")
                .bind(&organization)
                .bind(&user)
                .fetch_all(&mut *connection)
                .await?;
            for (project, role, key) in &memberships {
                sqlx::query("delete from project_members where organization_id = $1 and project_id = $2 and user_id = $3")
                    .bind(&organization)
                    .bind(project)
                    .bind(&user)
                    .execute(&mut *connection)
                    .await?;
                let payload = ProjectMemberRemoved {
                    project_id: project.clone(),
                    project_key: key.clone(),
                    user_id: user.clone(),
                    role: role.clone(),
                };
                let resource =
                    format!("organizations/{organization}/projects/{project}/members/{user}");
                enqueue(
                    &mut *connection,
                    &service_event(
                        crate::events::PROJECT_MEMBER_REMOVED,
                        event,
                        resource,
                        &payload,
                    ),
                )
                .await?;
            }
            sqlx::query("update projects set lead_user_id = null, updated_at = $3, version = version + 1 where organization_id = $1 and lead_user_id = $2")
                .bind(&organization)
                .bind(&user)
                .bind(now)
                .execute(&mut *connection)
                .await?;
            let tasks: Vec<(String, String, String, String)> = sqlx::query_as("select t.id, t.project_id, t.key, t.title from tasks t join task_assignees a on a.task_id = t.id where t.organization_id = $1 and a.user_id = $2 and t.deleted_at is null and t.status_category not in ('done', 'cancelled')")
                .bind(&organization)
                .bind(&user)
                .fetch_all(&mut *connection)
                .await?;
            for (task, project, key, title) in &tasks {
                let before: Vec<String> = sqlx::query_scalar("select user_id from task_assignees where organization_id = $1 and task_id = $2 order by position")
                    .bind(&organization)
                    .bind(task)
                    .fetch_all(&mut *connection)
                    .await?;
                sqlx::query("delete from task_assignees where organization_id = $1 and task_id = $2 and user_id = $3")
                    .bind(&organization)
                    .bind(task)
                    .bind(&user)
                    .execute(&mut *connection)
                    .await?;
                sqlx::query("update tasks set updated_at = $3, version = version + 1 where organization_id = $1 and id = $2")
                    .bind(&organization)
                    .bind(task)
                    .bind(now)
                    .execute(&mut *connection)
                    .await?;
                let after: Vec<String> = before.iter().filter(|id| **id != user).cloned().collect();
                let payload = TaskAssigned {
                    task_id: task.clone(),
                    project_id: project.clone(),
                    key: key.clone(),
                    title: title.clone(),
                    previous_assignee_user_ids: before.clone(),
                    assignee_user_ids: after,
                    added_assignee_user_ids: Vec::new(),
                    removed_assignee_user_ids: vec![user.clone()],
                };
                let resource = format!("organizations/{organization}/tasks/{task}");
                enqueue(
                    &mut *connection,
                    &service_event(crate::events::TASK_ASSIGNED, event, resource, &payload),
                )
                .await?;
            }
            Ok(())
        })
    }
}
