//! GetTaskShareView: the read-only task a share link shows, answered to a service
//! credential issued for projects (links), never to a user's credential. The organization
//! is the credential's.

use mesh::paging::PageRequest;
use taskmesh::projects::v1::{GetTaskShareViewRequest, GetTaskShareViewResponse};
use tonic::Request;

use super::{ProjectsApi, Result, convert, parse_id};
use crate::domain::ProjectsError;
use crate::store::comments_keyset;

/// Most comments a share view carries (SharedTask promises at most 200).
const MAX_SHARED_COMMENTS: i64 = 200;

pub(super) async fn task_share_view(
    api: &ProjectsApi,
    request: Request<GetTaskShareViewRequest>,
) -> Result<GetTaskShareViewResponse> {
    let caller = mesh::auth::require_service_caller(&request, "projects")?;
    let organization_id = caller.organization_id;
    let message = request.get_ref();
    let task_id = parse_id("task_id", &message.task_id)?;
    let task = api
        .store
        .task(organization_id, task_id, false)
        .await?
        .ok_or(ProjectsError::TaskNotFound)?;
    let status = api
        .store
        .column(organization_id, task.column_id)
        .await?
        .map(|column| column.name)
        .unwrap_or_default();
    let comments = if message.include_comments {
        let page = PageRequest::first(
            MAX_SHARED_COMMENTS,
            comments_keyset(false).with_max_page_size(MAX_SHARED_COMMENTS),
        );
        api.store
            .comments(organization_id, task_id, &page)
            .await?
            .items
            .iter()
            .map(convert::comment)
            .collect()
    } else {
        Vec::new()
    };
    Ok(GetTaskShareViewResponse {
        task: Some(convert::task(&task, true)),
        status,
        comments,
    })
}
