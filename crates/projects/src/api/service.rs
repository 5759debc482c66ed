//! The generated service traits, each RPC handed to its module; errors leave through
//! `mesh::error` once (ProjectsError → ServiceError → Status with ErrorInfo).

use std::sync::Arc;

use taskmesh::projects::v1::board_service_server::BoardService;
use taskmesh::projects::v1::project_service_server::ProjectService;
use taskmesh::projects::v1::task_service_server::TaskService;
use taskmesh::projects::v1::*;
use tonic::{Request, Response, Status};

use super::{ProjectsApi, boards, comments, history, moves, projects, tasks, undo, watch};

type Reply<T> = std::result::Result<Response<T>, Status>;

fn reply<T>(result: super::Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

#[tonic::async_trait]
impl ProjectService for ProjectsApi {
    async fn create_project(
        &self,
        request: Request<CreateProjectRequest>,
    ) -> Reply<CreateProjectResponse> {
        reply(projects::create(self, request).await)
    }

    async fn get_project(&self, request: Request<GetProjectRequest>) -> Reply<GetProjectResponse> {
        reply(projects::get(self, request).await)
    }

    async fn list_projects(
        &self,
        request: Request<ListProjectsRequest>,
    ) -> Reply<ListProjectsResponse> {
        reply(projects::list(self, request).await)
    }

    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Reply<UpdateProjectResponse> {
        reply(projects::update(self, request).await)
    }

    async fn archive_project(
        &self,
        request: Request<ArchiveProjectRequest>,
    ) -> Reply<ArchiveProjectResponse> {
        reply(projects::archive(self, request).await)
    }

    async fn unarchive_project(
        &self,
        request: Request<UnarchiveProjectRequest>,
    ) -> Reply<UnarchiveProjectResponse> {
        reply(projects::unarchive(self, request).await)
    }

    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Reply<DeleteProjectResponse> {
        reply(projects::delete(self, request).await)
    }

    async fn add_project_member(
        &self,
        request: Request<AddProjectMemberRequest>,
    ) -> Reply<AddProjectMemberResponse> {
        reply(projects::add_member(self, request).await)
    }

    async fn list_project_members(
        &self,
        request: Request<ListProjectMembersRequest>,
    ) -> Reply<ListProjectMembersResponse> {
        reply(projects::list_members(self, request).await)
    }

    async fn update_project_member(
        &self,
        request: Request<UpdateProjectMemberRequest>,
    ) -> Reply<UpdateProjectMemberResponse> {
        reply(projects::update_member(self, request).await)
    }

    async fn remove_project_member(
        &self,
        request: Request<RemoveProjectMemberRequest>,
    ) -> Reply<RemoveProjectMemberResponse> {
        reply(projects::remove_member(self, request).await)
    }

    async fn create_label(
        &self,
        request: Request<CreateLabelRequest>,
    ) -> Reply<CreateLabelResponse> {
        reply(projects::create_label(self, request).await)
    }

    async fn list_labels(&self, request: Request<ListLabelsRequest>) -> Reply<ListLabelsResponse> {
        reply(projects::list_labels(self, request).await)
    }

    async fn update_label(
        &self,
        request: Request<UpdateLabelRequest>,
    ) -> Reply<UpdateLabelResponse> {
        reply(projects::update_label(self, request).await)
    }

    async fn delete_label(
        &self,
        request: Request<DeleteLabelRequest>,
    ) -> Reply<DeleteLabelResponse> {
        reply(projects::delete_label(self, request).await)
    }
}

#[tonic::async_trait]
impl BoardService for ProjectsApi {
    type WatchBoardStream = watch::WatchStream;

    async fn watch_board(
        &self,
        request: Request<WatchBoardRequest>,
    ) -> Reply<Self::WatchBoardStream> {
        reply(watch::watch(Arc::new(self.clone()), request).await)
    }

    async fn create_board(
        &self,
        request: Request<CreateBoardRequest>,
    ) -> Reply<CreateBoardResponse> {
        reply(boards::create(self, request).await)
    }

    async fn get_board(&self, request: Request<GetBoardRequest>) -> Reply<GetBoardResponse> {
        reply(boards::get(self, request).await)
    }

    async fn list_boards(&self, request: Request<ListBoardsRequest>) -> Reply<ListBoardsResponse> {
        reply(boards::list(self, request).await)
    }

    async fn update_board(
        &self,
        request: Request<UpdateBoardRequest>,
    ) -> Reply<UpdateBoardResponse> {
        reply(boards::update(self, request).await)
    }

    async fn delete_board(
        &self,
        request: Request<DeleteBoardRequest>,
    ) -> Reply<DeleteBoardResponse> {
        reply(boards::delete(self, request).await)
    }

    async fn create_column(
        &self,
        request: Request<CreateColumnRequest>,
    ) -> Reply<CreateColumnResponse> {
        reply(boards::create_column(self, request).await)
    }

    async fn update_column(
        &self,
        request: Request<UpdateColumnRequest>,
    ) -> Reply<UpdateColumnResponse> {
        reply(boards::update_column(self, request).await)
    }

    async fn move_column(&self, request: Request<MoveColumnRequest>) -> Reply<MoveColumnResponse> {
        reply(boards::move_column(self, request).await)
    }

    async fn delete_column(
        &self,
        request: Request<DeleteColumnRequest>,
    ) -> Reply<DeleteColumnResponse> {
        reply(boards::delete_column(self, request).await)
    }
}

#[tonic::async_trait]
impl TaskService for ProjectsApi {
    async fn create_task(&self, request: Request<CreateTaskRequest>) -> Reply<CreateTaskResponse> {
        reply(tasks::create(self, request).await)
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Reply<GetTaskResponse> {
        reply(tasks::get(self, request).await)
    }

    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Reply<ListTasksResponse> {
        reply(tasks::list(self, request).await)
    }

    async fn update_task(&self, request: Request<UpdateTaskRequest>) -> Reply<UpdateTaskResponse> {
        reply(tasks::update(self, request).await)
    }

    async fn move_task(&self, request: Request<MoveTaskRequest>) -> Reply<MoveTaskResponse> {
        reply(moves::move_task(self, request).await)
    }

    async fn delete_task(&self, request: Request<DeleteTaskRequest>) -> Reply<DeleteTaskResponse> {
        reply(moves::delete_task(self, request).await)
    }

    async fn get_task_share_view(
        &self,
        request: Request<GetTaskShareViewRequest>,
    ) -> Reply<GetTaskShareViewResponse> {
        reply(super::share::task_share_view(self, request).await)
    }

    async fn create_comment(
        &self,
        request: Request<CreateCommentRequest>,
    ) -> Reply<CreateCommentResponse> {
        reply(comments::create_comment(self, request).await)
    }

    async fn list_comments(
        &self,
        request: Request<ListCommentsRequest>,
    ) -> Reply<ListCommentsResponse> {
        reply(comments::list_comments(self, request).await)
    }

    async fn update_comment(
        &self,
        request: Request<UpdateCommentRequest>,
    ) -> Reply<UpdateCommentResponse> {
        reply(comments::update_comment(self, request).await)
    }

    async fn delete_comment(
        &self,
        request: Request<DeleteCommentRequest>,
    ) -> Reply<DeleteCommentResponse> {
        reply(comments::delete_comment(self, request).await)
    }

    async fn create_work_log(
        &self,
        request: Request<CreateWorkLogRequest>,
    ) -> Reply<CreateWorkLogResponse> {
        reply(history::create_work_log(self, request).await)
    }

    async fn list_work_logs(
        &self,
        request: Request<ListWorkLogsRequest>,
    ) -> Reply<ListWorkLogsResponse> {
        reply(history::list_work_logs(self, request).await)
    }

    async fn delete_work_log(
        &self,
        request: Request<DeleteWorkLogRequest>,
    ) -> Reply<DeleteWorkLogResponse> {
        reply(history::delete_work_log(self, request).await)
    }

    async fn list_task_activity(
        &self,
        request: Request<ListTaskActivityRequest>,
    ) -> Reply<ListTaskActivityResponse> {
        reply(history::task_activity(self, request).await)
    }

    async fn list_project_activity(
        &self,
        request: Request<ListProjectActivityRequest>,
    ) -> Reply<ListProjectActivityResponse> {
        reply(history::project_activity(self, request).await)
    }

    async fn get_undo_state(
        &self,
        request: Request<GetUndoStateRequest>,
    ) -> Reply<GetUndoStateResponse> {
        reply(undo::state(self, request).await)
    }

    async fn undo_last_action(
        &self,
        request: Request<UndoLastActionRequest>,
    ) -> Reply<UndoLastActionResponse> {
        reply(undo::undo(self, request).await)
    }

    async fn redo_last_action(
        &self,
        request: Request<RedoLastActionRequest>,
    ) -> Reply<RedoLastActionResponse> {
        reply(undo::redo(self, request).await)
    }
}
