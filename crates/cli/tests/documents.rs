//! Documents end to end through the edge: a 20 MiB file uploaded by client streaming (past
//! the edge's 8 MiB body limit, within the service's cap), downloaded by gRPC and by the
//! plain-HTTP URL with the same SHA-256; a grpc-web upload with the unary variant; restore
//! of an old version; an oversize upload refused with nothing left behind; access decided by
//! project membership and visibility; another organization sees nothing; a deleted task
//! hides its documents.

mod support;

use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use support::*;
use taskmesh::documents::v1::document_service_client::DocumentServiceClient;
use taskmesh::documents::v1::upload_document_version_metadata::Target;
use taskmesh::documents::v1::*;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::{DeleteTaskRequest, Task};
use taskmesh::tenancy::v1::OrganizationRole;
use tonic::Code;

const MIB: usize = 1024 * 1024;

/// `size` bytes of a deterministic pattern no compressor or sniffer shortcuts.
fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn upload_stream(
    metadata: UploadDocumentVersionMetadata,
    bytes: &[u8],
) -> impl tokio_stream::Stream<Item = UploadDocumentVersionRequest> + use<> {
    let mut messages = vec![UploadDocumentVersionRequest {
        payload: Some(upload_document_version_request::Payload::Metadata(metadata)),
    }];
    messages.extend(bytes.chunks(MIB).map(|chunk| UploadDocumentVersionRequest {
        payload: Some(upload_document_version_request::Payload::Chunk(
            chunk.to_vec(),
        )),
    }));
    tokio_stream::iter(messages)
}

async fn download(
    client: &mut DocumentServiceClient<tonic::transport::Channel>,
    token: &str,
    id: &str,
    version: i64,
) -> (DocumentVersion, Vec<u8>) {
    let mut stream = client
        .download_document(bearer(
            DownloadDocumentRequest {
                id: id.into(),
                version,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut metadata = None;
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        match message.payload.unwrap() {
            download_document_response::Payload::Metadata(version) => metadata = Some(version),
            download_document_response::Payload::Chunk(chunk) => {
                assert!(chunk.len() <= MIB, "chunks are at most 1 MiB");
                bytes.extend_from_slice(&chunk)
            }
        }
    }
    (metadata.expect("metadata first"), bytes)
}

/// Files under the blob directory (content and staging objects).
fn stored_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn twenty_mebibytes_up_and_down_by_grpc_http_and_grpc_web() {
    let mesh = Mesh::start_with(|config| {
        config
            .update_section("documents", |documents: &mut documents::DocumentsConfig| {
                documents.max_document_bytes = 24 * MIB as u64;
                documents.quota_bytes = 30 * MIB as i64;
            })
            .unwrap();
    })
    .await;
    let (_, ada) = mesh.sign_up("ada@docs.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "doc-makers").await;
    let token = ada.access_token.as_str();
    let project = create_project(&mesh.channel, token, "DOC").await;
    let mut client = DocumentServiceClient::new(mesh.channel.clone())
        .max_decoding_message_size(8 * MIB)
        .max_encoding_message_size(8 * MIB);

    // 20 MiB by client streaming, size and hash stated.
    let big = content(20 * MIB, 7);
    let big_sha = hex(&big);
    let metadata = UploadDocumentVersionMetadata {
        target: Some(Target::NewDocument(NewDocumentMetadata {
            title: "Telemetry dump".into(),
            project_id: project.id.clone(),
            ..NewDocumentMetadata::default()
        })),
        file_name: "logs/dump 2026.bin".into(),
        expected_size: Some(big.len() as i64),
        expected_sha256: big_sha.to_uppercase(),
        ..UploadDocumentVersionMetadata::default()
    };
    let uploaded = client
        .upload_document_version(bearer(upload_stream(metadata, &big), token))
        .await
        .unwrap()
        .into_inner();
    let document = uploaded.document.unwrap();
    let first = uploaded.version.unwrap();
    assert_eq!(
        (first.version, first.size_bytes, first.sha256.as_str()),
        (1, big.len() as i64, big_sha.as_str())
    );
    assert_eq!(
        (
            document.file_name.as_str(),
            document.organization_id.as_str()
        ),
        ("dump 2026.bin", organization.id.as_str())
    );
    assert_eq!(document.content_type, "application/octet-stream");

    // Downloaded by gRPC: the same bytes.
    let (meta, bytes) = download(&mut client, token, &document.id, 0).await;
    assert_eq!((meta.version, hex(&bytes)), (1, big_sha.clone()));

    // Downloaded by the plain-HTTP URL: the same bytes, as an attachment that is never sniffed.
    let link = client
        .create_download_url(bearer(
            CreateDownloadUrlRequest {
                document_id: document.id.clone(),
                version: 0,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(link.version, 1);
    let path = link
        .url
        .split_once("/d/")
        .map(|(_, token)| format!("/d/{token}"))
        .unwrap();
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = http
        .get(format!("http://{}{path}", mesh.address).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"dump 2026.bin\"; filename*=UTF-8''dump%202026.bin"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "private, no-store");
    assert_eq!(headers["content-security-policy"], "sandbox");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(hex(&body), big_sha);
    let tampered = format!("http://{}{}x", mesh.address, path);
    assert_eq!(
        http.get(tampered.parse().unwrap()).await.unwrap().status(),
        404
    );

    // A browser-like grpc-web client adds version 2 with the unary variant.
    let web = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
        );
    let mut browser = DocumentServiceClient::with_origin(
        web,
        format!("http://{}", mesh.address).parse().unwrap(),
    );
    let note = b"%PDF-1.7\nsmall edit\n".to_vec();
    let second = browser
        .upload_document_version_unary(bearer(
            UploadDocumentVersionUnaryRequest {
                metadata: Some(UploadDocumentVersionMetadata {
                    target: Some(Target::DocumentId(document.id.clone())),
                    file_name: "edit.pdf".into(),
                    etag: document.etag.clone(),
                    content_type: "text/html".into(),
                    ..UploadDocumentVersionMetadata::default()
                }),
                content: note.clone(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    let second_version = second.version.unwrap();
    assert_eq!(second_version.version, 2);
    assert_eq!(
        second_version.content_type, "application/pdf",
        "sniffed, not declared"
    );
    assert_eq!(second_version.declared_content_type, "text/html");
    let stale = client
        .upload_document_version_unary(bearer(
            UploadDocumentVersionUnaryRequest {
                metadata: Some(UploadDocumentVersionMetadata {
                    target: Some(Target::DocumentId(document.id.clone())),
                    etag: document.etag.clone(),
                    ..UploadDocumentVersionMetadata::default()
                }),
                content: b"late".to_vec(),
            },
            token,
        ))
        .await;
    assert_refused(stale, Code::Aborted, "ETAG_MISMATCH");

    // Restoring version 1 makes version 3 with its content.
    let restored = client
        .restore_document_version(bearer(
            RestoreDocumentVersionRequest {
                document_id: document.id.clone(),
                version: 1,
                ..RestoreDocumentVersionRequest::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    let third = restored.version.unwrap();
    assert_eq!(
        (
            third.version,
            third.restored_from_version,
            third.sha256.as_str()
        ),
        (3, 1, big_sha.as_str())
    );
    let (meta, bytes) = download(&mut client, token, &document.id, 0).await;
    assert_eq!((meta.version, hex(&bytes)), (3, big_sha.clone()));
    let (_, bytes) = download(&mut client, token, &document.id, 2).await;
    assert_eq!(bytes, note);
    let again = client
        .restore_document_version(bearer(
            RestoreDocumentVersionRequest {
                document_id: document.id.clone(),
                version: 3,
                ..RestoreDocumentVersionRequest::default()
            },
            token,
        ))
        .await;
    assert_refused(
        again,
        Code::FailedPrecondition,
        "DOCUMENT_VERSION_IS_CURRENT",
    );
    let versions = client
        .list_document_versions(bearer(
            ListDocumentVersionsRequest {
                document_id: document.id.clone(),
                page_size: 2,
                page_token: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        versions
            .document_versions
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert!(!versions.next_page_token.is_empty());

    // An upload over the cap fails as the bytes pass it, and leaves nothing behind.
    let blob_root = mesh.data.path().join("documents");
    let before = stored_files(&blob_root);
    let oversize = content(25 * MIB, 9);
    let metadata = UploadDocumentVersionMetadata {
        target: Some(Target::NewDocument(NewDocumentMetadata {
            title: "Too big".into(),
            project_id: project.id.clone(),
            ..NewDocumentMetadata::default()
        })),
        ..UploadDocumentVersionMetadata::default()
    };
    let refused = client
        .upload_document_version(bearer(upload_stream(metadata, &oversize), token))
        .await;
    assert_refused(refused, Code::ResourceExhausted, "DOCUMENT_TOO_LARGE");
    assert_eq!(
        stored_files(&blob_root),
        before,
        "no blob, no staging object"
    );
    let listed = client
        .list_documents(bearer(ListDocumentsRequest::default(), token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .documents
            .iter()
            .map(|d| d.title.as_str())
            .collect::<Vec<_>>(),
        ["Telemetry dump"]
    );
    // The organization's quota (30 MiB, 20 used): a distinct 12 MiB upload is refused and
    // leaves nothing; the same 20 MiB again costs nothing (stored once).
    let over_quota = content(12 * MIB, 11);
    let metadata = UploadDocumentVersionMetadata {
        target: Some(Target::NewDocument(NewDocumentMetadata {
            title: "One too many".into(),
            project_id: project.id.clone(),
            ..NewDocumentMetadata::default()
        })),
        ..UploadDocumentVersionMetadata::default()
    };
    let refused = client
        .upload_document_version(bearer(upload_stream(metadata, &over_quota), token))
        .await;
    assert_refused(refused, Code::ResourceExhausted, "STORAGE_QUOTA_EXCEEDED");
    assert_eq!(
        stored_files(&blob_root),
        before,
        "no blob, no staging object"
    );
    let metadata = UploadDocumentVersionMetadata {
        target: Some(Target::NewDocument(NewDocumentMetadata {
            title: "Copy".into(),
            project_id: project.id.clone(),
            ..NewDocumentMetadata::default()
        })),
        ..UploadDocumentVersionMetadata::default()
    };
    let copy = client
        .upload_document_version(bearer(upload_stream(metadata, &big), token))
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    assert_eq!(
        stored_files(&blob_root),
        before,
        "the same bytes are stored once"
    );
    client
        .delete_document(bearer(
            DeleteDocumentRequest {
                id: copy.id.clone(),
                etag: copy.etag.clone(),
            },
            token,
        ))
        .await
        .unwrap();
    // A stated size over the cap is refused before any byte is read.
    let declared = UploadDocumentVersionMetadata {
        target: Some(Target::DocumentId(document.id.clone())),
        expected_size: Some(30 * MIB as i64),
        ..UploadDocumentVersionMetadata::default()
    };
    let refused = client
        .upload_document_version(bearer(upload_stream(declared, b""), token))
        .await;
    assert_refused(refused, Code::ResourceExhausted, "DOCUMENT_TOO_LARGE");
    let wrong_hash = UploadDocumentVersionMetadata {
        target: Some(Target::DocumentId(document.id.clone())),
        expected_sha256: "0".repeat(64),
        ..UploadDocumentVersionMetadata::default()
    };
    let refused = client
        .upload_document_version(bearer(upload_stream(wrong_hash, b"abc"), token))
        .await;
    assert_refused(refused, Code::InvalidArgument, "CHECKSUM_MISMATCH");
    let chunk_first = tokio_stream::iter([UploadDocumentVersionRequest {
        payload: Some(upload_document_version_request::Payload::Chunk(
            b"x".to_vec(),
        )),
    }]);
    let refused = client
        .upload_document_version(bearer(chunk_first, token))
        .await;
    assert_refused(refused, Code::InvalidArgument, "UPLOAD_SEQUENCE_INVALID");

    // Another organization cannot read it by id, by any RPC.
    let (_, eve) = mesh.sign_up("eve@elsewhere.test").await;
    let (_, eve) = mesh.create_organization(&eve, "elsewhere").await;
    let eve = eve.access_token.as_str();
    // ... nor change it, add to it or list its versions.
    let refused = client
        .update_document(bearer(
            UpdateDocumentRequest {
                document: Some(Document {
                    id: document.id.clone(),
                    title: "Mine now".into(),
                    ..Document::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
            },
            eve,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "DOCUMENT_NOT_FOUND");
    let refused = client
        .upload_document_version_unary(bearer(
            UploadDocumentVersionUnaryRequest {
                metadata: Some(UploadDocumentVersionMetadata {
                    target: Some(Target::DocumentId(document.id.clone())),
                    ..UploadDocumentVersionMetadata::default()
                }),
                content: b"overwrite".to_vec(),
            },
            eve,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "DOCUMENT_NOT_FOUND");
    let refused = client
        .list_document_versions(bearer(
            ListDocumentVersionsRequest {
                document_id: document.id.clone(),
                page_size: 0,
                page_token: String::new(),
            },
            eve,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "DOCUMENT_NOT_FOUND");
    let refused = client
        .restore_document_version(bearer(
            RestoreDocumentVersionRequest {
                document_id: document.id.clone(),
                version: 1,
                ..RestoreDocumentVersionRequest::default()
            },
            eve,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "DOCUMENT_NOT_FOUND");
    assert_refused(
        client
            .get_document(bearer(
                GetDocumentRequest {
                    id: document.id.clone(),
                },
                eve,
            ))
            .await,
        Code::NotFound,
        "DOCUMENT_NOT_FOUND",
    );
    assert_refused(
        client
            .download_document(bearer(
                DownloadDocumentRequest {
                    id: document.id.clone(),
                    version: 1,
                },
                eve,
            ))
            .await,
        Code::NotFound,
        "DOCUMENT_NOT_FOUND",
    );
    assert_refused(
        client
            .create_download_url(bearer(
                CreateDownloadUrlRequest {
                    document_id: document.id.clone(),
                    version: 0,
                },
                eve,
            ))
            .await,
        Code::NotFound,
        "DOCUMENT_NOT_FOUND",
    );
    assert_refused(
        client
            .delete_document(bearer(
                DeleteDocumentRequest {
                    id: document.id.clone(),
                    etag: String::new(),
                },
                eve,
            ))
            .await,
        Code::NotFound,
        "DOCUMENT_NOT_FOUND",
    );
    assert!(
        client
            .list_documents(bearer(ListDocumentsRequest::default(), eve))
            .await
            .unwrap()
            .into_inner()
            .documents
            .is_empty()
    );

    // A member outside the project reads it only once it is shared with the organization.
    let (carol_user, carol) = mesh.sign_up("carol@docs.test").await;
    let carol = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "carol@docs.test",
            OrganizationRole::Member,
            &carol,
        )
        .await;
    let carol = carol.access_token.as_str();
    let reader = client.clone();
    let get = |token: &str| {
        let mut client = reader.clone();
        let request = bearer(
            GetDocumentRequest {
                id: document.id.clone(),
            },
            token,
        );
        async move { client.get_document(request).await }
    };
    assert_refused(get(carol).await, Code::NotFound, "DOCUMENT_NOT_FOUND");
    let current = get(token).await.unwrap().into_inner().document.unwrap();
    client
        .update_document(bearer(
            UpdateDocumentRequest {
                document: Some(Document {
                    id: document.id.clone(),
                    etag: current.etag.clone(),
                    visibility: DocumentVisibility::Organization as i32,
                    ..Document::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["visibility".into()],
                }),
            },
            token,
        ))
        .await
        .unwrap();
    assert_eq!(
        get(carol)
            .await
            .unwrap()
            .into_inner()
            .document
            .unwrap()
            .visibility,
        DocumentVisibility::Organization as i32
    );
    let listed = client
        .list_documents(bearer(ListDocumentsRequest::default(), carol))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.documents.len(), 1);
    let carol_upload = client
        .upload_document_version_unary(bearer(
            UploadDocumentVersionUnaryRequest {
                metadata: Some(UploadDocumentVersionMetadata {
                    target: Some(Target::DocumentId(document.id.clone())),
                    ..UploadDocumentVersionMetadata::default()
                }),
                content: b"not allowed".to_vec(),
            },
            carol,
        ))
        .await;
    assert_refused(carol_upload, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    add_project_member(&mesh.channel, token, &project.id, &carol_user.id).await;

    // A document of a task is hidden when the task is deleted.
    let task = create_task(
        &mesh.channel,
        token,
        Task {
            project_id: project.id.clone(),
            title: "Spec it".into(),
            ..Task::default()
        },
    )
    .await;
    let attached = client
        .create_document(bearer(
            CreateDocumentRequest {
                title: "Spec".into(),
                content: b"# Spec\n".to_vec(),
                content_type: "text/markdown".into(),
                task_id: task.id.clone(),
                project_id: project.id.clone(),
                ..CreateDocumentRequest::default()
            },
            carol,
        ))
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    assert_eq!(
        (attached.content_type.as_str(), attached.task_id.as_str()),
        ("text/markdown", task.id.as_str())
    );
    TaskServiceClient::new(mesh.channel.clone())
        .delete_task(bearer(
            DeleteTaskRequest {
                id: task.id.clone(),
                etag: String::new(),
            },
            token,
        ))
        .await
        .unwrap();
    // Published first (the relay runs after the commit), then applied.
    wait_for_event_where(&mesh, "taskmesh.projects.task.deleted", |event| {
        event.resource.ends_with(&task.id)
    })
    .await;
    tokio::time::timeout(
        std::time::Duration::from_secs(15),
        mesh.bus.settled("documents-projects"),
    )
    .await
    .expect("documents caught up with projects");
    let hidden = client
        .get_document(bearer(
            GetDocumentRequest {
                id: attached.id.clone(),
            },
            token,
        ))
        .await;
    assert_refused(hidden, Code::NotFound, "DOCUMENT_NOT_FOUND");

    mesh.stop().await;
}
