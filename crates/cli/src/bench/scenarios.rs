//! The workloads a scenario's workers call, one step per call: the bare baseline, single RPCs
//! through the whole edge stack, the read-heavy Kanban mix, and logins.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use rand::rngs::StdRng;
use taskmesh::identity::v1::identity_service_client::IdentityServiceClient;
use taskmesh::identity::v1::*;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::*;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use super::load::{Outcome, Workload, outcome};
use super::world::{PASSWORD, World, bearer};

/// grpc.health.v1.Health/Check on a bare tonic server: the denominator.
pub struct Baseline;

#[async_trait::async_trait]
impl Workload for Baseline {
    async fn step(&self, channel: &Channel, _: &mut StdRng) -> Outcome {
        let result = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
        outcome("Health/Check (bare)", result)
    }
}

/// The calls a scenario makes against the project of a [`World`].
pub struct Calls {
    pub world: Arc<World>,
    created: AtomicU64,
}

impl Calls {
    pub fn new(world: World) -> Arc<Self> {
        Arc::new(Self {
            world: Arc::new(world),
            created: AtomicU64::new(0),
        })
    }

    fn tasks(channel: &Channel) -> TaskServiceClient<Channel> {
        TaskServiceClient::new(channel.clone())
    }

    fn any_task(&self, rng: &mut StdRng) -> String {
        let ids = &self.world.task_ids;
        ids[rng.random_range(0..ids.len())].clone()
    }

    pub async fn get_task(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let request = GetTaskRequest {
            task_ref: Some(get_task_request::TaskRef::Id(self.any_task(rng))),
            view: 0,
        };
        let result = Self::tasks(channel)
            .get_task(bearer(request, &self.world.token))
            .await;
        outcome("GetTask", result)
    }

    /// A first page in rank order, a page deep in it, or the newest tasks (the far end of the
    /// creation order): each reads 50 tasks through an index.
    pub async fn list_tasks(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let world = &self.world;
        let mut request = ListTasksRequest {
            project_id: world.project_id.clone(),
            page_size: 50,
            ..ListTasksRequest::default()
        };
        let rpc = match rng.random_range(0..3) {
            0 => "ListTasks (first page)",
            1 if !world.deep_page_tokens.is_empty() => {
                let tokens = &world.deep_page_tokens;
                request.page_size = 100;
                request.page_token = tokens[rng.random_range(0..tokens.len())].clone();
                "ListTasks (deep page)"
            }
            _ => {
                request.order_by = "create_time desc".into();
                "ListTasks (newest)"
            }
        };
        let result = Self::tasks(channel)
            .list_tasks(bearer(request, &world.token))
            .await;
        outcome(rpc, result)
    }

    pub async fn create_task(&self, channel: &Channel, _: &mut StdRng) -> Outcome {
        let number = self.created.fetch_add(1, Ordering::Relaxed);
        let projects = &self.world.create_project_ids;
        let request = CreateTaskRequest {
            task: Some(Task {
                project_id: projects[number as usize % projects.len()].clone(),
                title: format!("Bench task {number}"),
                ..Task::default()
            }),
            request_id: String::new(),
        };
        let result = Self::tasks(channel)
            .create_task(bearer(request, &self.world.token))
            .await;
        outcome("CreateTask", result)
    }

    /// Moves a task to another column, to its top (one row written).
    pub async fn move_task(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let columns = &self.world.columns;
        let request = MoveTaskRequest {
            id: self.any_task(rng),
            column_id: columns[rng.random_range(0..columns.len())].clone(),
            position: None,
            etag: String::new(),
        };
        let result = Self::tasks(channel)
            .move_task(bearer(request, &self.world.token))
            .await;
        outcome("MoveTask", result)
    }

    pub async fn list_comments(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let request = ListCommentsRequest {
            task_id: self.any_task(rng),
            page_size: 20,
            ..ListCommentsRequest::default()
        };
        let result = Self::tasks(channel)
            .list_comments(bearer(request, &self.world.token))
            .await;
        outcome("ListComments", result)
    }

    pub async fn create_comment(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let request = CreateCommentRequest {
            comment: Some(Comment {
                task_id: self.any_task(rng),
                body: "Looks good to me.".into(),
                ..Comment::default()
            }),
            request_id: String::new(),
        };
        let result = Self::tasks(channel)
            .create_comment(bearer(request, &self.world.token))
            .await;
        outcome("CreateComment", result)
    }

    /// ResolveLink of an unlimited, password-less task link: public, a view built from
    /// projects and tenancy with a service credential, a visit counted (one write).
    pub async fn resolve_link(&self, channel: &Channel) -> Outcome {
        let request = taskmesh::links::v1::ResolveLinkRequest {
            slug: self.world.share_slug.clone(),
            ..Default::default()
        };
        let result =
            taskmesh::links::v1::link_service_client::LinkServiceClient::new(channel.clone())
                .resolve_link(request)
                .await;
        outcome("ResolveLink", result)
    }

    /// DownloadDocument of a 256 KiB document, every chunk read.
    pub async fn download(&self, channel: &Channel) -> Outcome {
        let request = taskmesh::documents::v1::DownloadDocumentRequest {
            id: self.world.document_id.clone(),
            version: 0,
        };
        let mut client =
            taskmesh::documents::v1::document_service_client::DocumentServiceClient::new(
                channel.clone(),
            );
        let result = async {
            let mut stream = client
                .download_document(bearer(request, &self.world.token))
                .await?
                .into_inner();
            let mut bytes = 0;
            while let Some(message) = stream.message().await? {
                if let Some(taskmesh::documents::v1::download_document_response::Payload::Chunk(
                    chunk,
                )) = message.payload
                {
                    bytes += chunk.len();
                }
            }
            Ok::<_, tonic::Status>(tonic::Response::new(bytes))
        }
        .await;
        outcome("DownloadDocument (256 KiB)", result)
    }

    /// UploadDocumentVersion of a new 1 MiB document, streamed in 64 KiB chunks (distinct
    /// bytes each time, so every upload stores a new content).
    pub async fn upload(&self, channel: &Channel) -> Outcome {
        use taskmesh::documents::v1::upload_document_version_metadata::Target;
        use taskmesh::documents::v1::upload_document_version_request::Payload;
        use taskmesh::documents::v1::{
            NewDocumentMetadata, UploadDocumentVersionMetadata, UploadDocumentVersionRequest,
        };
        const CHUNK: usize = 64 * 1024;
        let number = self.created.fetch_add(1, Ordering::Relaxed);
        let metadata = UploadDocumentVersionMetadata {
            target: Some(Target::NewDocument(NewDocumentMetadata {
                title: format!("Bench upload {number}"),
                project_id: self.world.project_id.clone(),
                ..NewDocumentMetadata::default()
            })),
            expected_size: Some((16 * CHUNK) as i64),
            ..UploadDocumentVersionMetadata::default()
        };
        let mut messages = vec![UploadDocumentVersionRequest {
            payload: Some(Payload::Metadata(metadata)),
        }];
        for chunk in 0..16_u64 {
            let mut bytes = vec![(chunk % 251) as u8; CHUNK];
            bytes[..8].copy_from_slice(&number.to_le_bytes());
            messages.push(UploadDocumentVersionRequest {
                payload: Some(Payload::Chunk(bytes)),
            });
        }
        let result = taskmesh::documents::v1::document_service_client::DocumentServiceClient::new(
            channel.clone(),
        )
        .upload_document_version(bearer(tokio_stream::iter(messages), &self.world.token))
        .await;
        outcome("UploadDocumentVersion (1 MiB)", result)
    }

    pub async fn login(&self, channel: &Channel) -> Outcome {
        let request = LoginRequest {
            email: self.world.email.clone(),
            password: PASSWORD.into(),
            organization: Some(login_request::Organization::OrganizationId(
                self.world.organization_id.clone(),
            )),
        };
        let result = IdentityServiceClient::new(channel.clone())
            .login(request)
            .await;
        outcome("Login", result)
    }
}

/// Which calls a workload makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    GetTask,
    ListTasks,
    CreateTask,
    MoveTask,
    /// Read-heavy Kanban use: 40% GetTask, 25% ListTasks, 15% ListComments, 10% MoveTask,
    /// 5% CreateComment, 5% CreateTask.
    Kanban,
    Login,
    /// ResolveLink (the share page's call).
    Share,
    /// DownloadDocument.
    Download,
    /// UploadDocumentVersion.
    Upload,
}

pub struct Mixed {
    pub calls: Arc<Calls>,
    pub mix: Mix,
}

#[async_trait::async_trait]
impl Workload for Mixed {
    async fn step(&self, channel: &Channel, rng: &mut StdRng) -> Outcome {
        let calls = &self.calls;
        match self.mix {
            Mix::GetTask => calls.get_task(channel, rng).await,
            Mix::ListTasks => calls.list_tasks(channel, rng).await,
            Mix::CreateTask => calls.create_task(channel, rng).await,
            Mix::MoveTask => calls.move_task(channel, rng).await,
            Mix::Login => calls.login(channel).await,
            Mix::Share => calls.resolve_link(channel).await,
            Mix::Download => calls.download(channel).await,
            Mix::Upload => calls.upload(channel).await,
            Mix::Kanban => match rng.random_range(0..100) {
                0..40 => calls.get_task(channel, rng).await,
                40..65 => calls.list_tasks(channel, rng).await,
                65..80 => calls.list_comments(channel, rng).await,
                80..90 => calls.move_task(channel, rng).await,
                90..95 => calls.create_comment(channel, rng).await,
                _ => calls.create_task(channel, rng).await,
            },
        }
    }
}
