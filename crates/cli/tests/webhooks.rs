//! Webhooks end to end through the edge: endpoints created over gRPC, events of real calls
//! delivered to loopback receivers (allow-listed) with Standard Webhooks signatures checked
//! by an independent implementation, failures retried with every attempt in the log, 410
//! switching an endpoint off, rotation, redelivery and test sends, and what must never
//! happen: secrets delivered, internal addresses accepted, another tenant's events received.

mod support;

use mesh::testing_http::{Received, Receiver, receiver, standard_webhook_signatures};
use prost::Message;
use support::*;
use taskmesh::events::v1::WebhookDeliveryFailed;
use taskmesh::notifications::v1::notification_service_client::NotificationServiceClient;
use taskmesh::notifications::v1::webhook_service_client::WebhookServiceClient;
use taskmesh::notifications::v1::*;
use taskmesh::projects::v1::Task;
use taskmesh::tenancy::v1::OrganizationRole;
use tonic::Code;
use tonic::transport::Channel;

fn create(url: &str, types: &[&str], project_id: &str) -> CreateWebhookEndpointRequest {
    CreateWebhookEndpointRequest {
        url: url.into(),
        description: "test receiver".into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        request_id: String::new(),
        project_id: project_id.into(),
    }
}

async fn endpoint(
    hooks: &mut WebhookServiceClient<Channel>,
    token: &str,
    request: CreateWebhookEndpointRequest,
) -> (WebhookEndpoint, String) {
    let created = hooks
        .create_webhook_endpoint(bearer(request, token))
        .await
        .unwrap()
        .into_inner();
    (created.webhook_endpoint.unwrap(), created.secret)
}

fn body(request: &Received) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// Requests until one of `event_type` arrives (all checked against `secret`); returns them.
async fn until(receiver: &mut Receiver, secret: &str, event_type: &str) -> Vec<Received> {
    let mut seen = Vec::new();
    loop {
        let request = receiver.next(15).await;
        assert_eq!(
            standard_webhook_signatures(secret, &request),
            1,
            "{request:?}"
        );
        let done = body(&request)["type"] == event_type;
        seen.push(request);
        if done {
            return seen;
        }
    }
}

async fn deliveries(
    hooks: &mut WebhookServiceClient<Channel>,
    token: &str,
    endpoint_id: &str,
) -> Vec<WebhookDelivery> {
    hooks
        .list_webhook_deliveries(bearer(
            ListWebhookDeliveriesRequest {
                endpoint_id: endpoint_id.into(),
                ..ListWebhookDeliveriesRequest::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .webhook_deliveries
}

#[tokio::test]
async fn endpoints_refuse_internal_addresses_secrets_and_non_admins() {
    let mesh = Mesh::start().await;
    let (_, ada) = mesh.sign_up("ada@refuse.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "refusers").await;
    let token = ada.access_token.as_str();
    let mut hooks = WebhookServiceClient::new(mesh.channel.clone());
    let all = ["*"];
    for (url, reason) in [
        ("http://127.0.0.1:9/hook", "URL_NOT_ALLOWED"),
        ("http://localhost:9/hook", "URL_NOT_ALLOWED"),
        ("http://2130706433/hook", "URL_NOT_ALLOWED"),
        ("http://0x7f.1/hook", "URL_NOT_ALLOWED"),
        ("http://10.1.2.3/hook", "URL_NOT_ALLOWED"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "URL_NOT_ALLOWED",
        ),
        ("http://[::1]/hook", "URL_NOT_ALLOWED"),
        ("http://[::ffff:10.0.0.1]/hook", "URL_NOT_ALLOWED"),
        ("http://[fd00:ec2::254]/hook", "URL_NOT_ALLOWED"),
        ("http://100.100.100.200/hook", "URL_NOT_ALLOWED"),
        ("https://user:secret@example.com/hook", "URL_NOT_ALLOWED"),
        ("ftp://example.com/hook", "URL_NOT_ALLOWED"),
        ("http://no-such-host.invalid/hook", "URL_UNRESOLVABLE"),
        ("not a url", "FIELD_INVALID"),
    ] {
        let refused = hooks
            .create_webhook_endpoint(bearer(create(url, &all, ""), token))
            .await;
        assert_refused(refused, Code::InvalidArgument, reason);
    }
    for (event_type, reason) in [
        (
            "taskmesh.tenancy.invitation.created",
            "EVENT_TYPE_NOT_DELIVERABLE",
        ),
        (
            "taskmesh.identity.password_reset.requested",
            "EVENT_TYPE_NOT_DELIVERABLE",
        ),
        ("taskmesh.projects.task.exploded", "EVENT_TYPE_UNKNOWN"),
    ] {
        let refused = hooks
            .create_webhook_endpoint(bearer(
                create("http://93.184.216.34/", &[event_type], ""),
                token,
            ))
            .await;
        assert_refused(refused, Code::InvalidArgument, reason);
    }
    let unknown_project = uuid::Uuid::now_v7().to_string();
    let refused = hooks
        .create_webhook_endpoint(bearer(
            create("http://93.184.216.34/", &all, &unknown_project),
            token,
        ))
        .await;
    assert_refused(refused, Code::NotFound, "PROJECT_NOT_FOUND");
    // A member is not an admin.
    let (_, bob) = mesh.sign_up("bob@refuse.test").await;
    let bob = mesh
        .invite_and_join(
            &ada,
            &organization.id,
            "bob@refuse.test",
            OrganizationRole::Member,
            &bob,
        )
        .await;
    let refused = hooks
        .list_webhook_endpoints(bearer(
            ListWebhookEndpointsRequest::default(),
            &bob.access_token,
        ))
        .await;
    assert_refused(refused, Code::PermissionDenied, "ROLE_INSUFFICIENT");
    mesh.stop().await;
}

#[tokio::test]
async fn events_reach_allow_listed_receivers_signed_and_failures_are_retried_in_the_log() {
    let mesh = Mesh::start_with(|config| {
        config
            .update_section(
                "notifications",
                |n: &mut notifications::NotificationsConfig| {
                    n.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
                    // Retries at once, so the test does not wait minutes.
                    n.webhook_retry_delays_ms = vec![0, 0];
                },
            )
            .unwrap();
    })
    .await;
    let (ada_user, ada) = mesh.sign_up("ada@hooks.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "hooks").await;
    let token = ada.access_token.as_str();
    let mut hooks = WebhookServiceClient::new(mesh.channel.clone());
    let project = support::create_project(&mesh.channel, token, "HOOK").await;

    // An endpoint for everything; its secret is shown once, and again only to a retry of
    // the same create.
    let mut everything = receiver(vec![200]).await;
    let mut request = create(&everything.url, &["*"], "");
    request.request_id = "hook-1".into();
    let (all, secret) = endpoint(&mut hooks, token, request.clone()).await;
    assert!(secret.starts_with("whsec_"));
    let (again, same) = endpoint(&mut hooks, token, request).await;
    assert_eq!(
        (again.id.as_str(), same.as_str()),
        (all.id.as_str(), secret.as_str())
    );
    let got = hooks
        .get_webhook_endpoint(bearer(
            GetWebhookEndpointRequest { id: all.id.clone() },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{got:?}").contains(&secret[6..]),
        "the secret is never read back"
    );

    // An invitation carries a secret token: never delivered, even to `*`.
    mesh.invite(
        token,
        &organization.id,
        "cy@hooks.test",
        OrganizationRole::Member,
    )
    .await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Signed".into(),
        ..Task::default()
    };
    support::create_task(&mesh.channel, token, task).await;
    let received = until(&mut everything, &secret, "taskmesh.projects.task.created").await;
    for request in &received {
        assert_ne!(body(request)["type"], "taskmesh.tenancy.invitation.created");
        assert!(
            !String::from_utf8_lossy(&request.body).contains("tminv_"),
            "{request:?}"
        );
    }
    let created = body(received.last().unwrap());
    assert_eq!(created["organization_id"], organization.id);
    assert_eq!(created["project_id"], project.id);
    assert_eq!(created["actor"]["user_id"], ada_user.id);
    assert_eq!(created["data"]["title"], "Signed");
    assert_eq!(
        received.last().unwrap().headers["webhook-id"],
        created["id"]
    );

    // A receiver answering 500: retried (same webhook-id, fresh signatures), then given up;
    // the log shows each attempt.
    let mut failing = receiver(vec![500]).await;
    let (broken, broken_secret) = endpoint(
        &mut hooks,
        token,
        create(
            &failing.url,
            &["taskmesh.projects.task.created"],
            &project.id,
        ),
    )
    .await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Retried".into(),
        ..Task::default()
    };
    support::create_task(&mesh.channel, token, task).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let request = failing.next(15).await;
        assert_eq!(standard_webhook_signatures(&broken_secret, &request), 1);
        assert_eq!(body(&request)["data"]["title"], "Retried");
        ids.push(request.headers["webhook-id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let failed = wait_for_event_where(
        &mesh,
        "taskmesh.notifications.webhook_delivery.failed",
        |event| {
            WebhookDeliveryFailed::decode(event.payload.as_slice())
                .unwrap()
                .webhook_endpoint_id
                == broken.id
        },
    )
    .await;
    let failed = WebhookDeliveryFailed::decode(failed.payload.as_slice()).unwrap();
    assert_eq!(
        (
            failed.attempt_count,
            failed.response_status_code,
            failed.will_retry
        ),
        (3, 500, false)
    );
    let log = deliveries(&mut hooks, token, &broken.id).await;
    assert_eq!(log.len(), 1);
    let delivery = &log[0];
    assert_eq!(delivery.status, WebhookDeliveryStatus::Failed as i32);
    assert_eq!(
        (delivery.attempt_count, delivery.response_status_code),
        (3, 500)
    );
    assert_eq!(delivery.event_id, ids[0]);
    assert_eq!(
        delivery
            .attempts
            .iter()
            .map(|a| (a.number, a.response_status_code))
            .collect::<Vec<_>>(),
        vec![(1, 500), (2, 500), (3, 500)]
    );
    assert!(
        delivery
            .attempts
            .iter()
            .all(|a| a.error == "HTTP 500" && a.latency.is_some())
    );

    // Redelivery: a new delivery of the same event.
    let redelivered = hooks
        .redeliver_webhook(bearer(
            RedeliverWebhookRequest {
                delivery_id: delivery.id.clone(),
                request_id: "again-1".into(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .webhook_delivery
        .unwrap();
    assert_eq!(redelivered.event_id, delivery.event_id);
    assert_ne!(redelivered.id, delivery.id);
    assert_eq!(
        failing.next(15).await.headers["webhook-id"],
        delivery.event_id
    );

    // Rotation: during the grace period both secrets sign; a test send shows it at once.
    let rotated = hooks
        .rotate_webhook_secret(bearer(
            RotateWebhookSecretRequest {
                id: all.id.clone(),
                grace_period: None,
                etag: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        rotated
            .webhook_endpoint
            .unwrap()
            .previous_secret_expire_time
            .is_some()
    );
    let test = hooks
        .send_test_webhook(bearer(
            SendTestWebhookRequest {
                endpoint_id: all.id.clone(),
                event_type: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .webhook_delivery
        .unwrap();
    assert_eq!(test.status, WebhookDeliveryStatus::Succeeded as i32);
    assert_eq!(test.attempts.len(), 1);
    let request = loop {
        let request = everything.next(15).await;
        if body(&request)["type"] == "taskmesh.notifications.webhook.test" {
            break request;
        }
    };
    assert_eq!(standard_webhook_signatures(&secret, &request), 1);
    assert_eq!(standard_webhook_signatures(&rotated.secret, &request), 1);
    assert_eq!(request.headers["webhook-signature"].split(' ').count(), 2);

    // 410 Gone switches the endpoint off and tells the owner.
    let mut gone = receiver(vec![410]).await;
    let (leaving, _) = endpoint(
        &mut hooks,
        token,
        create(&gone.url, &["taskmesh.projects.task.created"], ""),
    )
    .await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Gone".into(),
        ..Task::default()
    };
    support::create_task(&mesh.channel, token, task).await;
    assert_eq!(gone.next(15).await.answered, 410);
    wait_for_event_where(
        &mesh,
        "taskmesh.notifications.webhook_delivery.failed",
        |event| {
            let failed = WebhookDeliveryFailed::decode(event.payload.as_slice()).unwrap();
            failed.webhook_endpoint_id == leaving.id && failed.endpoint_disabled
        },
    )
    .await;
    let state = hooks
        .get_webhook_endpoint(bearer(
            GetWebhookEndpointRequest {
                id: leaving.id.clone(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .webhook_endpoint
        .unwrap()
        .state;
    assert_eq!(state, WebhookEndpointState::Gone as i32);
    let inbox = NotificationServiceClient::new(mesh.channel.clone())
        .list_notifications(bearer(
            ListNotificationsRequest {
                filter: "kind = NOTIFICATION_KIND_WEBHOOK_ENDPOINT_DISABLED".into(),
                ..ListNotificationsRequest::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let gone_delivery = deliveries(&mut hooks, token, &leaving.id).await[0]
        .id
        .clone();
    let refused = hooks
        .redeliver_webhook(bearer(
            RedeliverWebhookRequest {
                delivery_id: gone_delivery,
                request_id: String::new(),
            },
            token,
        ))
        .await;
    assert_refused(
        refused,
        Code::FailedPrecondition,
        "WEBHOOK_ENDPOINT_NOT_ENABLED",
    );

    // Another organization: its admin cannot see these endpoints, and its `*` endpoint
    // receives only its own events.
    let (_, eve) = mesh.sign_up("eve@other.test").await;
    let (other, eve) = mesh.create_organization(&eve, "others").await;
    // Every WebhookService RPC naming this organization's endpoint or delivery answers like
    // a random id.
    let eve_token = eve.access_token.as_str();
    let not_found = "WEBHOOK_ENDPOINT_NOT_FOUND";
    let get = GetWebhookEndpointRequest { id: all.id.clone() };
    assert_refused(
        hooks.get_webhook_endpoint(bearer(get, eve_token)).await,
        Code::NotFound,
        not_found,
    );
    let update = UpdateWebhookEndpointRequest {
        webhook_endpoint: Some(WebhookEndpoint {
            id: all.id.clone(),
            description: "mine now".into(),
            ..WebhookEndpoint::default()
        }),
        update_mask: None,
    };
    assert_refused(
        hooks
            .update_webhook_endpoint(bearer(update, eve_token))
            .await,
        Code::NotFound,
        not_found,
    );
    let rotate = RotateWebhookSecretRequest {
        id: all.id.clone(),
        grace_period: None,
        etag: String::new(),
    };
    assert_refused(
        hooks.rotate_webhook_secret(bearer(rotate, eve_token)).await,
        Code::NotFound,
        not_found,
    );
    let list = ListWebhookDeliveriesRequest {
        endpoint_id: all.id.clone(),
        ..ListWebhookDeliveriesRequest::default()
    };
    assert_refused(
        hooks.list_webhook_deliveries(bearer(list, eve_token)).await,
        Code::NotFound,
        not_found,
    );
    let test = SendTestWebhookRequest {
        endpoint_id: all.id.clone(),
        event_type: String::new(),
    };
    assert_refused(
        hooks.send_test_webhook(bearer(test, eve_token)).await,
        Code::NotFound,
        not_found,
    );
    let redeliver = RedeliverWebhookRequest {
        delivery_id: delivery.id.clone(),
        request_id: String::new(),
    };
    assert_refused(
        hooks.redeliver_webhook(bearer(redeliver, eve_token)).await,
        Code::NotFound,
        "WEBHOOK_DELIVERY_NOT_FOUND",
    );
    let delete = DeleteWebhookEndpointRequest {
        id: all.id.clone(),
        etag: String::new(),
    };
    assert_refused(
        hooks
            .delete_webhook_endpoint(bearer(delete, eve_token))
            .await,
        Code::NotFound,
        not_found,
    );
    let theirs_listed = hooks
        .list_webhook_endpoints(bearer(ListWebhookEndpointsRequest::default(), eve_token))
        .await
        .unwrap()
        .into_inner()
        .webhook_endpoints;
    assert!(theirs_listed.is_empty());
    assert!(
        hooks
            .get_webhook_endpoint(bearer(
                GetWebhookEndpointRequest { id: all.id.clone() },
                token
            ))
            .await
            .is_ok(),
        "the owner's endpoint survived the attempts"
    );
    let mut theirs = receiver(vec![200]).await;
    let (_, their_secret) = endpoint(
        &mut hooks,
        &eve.access_token,
        create(&theirs.url, &["*"], ""),
    )
    .await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Not yours".into(),
        ..Task::default()
    };
    support::create_task(&mesh.channel, token, task).await;
    support::create_project(&mesh.channel, &eve.access_token, "EVE").await;
    let received = until(
        &mut theirs,
        &their_secret,
        "taskmesh.projects.project.created",
    )
    .await;
    for request in &received {
        assert_eq!(body(request)["organization_id"], other.id, "{request:?}");
    }
    mesh.stop().await;
}
