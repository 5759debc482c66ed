//! Share links end to end through the edge: a task shared with a password and three visits
//! (the page's form, a wrong password, the task for the right one, the fourth visit
//! refused), JSON on request, the visits listed and counted by analytics; 100 concurrent
//! resolves of a ten-visit link give exactly ten views; a document link's download URL
//! works; visitor context cannot be forged; the view methods refuse users' credentials.

mod support;

use http_body_util::BodyExt;
use support::*;
use taskmesh::analytics::v1::GetLinkMetricsRequest;
use taskmesh::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use taskmesh::documents::v1::document_service_client::DocumentServiceClient;
use taskmesh::documents::v1::{CreateDocumentRequest, GetDocumentShareViewRequest};
use taskmesh::links::v1::link_service_client::LinkServiceClient;
use taskmesh::links::v1::*;
use taskmesh::projects::v1::task_service_client::TaskServiceClient;
use taskmesh::projects::v1::{Comment, CreateCommentRequest, GetTaskShareViewRequest, Task};
use taskmesh::tenancy::v1::{GetMemberDisplayNamesRequest, OrganizationRole};
use tonic::Code;

type Http = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

fn http() -> Http {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// (status, headers, body) of a request to the share page.
async fn page(
    client: &Http,
    mesh: &Mesh,
    slug: &str,
    password: Option<&str>,
    accept: &str,
) -> (u16, http::HeaderMap, String) {
    let uri = format!("http://{}/l/{slug}", mesh.address);
    let builder = http::Request::builder()
        .uri(uri)
        .header("accept", accept)
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .header("referer", "https://mail.example.com/inbox?token=secret");
    let request = match password {
        None => builder.method("GET").body(http_body_util::Full::default()),
        Some(password) => builder
            .method("POST")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(http_body_util::Full::from(format!(
                "password={}",
                password.replace(' ', "+")
            ))),
    }
    .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn create(target: link::Target) -> Link {
    Link {
        target: Some(target),
        ..Link::default()
    }
}

#[tokio::test]
async fn a_password_protected_task_link_shown_three_times_then_refused() {
    let mesh = Mesh::start().await;
    let (ada_user, ada) = mesh.sign_up("ada@share.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "sharers").await;
    let token = ada.access_token.as_str();
    let project = create_project(&mesh.channel, token, "SHR").await;
    let task = create_task(
        &mesh.channel,
        token,
        Task {
            project_id: project.id.clone(),
            title: "Launch <plan> & \"review\"".into(),
            description: "<script>alert(1)</script>".into(),
            assignee_user_ids: vec![ada_user.id.clone()],
            ..Task::default()
        },
    )
    .await;
    TaskServiceClient::new(mesh.channel.clone())
        .create_comment(bearer(
            CreateCommentRequest {
                comment: Some(Comment {
                    task_id: task.id.clone(),
                    body: format!("Looks good @[ada](user:{})", ada_user.id),
                    ..Comment::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap();
    let mut links = LinkServiceClient::new(mesh.channel.clone());
    let link = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    password: "open sesame".into(),
                    max_visits: 3,
                    note: "For the Friday review".into(),
                    allow_comments: true,
                    ..create(link::Target::TaskId(task.id.clone()))
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    assert_eq!(link.slug.len(), 11);
    assert!(link.slug.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    assert!(link.password_protected && link.password.is_empty());
    assert!(link.short_url.ends_with(&format!("/l/{}", link.slug)));

    let client = http();
    // The form, then a wrong password: no visit counted.
    let (status, headers, body) = page(&client, &mesh, &link.slug, None, "text/html").await;
    assert_eq!(status, 401);
    assert!(
        body.contains("<form method=\"post\">") && !body.contains("Launch"),
        "{body}"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (status, _, body) = page(
        &client,
        &mesh,
        &link.slug,
        Some("wrong password"),
        "text/html",
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("not right"));

    // The right password shows the task, escaped, with its comment and the assignee's name.
    for visit in 1..=3 {
        let (status, _, body) =
            page(&client, &mesh, &link.slug, Some("open sesame"), "text/html").await;
        assert_eq!(status, 200, "visit {visit}: {body}");
        assert!(
            body.contains("Launch &lt;plan&gt; &amp; &quot;review&quot;"),
            "{body}"
        );
        assert!(
            body.contains("&lt;script&gt;") && !body.contains("<script"),
            "{body}"
        );
        assert!(
            body.contains("Looks good @ada") && !body.contains(&ada_user.id),
            "mentions read as names: {body}"
        );
        assert!(
            body.contains("For the Friday review")
                && body.contains("Looks good")
                && body.contains("ada"),
            "{body}"
        );
    }
    let (status, _, body) =
        page(&client, &mesh, &link.slug, Some("open sesame"), "text/html").await;
    assert_eq!(status, 404, "the fourth visit: {body}");
    assert!(body.contains("Not found"));

    // The visits, as recorded: anonymized, referrer host only, the browser parsed.
    let visits = links
        .list_link_visits(bearer(
            ListLinkVisitsRequest {
                link_id: link.id.clone(),
                page_size: 10,
                page_token: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .visits;
    assert_eq!(visits.len(), 3);
    assert!(
        visits
            .iter()
            .all(|visit| visit.anonymized_address == "127.0.0.0"
                && visit.referrer_host == "mail.example.com"
                && visit.browser == "Firefox"
                && visit.device_class == "desktop")
    );
    assert_eq!(
        links
            .get_link(bearer(
                GetLinkRequest {
                    id: link.id.clone()
                },
                token
            ))
            .await
            .unwrap()
            .into_inner()
            .link
            .unwrap()
            .visit_count,
        3
    );

    // Analytics counts them, once the third visit is published.
    wait_for_event_where(&mesh, "taskmesh.links.link.visited", |event| {
        use prost::Message;
        taskmesh::events::v1::LinkVisited::decode(event.payload.as_slice())
            .is_ok_and(|visited| visited.link_id == link.id && visited.visit_count == 3)
    })
    .await;
    tokio::time::timeout(
        std::time::Duration::from_secs(15),
        mesh.bus.settled("analytics-links"),
    )
    .await
    .expect("analytics caught up with links");
    let now = mesh::time::now_millis();
    let metrics = AnalyticsServiceClient::new(mesh.channel.clone())
        .get_link_metrics(bearer(
            GetLinkMetricsRequest {
                link_id: link.id.clone(),
                start_time: Some(mesh::time::timestamp(now - 86_400_000)),
                end_time: Some(mesh::time::timestamp(now + 86_400_000)),
                top_links_limit: 5,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((metrics.visit_count, metrics.unique_visitor_count), (3, 1));

    // JSON when asked for; a client's visitor context is not believed.
    let open = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::TaskId(task.id.clone()))),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    let (status, headers, body) = page(&client, &mesh, &open.slug, None, "application/json").await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["task"]["title"], "Launch <plan> & \"review\"");
    assert_eq!(json["organizationId"], organization.id.as_str());
    assert!(
        json["task"]["comments"].is_null(),
        "comments only when allowed"
    );
    // A client naming the organization gets the link only from that organization.
    let narrowed = |organization_slug: &str| {
        let mut links = links.clone();
        let request = ResolveLinkRequest {
            slug: open.slug.clone(),
            organization_slug: organization_slug.into(),
            ..ResolveLinkRequest::default()
        };
        async move { links.resolve_link(request).await }
    };
    assert!(narrowed("sharers").await.is_ok());
    assert_refused(
        narrowed("no-such-org").await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    let forged = links
        .resolve_link(ResolveLinkRequest {
            slug: open.slug.clone(),
            visitor: Some(VisitorContext {
                address: "198.51.100.7".into(),
                user_agent: "Googlebot/2.1".into(),
                referrer: "https://forged.example/".into(),
            }),
            ..ResolveLinkRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(forged.task.unwrap().status, "To Do");
    let visits = links
        .list_link_visits(bearer(
            ListLinkVisitsRequest {
                link_id: open.id.clone(),
                page_size: 10,
                page_token: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .visits;
    assert_eq!(visits[0].anonymized_address, "127.0.0.0");
    assert!(!visits[0].bot && visits[0].referrer_host.is_empty());

    // The view methods answer services only, never a user's token, whatever the role.
    let refused = TaskServiceClient::new(mesh.channel.clone())
        .get_task_share_view(bearer(
            GetTaskShareViewRequest {
                task_id: task.id.clone(),
                include_comments: true,
            },
            token,
        ))
        .await;
    assert_refused(
        refused,
        Code::PermissionDenied,
        "SERVICE_CREDENTIAL_REQUIRED",
    );
    let refused = mesh
        .tenancy()
        .get_member_display_names(bearer(
            GetMemberDisplayNamesRequest {
                user_ids: vec![ada_user.id.clone()],
            },
            token,
        ))
        .await;
    assert_refused(
        refused,
        Code::PermissionDenied,
        "SERVICE_CREDENTIAL_REQUIRED",
    );
    let refused = DocumentServiceClient::new(mesh.channel.clone())
        .get_document_share_view(GetDocumentShareViewRequest {
            document_id: "x".into(),
            shared_by_user_id: String::new(),
        })
        .await;
    assert_refused(
        refused,
        Code::PermissionDenied,
        "SERVICE_CREDENTIAL_REQUIRED",
    );
    let forged_credential = format!("tmsvc_{}", "e30.e30.c2ln");
    let refused = TaskServiceClient::new(mesh.channel.clone())
        .get_task_share_view(bearer(
            GetTaskShareViewRequest {
                task_id: task.id.clone(),
                include_comments: true,
            },
            &forged_credential,
        ))
        .await;
    assert_refused(refused, Code::Unauthenticated, "TOKEN_INVALID");

    // Management: another organization sees nothing; guests may not create; URL links are off.
    let (_, eve) = mesh.sign_up("eve@elsewhere.test").await;
    let (_, eve) = mesh.create_organization(&eve, "elsewhere").await;
    assert_refused(
        links
            .get_link(bearer(
                GetLinkRequest {
                    id: link.id.clone(),
                },
                &eve.access_token,
            ))
            .await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    for refused in [
        links
            .update_link(bearer(
                UpdateLinkRequest {
                    link: Some(Link {
                        id: link.id.clone(),
                        note: "mine".into(),
                        ..Link::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["note".into()],
                    }),
                },
                &eve.access_token,
            ))
            .await
            .map(drop),
        links
            .delete_link(bearer(
                DeleteLinkRequest {
                    id: link.id.clone(),
                    etag: String::new(),
                },
                &eve.access_token,
            ))
            .await
            .map(drop),
        links
            .list_link_visits(bearer(
                ListLinkVisitsRequest {
                    link_id: link.id.clone(),
                    page_size: 0,
                    page_token: String::new(),
                },
                &eve.access_token,
            ))
            .await
            .map(drop),
    ] {
        assert_refused(refused, Code::NotFound, "LINK_NOT_FOUND");
    }
    assert!(
        links
            .list_links(bearer(ListLinksRequest::default(), &eve.access_token))
            .await
            .unwrap()
            .into_inner()
            .links
            .is_empty()
    );
    let (_, gus) = mesh.sign_up("gus@share.test").await;
    let gus = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "gus@share.test",
            OrganizationRole::Guest,
            &gus,
        )
        .await;
    let refused = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::TaskId(task.id.clone()))),
                request_id: String::new(),
            },
            &gus.access_token,
        ))
        .await;
    assert_refused(refused, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    // Guessing is limited: five wrong passwords from one address, then 429 with retry-after,
    // even for the right one.
    let guarded = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    password: "right password".into(),
                    ..create(link::Target::TaskId(task.id.clone()))
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    for guess in 0..5 {
        let (status, _, _) = page(
            &client,
            &mesh,
            &guarded.slug,
            Some(&format!("guess {guess}")),
            "text/html",
        )
        .await;
        assert_eq!(status, 403);
    }
    let (status, headers, _) = page(
        &client,
        &mesh,
        &guarded.slug,
        Some("right password"),
        "text/html",
    )
    .await;
    assert_eq!(status, 429);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let refused = links
        .resolve_link(ResolveLinkRequest {
            slug: guarded.slug.clone(),
            password: "right password".into(),
            ..ResolveLinkRequest::default()
        })
        .await;
    assert_refused(
        refused,
        Code::ResourceExhausted,
        "LINK_PASSWORD_ATTEMPTS_EXCEEDED",
    );

    // Concurrent guesses are counted before they are checked: of 30 at once, at most five
    // get their password checked.
    let raced = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    password: "right password".into(),
                    ..create(link::Target::TaskId(task.id.clone()))
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    let guesses = at_once(30, || {
        let mut links = links.clone();
        let slug = raced.slug.clone();
        async move {
            links
                .resolve_link(ResolveLinkRequest {
                    slug,
                    password: "a wrong guess".into(),
                    ..ResolveLinkRequest::default()
                })
                .await
        }
    })
    .await;
    let reasons: Vec<String> = guesses
        .iter()
        .map(|guess| reason(guess.as_ref().unwrap_err()))
        .collect();
    let checked = reasons
        .iter()
        .filter(|reason| *reason == "LINK_PASSWORD_INVALID")
        .count();
    assert_eq!(checked, 5, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|reason| reason == "LINK_PASSWORD_INVALID"
                || reason == "LINK_PASSWORD_ATTEMPTS_EXCEEDED"),
        "{reasons:?}"
    );

    // A member sees only their own links: another's slug would open what it shares.
    let (_, cat) = mesh.sign_up("cat@share.test").await;
    let cat = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "cat@share.test",
            OrganizationRole::Member,
            &cat,
        )
        .await;
    // A document shared by a member stops showing once its creator makes it private.
    let shared_doc = DocumentServiceClient::new(mesh.channel.clone())
        .create_document(bearer(
            CreateDocumentRequest {
                title: "Handbook".into(),
                content: b"handbook".to_vec(),
                project_id: project.id.clone(),
                visibility: taskmesh::documents::v1::DocumentVisibility::Organization as i32,
                ..CreateDocumentRequest::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    let cats_link = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::DocumentId(shared_doc.id.clone()))),
                request_id: String::new(),
            },
            &cat.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    let (status, _, _) = page(&client, &mesh, &cats_link.slug, None, "text/html").await;
    assert_eq!(status, 200);
    DocumentServiceClient::new(mesh.channel.clone())
        .update_document(bearer(
            taskmesh::documents::v1::UpdateDocumentRequest {
                document: Some(taskmesh::documents::v1::Document {
                    id: shared_doc.id.clone(),
                    visibility: taskmesh::documents::v1::DocumentVisibility::Private as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["visibility".into()],
                }),
            },
            token,
        ))
        .await
        .unwrap();
    let (status, _, _) = page(&client, &mesh, &cats_link.slug, None, "text/html").await;
    assert_eq!(
        status, 404,
        "a private document shows only when its creator shared it"
    );
    assert_refused(
        links
            .get_link(bearer(
                GetLinkRequest {
                    id: link.id.clone(),
                },
                &cat.access_token,
            ))
            .await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    let listed = links
        .list_links(bearer(ListLinksRequest::default(), &cat.access_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .links
            .iter()
            .map(|link| link.id.as_str())
            .collect::<Vec<_>>(),
        [cats_link.id.as_str()],
        "a member lists only their own links"
    );
    let everything = links
        .list_links(bearer(ListLinksRequest::default(), token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everything.links.len(), 5);
    let refused = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::Url("https://example.com/".into()))),
                request_id: String::new(),
            },
            token,
        ))
        .await;
    assert_refused(refused, Code::FailedPrecondition, "URL_LINKS_DISABLED");
    let refused = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::TaskId(
                    uuid::Uuid::now_v7().to_string(),
                ))),
                request_id: String::new(),
            },
            token,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "TASK_NOT_FOUND");

    mesh.stop().await;
}

#[tokio::test]
async fn a_hundred_concurrent_visitors_of_a_ten_visit_link_get_ten_views() {
    let mesh = Mesh::start().await;
    let (_, ada) = mesh.sign_up("ada@crowd.test").await;
    let (_, ada) = mesh.create_organization(&ada, "crowds").await;
    let token = ada.access_token.as_str();
    let project = create_project(&mesh.channel, token, "CRD").await;
    let document = DocumentServiceClient::new(mesh.channel.clone())
        .create_document(bearer(
            CreateDocumentRequest {
                title: "Brief".into(),
                content: b"%PDF-1.7 brief".to_vec(),
                file_name: "brief.pdf".into(),
                project_id: project.id.clone(),
                ..CreateDocumentRequest::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .document
        .unwrap();
    let mut links = LinkServiceClient::new(mesh.channel.clone());
    let link = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    max_visits: 10,
                    slug: "crowd-brief".into(),
                    ..create(link::Target::DocumentId(document.id.clone()))
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    assert_eq!(link.slug, "crowd-brief");
    let taken = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(Link {
                    slug: "crowd-brief".into(),
                    ..create(link::Target::DocumentId(document.id.clone()))
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await;
    assert_refused(taken, Code::AlreadyExists, "SLUG_TAKEN");

    let outcomes = at_once(100, || {
        let mut links = links.clone();
        async move {
            links
                .resolve_link(ResolveLinkRequest {
                    slug: "crowd-brief".into(),
                    ..ResolveLinkRequest::default()
                })
                .await
        }
    })
    .await;
    let views: Vec<_> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .collect();
    assert_eq!(views.len(), 10, "exactly max_visits views");
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(
                (status.code(), reason(status)),
                (Code::NotFound, "LINK_NOT_FOUND".to_string())
            );
        }
    }
    let shared = views[0].get_ref().document.clone().unwrap();
    assert_eq!(
        (shared.file_name.as_str(), shared.content_type.as_str()),
        ("brief.pdf", "application/pdf")
    );
    let path = shared
        .download_url
        .split_once("/d/")
        .map(|(_, token)| format!("/d/{token}"))
        .unwrap();
    let response = http()
        .get(format!("http://{}{path}", mesh.address).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .as_ref(),
        b"%PDF-1.7 brief"
    );
    assert_eq!(
        links
            .get_link(bearer(
                GetLinkRequest {
                    id: link.id.clone()
                },
                token
            ))
            .await
            .unwrap()
            .into_inner()
            .link
            .unwrap()
            .visit_count,
        10
    );

    // Update with a mask and an etag: a new slug (the old one stops at once), more visits;
    // a stale etag is refused; then delete: the slug resolves no more.
    let current = links
        .get_link(bearer(
            GetLinkRequest {
                id: link.id.clone(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    let change = |etag: &str| UpdateLinkRequest {
        link: Some(Link {
            id: link.id.clone(),
            etag: etag.to_string(),
            slug: "crowd-brief-2".into(),
            max_visits: 20,
            password: String::new(),
            ..Link::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["slug".into(), "max_visits".into(), "password".into()],
        }),
    };
    let updated = links
        .update_link(bearer(change(&current.etag), token))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    assert_eq!(
        (
            updated.slug.as_str(),
            updated.max_visits,
            updated.password_protected
        ),
        ("crowd-brief-2", 20, false)
    );
    assert_refused(
        links
            .update_link(bearer(change(&current.etag), token))
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let bad_mask = UpdateLinkRequest {
        link: Some(Link {
            id: link.id.clone(),
            ..Link::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["visit_count".into()],
        }),
    };
    assert_refused(
        links.update_link(bearer(bad_mask, token)).await,
        Code::InvalidArgument,
        "UPDATE_MASK_INVALID",
    );
    let resolver = links.clone();
    let resolve = |slug: &str| {
        let mut links = resolver.clone();
        let request = ResolveLinkRequest {
            slug: slug.into(),
            ..ResolveLinkRequest::default()
        };
        async move { links.resolve_link(request).await }
    };
    assert_refused(
        resolve("crowd-brief").await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    assert!(resolve("crowd-brief-2").await.is_ok());
    links
        .delete_link(bearer(
            DeleteLinkRequest {
                id: link.id.clone(),
                etag: updated.etag.clone(),
            },
            token,
        ))
        .await
        .unwrap();
    assert_refused(
        resolve("crowd-brief-2").await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );

    // Deleting the document deletes its links (link.deleted with target_deleted).
    let doc_link = links
        .create_link(bearer(
            CreateLinkRequest {
                link: Some(create(link::Target::DocumentId(document.id.clone()))),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .link
        .unwrap();
    DocumentServiceClient::new(mesh.channel.clone())
        .delete_document(bearer(
            taskmesh::documents::v1::DeleteDocumentRequest {
                id: document.id.clone(),
                etag: String::new(),
            },
            token,
        ))
        .await
        .unwrap();
    wait_for_event_where(&mesh, "taskmesh.links.link.deleted", |event| {
        use prost::Message;
        taskmesh::events::v1::LinkDeleted::decode(event.payload.as_slice())
            .is_ok_and(|deleted| deleted.link_id == doc_link.id && deleted.target_deleted)
    })
    .await;
    assert_refused(
        links
            .get_link(bearer(
                GetLinkRequest {
                    id: doc_link.id.clone(),
                },
                token,
            ))
            .await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    assert_refused(
        resolve(&doc_link.slug).await,
        Code::NotFound,
        "LINK_NOT_FOUND",
    );
    mesh.stop().await;
}
