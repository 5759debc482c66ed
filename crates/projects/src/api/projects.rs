//! ProjectService: projects, their members and their labels.

use mesh::auth::OrganizationRole;
use mesh::filter::{FilterField, Operator};
use mesh::request::{Updatable, update_paths};
use serde_json::json;
use taskmesh::events::v1 as wire_events;
use taskmesh::projects::v1::*;
use tonic::Request;

use super::convert::{self, Change, Unit};
use super::{
    Caller, ProjectsApi, Result, check_etag, expected, new_id, page_request, parse_id, parse_user,
    retry,
};
use crate::domain::{
    self, BoardId, ColumnId, MAX_LABELS, MAX_TEXT_BYTES, ProjectId, ProjectRole, ProjectsError,
    StatusCategory,
};
use crate::events::*;
use crate::store::*;

/// The default columns of a new board.
pub(super) const DEFAULT_COLUMNS: [(&str, StatusCategory); 3] = [
    ("To Do", StatusCategory::Todo),
    ("In Progress", StatusCategory::InProgress),
    ("Done", StatusCategory::Done),
];

/// A new column record.
/// A new column of `board` in `project`: `(name, status category, WIP limit, position)`.
pub(super) fn new_column(
    caller: &Caller,
    (project, board): (ProjectId, BoardId),
    (name, category, wip_limit, position): (&str, StatusCategory, i64, i64),
    now: i64,
    request_id: Option<String>,
) -> ColumnRecord {
    ColumnRecord {
        id: ColumnId::new(),
        organization_id: caller.organization_id,
        project_id: project,
        board_id: board,
        name: name.to_string(),
        name_key: name.to_lowercase(),
        position,
        wip_limit,
        status_category: category.as_str().into(),
        creator_user_id: caller.user_id,
        request_id,
        created_at: now,
        updated_at: now,
        version: 1,
        task_count: 0,
    }
}

fn member_added(unit: &mut Unit<'_>, project: &ProjectRecord, member: &MemberRecord) {
    let resource = format!(
        "{}/members/{}",
        convert::project_resource(project.organization_id, project.id),
        member.user_id
    );
    unit.event(
        PROJECT_MEMBER_ADDED,
        resource,
        &wire_events::ProjectMemberAdded {
            project_id: project.id.to_string(),
            project_key: project.key.clone(),
            project_name: project.name.clone(),
            user_id: member.user_id.to_string(),
            role: member.role.clone(),
        },
    );
}

pub(super) async fn create(
    api: &ProjectsApi,
    request: Request<CreateProjectRequest>,
) -> Result<CreateProjectResponse> {
    let caller = Caller::of(&request)?;
    caller.ensure_write()?;
    if !caller
        .role
        .is_some_and(|role| role.at_least(OrganizationRole::Member))
    {
        return Err(ProjectsError::RoleInsufficient(
            "organization guests cannot create projects",
        ));
    }
    let message = request.get_ref();
    let input = message.project.clone().unwrap_or_default();
    let key = domain::project_key(&input.key)?;
    let name = domain::name("project.name", &input.name, 100)?;
    let description = domain::text("project.description", &input.description, MAX_TEXT_BYTES)?;
    let lead = match input.lead_user_id.as_str() {
        "" => None,
        text => Some(parse_user("project.lead_user_id", text)?),
    };
    let idempotency = domain::request_id(&message.request_id)?;
    let organization = caller.organization_id;
    let user = caller.user_id;
    let project = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.project_by_request(organization, user, &key).await }
        },
        || async {
            if let Some(lead) = lead
                && lead != caller.user_id
                && api
                    .directory
                    .role(&caller.context, organization, lead)
                    .await?
                    .is_none()
            {
                return Err(ProjectsError::LeadNotOrganizationMember);
            }
            let existing = api
                .store
                .readable_projects(organization, None, true)
                .await?;
            if existing.len() as i64 >= api.config.max_projects_per_organization {
                return Err(ProjectsError::LimitReached(
                    "PROJECT_LIMIT_REACHED",
                    "the organization has reached its project limit",
                ));
            }
            let mut unit = Unit::new(api, &caller);
            let now = unit.now;
            let board_id = BoardId::new();
            let project = ProjectRecord {
                id: ProjectId::new(),
                organization_id: organization,
                key,
                name,
                description,
                lead_user_id: Some(lead.unwrap_or(caller.user_id)),
                state: "active".into(),
                default_board_id: board_id,
                creator_user_id: caller.user_id,
                create_request_id: idempotency.clone(),
                task_seq: 0,
                archived_at: None,
                deleted_at: None,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            let board = BoardRecord {
                id: board_id,
                organization_id: organization,
                project_id: project.id,
                name: "Board".into(),
                description: String::new(),
                workflow: "{}".into(),
                feed_seq: 0,
                creator_user_id: caller.user_id,
                request_id: None,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            unit.op(Op::InsertProject(project.clone()));
            let mut members = vec![(caller.user_id, ProjectRole::Owner)];
            if let Some(lead) = lead.filter(|lead| *lead != caller.user_id) {
                members.push((lead, ProjectRole::Member));
            }
            for (user_id, role) in members {
                let member = MemberRecord {
                    organization_id: organization,
                    project_id: project.id,
                    user_id,
                    role: role.as_str().into(),
                    created_at: now,
                    updated_at: now,
                    version: 1,
                };
                unit.op(Op::InsertMember(member.clone()));
                member_added(&mut unit, &project, &member);
            }
            unit.op(Op::InsertBoard(board));
            for (position, (name, category)) in DEFAULT_COLUMNS.iter().enumerate() {
                unit.op(Op::InsertColumn(new_column(
                    &caller,
                    (project.id, board_id),
                    (name, *category, 0, position as i64),
                    now,
                    None,
                )));
            }
            unit.event(
                PROJECT_CREATED,
                convert::project_resource(organization, project.id),
                &wire_events::ProjectCreated {
                    project_id: project.id.to_string(),
                    key: project.key.clone(),
                    name: project.name.clone(),
                    lead_user_id: project
                        .lead_user_id
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                },
            );
            unit.commit(api).await?;
            Ok(project)
        },
    )
    .await?
    .into_inner();
    Ok(CreateProjectResponse {
        project: Some(convert::project(&project)),
    })
}

pub(super) async fn get(
    api: &ProjectsApi,
    request: Request<GetProjectRequest>,
) -> Result<GetProjectResponse> {
    let caller = Caller::of(&request)?;
    let access = api
        .access(&caller, parse_id("id", &request.get_ref().id)?)
        .await?;
    Ok(GetProjectResponse {
        project: Some(convert::project(&access.project)),
        caller_role: convert::role_to_wire(access.role),
    })
}

const PROJECT_FILTER: &[FilterField] = &[
    FilterField {
        name: "state",
        operators: &[Operator::Eq],
    },
    FilterField {
        name: "lead_user_id",
        operators: &[Operator::Eq],
    },
    FilterField {
        name: "text",
        operators: &[Operator::Has],
    },
];

pub(super) async fn list(
    api: &ProjectsApi,
    request: Request<ListProjectsRequest>,
) -> Result<ListProjectsResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let mut query = ProjectQuery {
        member: (!caller.is_organization_admin()).then_some(caller.user_id),
        ..ProjectQuery::default()
    };
    for comparison in domain::filter::parse_and(&message.filter, PROJECT_FILTER)? {
        match comparison.field.as_str() {
            "state" => match comparison.value.to_ascii_uppercase().as_str() {
                "ACTIVE" => query.archived = false,
                "ARCHIVED" => query.archived = true,
                _ => {
                    return Err(mesh::filter::invalid(
                        domain::DOMAIN,
                        "state is ACTIVE or ARCHIVED",
                    )
                    .into());
                }
            },
            "lead_user_id" => {
                query.lead = Some(domain::filter::filter_id(
                    "lead_user_id",
                    &comparison.value,
                    &caller.user_id.to_string(),
                )?);
            }
            _ => {
                query.words = comparison
                    .value
                    .split_whitespace()
                    .map(str::to_lowercase)
                    .collect();
            }
        }
    }
    if !matches!(message.order_by.trim(), "" | "name") {
        return Err(ProjectsError::OrderByInvalid(
            "projects are listed by name".into(),
        ));
    }
    let page = page_request(
        message.page_size,
        &message.page_token,
        format!("{}|{}", caller.user_id, message.filter),
        PROJECTS_ORDER,
    )?;
    let page = api
        .store
        .projects(caller.organization_id, &query, &page)
        .await?;
    Ok(ListProjectsResponse {
        projects: page.items.iter().map(convert::project).collect(),
        next_page_token: page.next_page_token,
    })
}

fn user_json(user: Option<mesh::ids::UserId>) -> serde_json::Value {
    user.map_or(serde_json::Value::Null, |user| json!(user.to_string()))
}

pub(super) async fn update(
    api: &ProjectsApi,
    request: Request<UpdateProjectRequest>,
) -> Result<UpdateProjectResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.project.clone().unwrap_or_default();
    let id: ProjectId = parse_id("project.id", &input.id)?;
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("name", !input.name.is_empty()),
            Updatable::new("description", !input.description.is_empty()),
            Updatable::new("lead_user_id", !input.lead_user_id.is_empty()),
            Updatable::new("default_board_id", !input.default_board_id.is_empty()),
        ],
    )?;
    let etag = expected(&input.etag)?;
    let project = retry(etag.is_some(), || async {
        let access = api.access(&caller, id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, access.project.version)?;
        let old = access.project.clone();
        let mut new = old.clone();
        for path in &paths {
            match *path {
                "name" => new.name = domain::name("project.name", &input.name, 100)?,
                "description" => {
                    new.description =
                        domain::text("project.description", &input.description, MAX_TEXT_BYTES)?
                }
                "lead_user_id" if input.lead_user_id.is_empty() => new.lead_user_id = None,
                "lead_user_id" => {
                    let lead = parse_user("project.lead_user_id", &input.lead_user_id)?;
                    if !api.can_see(&caller, &old, lead).await? {
                        return Err(ProjectsError::LeadNotProjectMember);
                    }
                    new.lead_user_id = Some(lead);
                }
                _ => {
                    let board: BoardId =
                        parse_id("project.default_board_id", &input.default_board_id)?;
                    match api.store.board(caller.organization_id, board).await? {
                        Some((board, _)) if board.project_id == old.id => {
                            new.default_board_id = board.id
                        }
                        _ => return Err(ProjectsError::BoardNotInProject),
                    }
                }
            }
        }
        let mut changes = Vec::new();
        if new.name != old.name {
            changes.push(Change {
                field: "name".into(),
                old: json!(old.name),
                new: json!(new.name),
                omitted: false,
            });
        }
        if new.description != old.description {
            changes.push(Change {
                field: "description".into(),
                old: json!(null),
                new: json!(null),
                omitted: true,
            });
        }
        if new.lead_user_id != old.lead_user_id {
            changes.push(Change {
                field: "lead_user_id".into(),
                old: user_json(old.lead_user_id),
                new: user_json(new.lead_user_id),
                omitted: false,
            });
        }
        if new.default_board_id != old.default_board_id {
            changes.push(Change {
                field: "default_board_id".into(),
                old: json!(old.default_board_id.to_string()),
                new: json!(new.default_board_id.to_string()),
                omitted: false,
            });
        }
        if changes.is_empty() {
            return Ok(old);
        }
        let mut unit = Unit::new(api, &caller);
        new.updated_at = unit.now;
        new.version = old.version + 1;
        unit.op(Op::UpdateProject(new.clone(), old.version));
        unit.event(
            PROJECT_UPDATED,
            convert::project_resource(caller.organization_id, id),
            &wire_events::ProjectUpdated {
                project_id: id.to_string(),
                changed_fields: convert::event_changes(&changes),
            },
        );
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    Ok(UpdateProjectResponse {
        project: Some(convert::project(&project)),
    })
}

/// Archives (`archive`) or unarchives a project; unchanged when already so.
async fn set_archived(
    api: &ProjectsApi,
    caller: &Caller,
    id: &str,
    etag: &str,
    archive: bool,
) -> Result<ProjectRecord> {
    let id: ProjectId = parse_id("id", id)?;
    let etag = expected(etag)?;
    retry(etag.is_some(), || async {
        let access = api.access(caller, id).await?;
        caller.ensure_write()?;
        domain::require(access.role, ProjectRole::Owner)?;
        check_etag(etag, access.project.version)?;
        let old = access.project;
        if old.is_archived() == archive {
            return Ok(old);
        }
        let mut unit = Unit::new(api, caller);
        let new = ProjectRecord {
            state: if archive { "archived" } else { "active" }.into(),
            archived_at: archive.then_some(unit.now),
            updated_at: unit.now,
            version: old.version + 1,
            ..old.clone()
        };
        unit.op(Op::UpdateProject(new.clone(), old.version));
        let resource = convert::project_resource(caller.organization_id, id);
        if archive {
            unit.event(
                PROJECT_ARCHIVED,
                resource,
                &wire_events::ProjectArchived {
                    project_id: id.to_string(),
                    key: old.key.clone(),
                },
            );
        } else {
            unit.event(
                PROJECT_UNARCHIVED,
                resource,
                &wire_events::ProjectUnarchived {
                    project_id: id.to_string(),
                    key: old.key.clone(),
                },
            );
        }
        unit.commit(api).await?;
        Ok(new)
    })
    .await
}

pub(super) async fn archive(
    api: &ProjectsApi,
    request: Request<ArchiveProjectRequest>,
) -> Result<ArchiveProjectResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let project = set_archived(api, &caller, &message.id, &message.etag, true).await?;
    Ok(ArchiveProjectResponse {
        project: Some(convert::project(&project)),
    })
}

pub(super) async fn unarchive(
    api: &ProjectsApi,
    request: Request<UnarchiveProjectRequest>,
) -> Result<UnarchiveProjectResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let project = set_archived(api, &caller, &message.id, &message.etag, false).await?;
    Ok(UnarchiveProjectResponse {
        project: Some(convert::project(&project)),
    })
}

pub(super) async fn delete(
    api: &ProjectsApi,
    request: Request<DeleteProjectRequest>,
) -> Result<DeleteProjectResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("id", &message.id)?;
    let etag = expected(&message.etag)?;
    retry(etag.is_some(), || async {
        let access = api.access(&caller, id).await?;
        caller.ensure_write()?;
        domain::require(access.role, ProjectRole::Owner)?;
        check_etag(etag, access.project.version)?;
        let old = access.project;
        let tasks = api.store.live_tasks(caller.organization_id, id).await?;
        let mut unit = Unit::new(api, &caller);
        unit.op(Op::UpdateProject(
            ProjectRecord {
                deleted_at: Some(unit.now),
                updated_at: unit.now,
                version: old.version + 1,
                ..old.clone()
            },
            old.version,
        ));
        for (task_id, key, status_category) in &tasks {
            unit.event(
                TASK_DELETED,
                convert::task_resource(caller.organization_id, task_id),
                &wire_events::TaskDeleted {
                    task_id: task_id.clone(),
                    project_id: id.to_string(),
                    key: key.clone(),
                    project_deleted: true,
                    status_category: status_category.clone(),
                    restore_expire_time: None,
                },
            );
        }
        unit.event(
            PROJECT_DELETED,
            convert::project_resource(caller.organization_id, id),
            &wire_events::ProjectDeleted {
                project_id: id.to_string(),
                key: old.key.clone(),
                deleted_task_count: tasks.len() as i64,
            },
        );
        unit.commit(api).await?;
        api.hub.close_project(id);
        Ok(())
    })
    .await?;
    Ok(DeleteProjectResponse {})
}

pub(super) async fn add_member(
    api: &ProjectsApi,
    request: Request<AddProjectMemberRequest>,
) -> Result<AddProjectMemberResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    let user = parse_user("user_id", &message.user_id)?;
    let access = api.access(&caller, id).await?;
    access.writer(&caller, ProjectRole::Owner)?;
    let organization_role = api
        .directory
        .role(&caller.context, caller.organization_id, user)
        .await?
        .ok_or(ProjectsError::UserNotFound)?;
    let guest = organization_role == OrganizationRole::Guest;
    let role = match (convert::role_from_wire(message.role), guest) {
        (None, true) | (Some(ProjectRole::Viewer), _) => ProjectRole::Viewer,
        (None, false) => ProjectRole::Member,
        (Some(_), true) => return Err(ProjectsError::GuestMustBeViewer),
        (Some(role), false) => role,
    };
    let (_, _, members) = api.store.project_counts(caller.organization_id, id).await?;
    if members >= api.config.max_members_per_project {
        return Err(ProjectsError::LimitReached(
            "PROJECT_MEMBER_LIMIT_REACHED",
            "the project has reached its member limit",
        ));
    }
    let mut unit = Unit::new(api, &caller);
    let member = MemberRecord {
        organization_id: caller.organization_id,
        project_id: id,
        user_id: user,
        role: role.as_str().into(),
        created_at: unit.now,
        updated_at: unit.now,
        version: 1,
    };
    unit.op(Op::InsertMember(member.clone()));
    member_added(&mut unit, &access.project, &member);
    unit.commit(api).await?;
    Ok(AddProjectMemberResponse {
        member: Some(convert::member(&member)),
    })
}

pub(super) async fn list_members(
    api: &ProjectsApi,
    request: Request<ListProjectMembersRequest>,
) -> Result<ListProjectMembersResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    api.access(&caller, id).await?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        id.to_string(),
        MEMBERS_ORDER,
    )?;
    let page = api.store.members(caller.organization_id, id, &page).await?;
    Ok(ListProjectMembersResponse {
        members: page.items.iter().map(convert::member).collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn update_member(
    api: &ProjectsApi,
    request: Request<UpdateProjectMemberRequest>,
) -> Result<UpdateProjectMemberResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.member.clone().unwrap_or_default();
    let id: ProjectId = parse_id("member.project_id", &input.project_id)?;
    let user = parse_user("member.user_id", &input.user_id)?;
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[Updatable::new("role", input.role != 0)],
    )?;
    let etag = expected(&input.etag)?;
    let member = retry(etag.is_some(), || async {
        let access = api.access(&caller, id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        let old = api
            .store
            .member(caller.organization_id, id, user)
            .await?
            .ok_or(ProjectsError::ProjectMemberNotFound)?;
        check_etag(etag, old.version)?;
        if paths.is_empty() {
            return Ok(old);
        }
        let role = convert::role_from_wire(input.role)
            .ok_or(ProjectsError::FieldRequired("member.role"))?;
        if role == ProjectRole::parse(&old.role).unwrap_or(ProjectRole::Viewer) {
            return Ok(old);
        }
        if role != ProjectRole::Viewer
            && api
                .directory
                .role(&caller.context, caller.organization_id, user)
                .await?
                == Some(OrganizationRole::Guest)
        {
            return Err(ProjectsError::GuestMustBeViewer);
        }
        if old.role == "owner" && api.store.owner_count(caller.organization_id, id).await? <= 1 {
            return Err(ProjectsError::LastProjectOwner);
        }
        let mut unit = Unit::new(api, &caller);
        let new = MemberRecord {
            role: role.as_str().into(),
            updated_at: unit.now,
            version: old.version + 1,
            ..old.clone()
        };
        unit.op(Op::UpdateMember(new.clone(), old.version));
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    Ok(UpdateProjectMemberResponse {
        member: Some(convert::member(&member)),
    })
}

pub(super) async fn remove_member(
    api: &ProjectsApi,
    request: Request<RemoveProjectMemberRequest>,
) -> Result<RemoveProjectMemberResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    let user = parse_user("user_id", &message.user_id)?;
    let etag = expected(&message.etag)?;
    retry(etag.is_some(), || async {
        let access = api.access(&caller, id).await?;
        let minimum = if user == caller.user_id {
            ProjectRole::Viewer
        } else {
            ProjectRole::Owner
        };
        access.writer(&caller, minimum)?;
        let old = api
            .store
            .member(caller.organization_id, id, user)
            .await?
            .ok_or(ProjectsError::ProjectMemberNotFound)?;
        check_etag(etag, old.version)?;
        if old.role == "owner" && api.store.owner_count(caller.organization_id, id).await? <= 1 {
            return Err(ProjectsError::LastProjectOwner);
        }
        let mut unit = Unit::new(api, &caller);
        unit.op(Op::DeleteMember(id, user, old.version));
        // Open tasks lose the user as an assignee; closed ones keep the record.
        for task in api
            .store
            .tasks_with(caller.organization_id, id, None, Some(user))
            .await?
        {
            let assignees: Vec<_> = task
                .assignee_user_ids
                .iter()
                .copied()
                .filter(|a| *a != user)
                .collect();
            super::tasks::reassign(&mut unit, &task, assignees);
        }
        let mut project = access.project.clone();
        if project.lead_user_id == Some(user) {
            project.lead_user_id = None;
            project.updated_at = unit.now;
            project.version += 1;
            unit.op(Op::UpdateProject(project.clone(), access.project.version));
        }
        let resource = format!(
            "{}/members/{user}",
            convert::project_resource(caller.organization_id, id)
        );
        unit.event(
            PROJECT_MEMBER_REMOVED,
            resource,
            &wire_events::ProjectMemberRemoved {
                project_id: id.to_string(),
                project_key: project.key.clone(),
                user_id: user.to_string(),
                role: old.role.clone(),
            },
        );
        unit.commit(api).await?;
        // Their open streams of the project end now, not at the next access re-check.
        api.hub.access_changed();
        Ok(())
    })
    .await?;
    Ok(RemoveProjectMemberResponse {})
}

pub(super) async fn create_label(
    api: &ProjectsApi,
    request: Request<CreateLabelRequest>,
) -> Result<CreateLabelResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.label.clone().unwrap_or_default();
    let id: ProjectId = parse_id("label.project_id", &input.project_id)?;
    let access = api.access(&caller, id).await?;
    access.writer(&caller, ProjectRole::Owner)?;
    let name = domain::name("label.name", &input.name, 50)?;
    let color = domain::color("label.color", &input.color)?;
    if input.description.chars().count() > 500 {
        return Err(domain::invalid(
            "label.description",
            "must be at most 500 characters",
        ));
    }
    let idempotency = domain::request_id(&message.request_id)?;
    let (organization, user) = (caller.organization_id, caller.user_id);
    let label = kit::create_once(
        idempotency.as_deref(),
        |key| {
            let store = api.store.clone();
            async move { store.label_by_request(organization, id, user, &key).await }
        },
        || async {
            let (labels, _, _) = api.store.project_counts(organization, id).await?;
            if labels >= MAX_LABELS {
                return Err(ProjectsError::LimitReached(
                    "LABEL_LIMIT_REACHED",
                    "the project has 500 labels",
                ));
            }
            let mut unit = Unit::new(api, &caller);
            let label = LabelRecord {
                id: new_id(),
                organization_id: organization,
                project_id: id,
                name_key: name.to_lowercase(),
                name: name.clone(),
                description: input.description.clone(),
                color: color.clone(),
                creator_user_id: user,
                request_id: idempotency.clone(),
                created_at: unit.now,
                updated_at: unit.now,
                version: 1,
            };
            unit.op(Op::InsertLabel(label.clone()));
            unit.commit(api).await?;
            Ok(label)
        },
    )
    .await?
    .into_inner();
    Ok(CreateLabelResponse {
        label: Some(convert::label(&label)),
    })
}

pub(super) async fn list_labels(
    api: &ProjectsApi,
    request: Request<ListLabelsRequest>,
) -> Result<ListLabelsResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let id: ProjectId = parse_id("project_id", &message.project_id)?;
    api.access(&caller, id).await?;
    let page = page_request(
        message.page_size,
        &message.page_token,
        id.to_string(),
        LABELS_ORDER,
    )?;
    let page = api.store.labels(caller.organization_id, id, &page).await?;
    Ok(ListLabelsResponse {
        labels: page.items.iter().map(convert::label).collect(),
        next_page_token: page.next_page_token,
    })
}

/// A label the caller can read, with access to its project.
async fn readable_label(
    api: &ProjectsApi,
    caller: &Caller,
    id: &str,
) -> Result<(LabelRecord, super::Access)> {
    let label = api
        .store
        .label(caller.organization_id, id)
        .await?
        .ok_or(ProjectsError::LabelNotFound)?;
    let access = api
        .access(caller, label.project_id)
        .await
        .map_err(|error| match error {
            ProjectsError::ProjectNotFound => ProjectsError::LabelNotFound,
            other => other,
        })?;
    Ok((label, access))
}

pub(super) async fn update_label(
    api: &ProjectsApi,
    request: Request<UpdateLabelRequest>,
) -> Result<UpdateLabelResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let input = message.label.clone().unwrap_or_default();
    if input.id.is_empty() {
        return Err(ProjectsError::FieldRequired("label.id"));
    }
    let paths = update_paths(
        domain::DOMAIN,
        message.update_mask.as_ref(),
        &[
            Updatable::new("name", !input.name.is_empty()),
            Updatable::new("description", !input.description.is_empty()),
            Updatable::new("color", !input.color.is_empty()),
        ],
    )?;
    let etag = expected(&input.etag)?;
    let label = retry(etag.is_some(), || async {
        let (old, access) = readable_label(api, &caller, &input.id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, old.version)?;
        let mut new = old.clone();
        for path in &paths {
            match *path {
                "name" => {
                    new.name = domain::name("label.name", &input.name, 50)?;
                    new.name_key = new.name.to_lowercase();
                }
                "description" if input.description.chars().count() > 500 => {
                    return Err(domain::invalid(
                        "label.description",
                        "must be at most 500 characters",
                    ));
                }
                "description" => new.description = input.description.clone(),
                _ => new.color = domain::color("label.color", &input.color)?,
            }
        }
        if new == old {
            return Ok(old);
        }
        let mut unit = Unit::new(api, &caller);
        new.updated_at = unit.now;
        new.version = old.version + 1;
        unit.op(Op::UpdateLabel(new.clone(), old.version));
        unit.commit(api).await?;
        Ok(new)
    })
    .await?;
    Ok(UpdateLabelResponse {
        label: Some(convert::label(&label)),
    })
}

pub(super) async fn delete_label(
    api: &ProjectsApi,
    request: Request<DeleteLabelRequest>,
) -> Result<DeleteLabelResponse> {
    let caller = Caller::of(&request)?;
    let message = request.get_ref();
    let etag = expected(&message.etag)?;
    retry(etag.is_some(), || async {
        let (label, access) = readable_label(api, &caller, &message.id).await?;
        access.writer(&caller, ProjectRole::Owner)?;
        check_etag(etag, label.version)?;
        let mut unit = Unit::new(api, &caller);
        // Tasks lose the label: each records the change (and its etag moves).
        for task in api
            .store
            .tasks_with(
                caller.organization_id,
                label.project_id,
                Some(&label.id),
                None,
            )
            .await?
        {
            let mut new = task.clone();
            new.label_ids.retain(|id| *id != label.id);
            super::tasks::record_update(&mut unit, &task, new, None);
        }
        unit.op(Op::DeleteLabel(label.id.clone(), label.version));
        unit.commit(api).await
    })
    .await?;
    Ok(DeleteLabelResponse {})
}
