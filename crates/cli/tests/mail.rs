//! Email end to end: an invitation and a password reset arrive at a real SMTP listener on
//! loopback (a minimal server owned by the test), and the links they carry work; without an
//! SMTP relay, mail goes to `.eml` files under the data directory.

mod support;

use std::time::Duration;

use support::{Mesh, bearer};
use taskmesh::identity::v1::*;
use taskmesh::projects::v1::Task;
use taskmesh::tenancy::v1::{AcceptInvitationRequest, OrganizationRole};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const HUNG: Duration = Duration::from_secs(15);

/// One message as the SMTP server received it.
#[derive(Debug)]
struct Received {
    recipients: Vec<String>,
    data: String,
}

/// A minimal SMTP server on a free loopback port: accepts every message and hands it over.
async fn smtp_server() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut recipients = Vec::new();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = line.to_ascii_uppercase();
                    let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO")
                    {
                        b"250 test\r\n"
                    } else if command.starts_with("RCPT TO:") {
                        recipients.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                        b"250 OK\r\n"
                    } else if command.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(line)) = lines.next_line().await {
                            if line == "." {
                                break;
                            }
                            data.push_str(&line);
                            data.push('\n');
                        }
                        let _ = sender.send(Received {
                            recipients: std::mem::take(&mut recipients),
                            data,
                        });
                        b"250 queued\r\n"
                    } else if command.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, receiver)
}

/// `data` with quoted-printable soft line breaks joined and `=XX` escapes decoded (how the
/// mail body travels; a mail client does the same).
fn quoted_printable(data: &str) -> String {
    let joined = data.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = (bytes[index] == b'=')
            .then(|| joined.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The link in a mail body that starts with `prefix`, and its token.
fn token_after(data: &str, prefix: &str) -> String {
    let joined = quoted_printable(data);
    let start = joined.find(prefix).expect("the mail has the link") + prefix.len();
    joined[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

async fn next_mail(receiver: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(HUNG, receiver.recv())
        .await
        .expect("no mail arrived")
        .unwrap()
}

#[tokio::test]
async fn invitation_and_reset_mail_reach_an_smtp_server_and_their_links_work() {
    let (port, mut inbox) = smtp_server().await;
    let mesh = Mesh::start_with(|config| {
        config
            .update_section(
                "notifications",
                |notifications: &mut notifications::NotificationsConfig| {
                    notifications.smtp_url = Some(mesh::config::Secret::new(format!(
                        "smtp://127.0.0.1:{port}"
                    )));
                    notifications.app_url = "https://app.example.test".into();
                },
            )
            .unwrap();
    })
    .await;
    let (_, ada) = mesh.sign_up("ada@mail.test").await;
    let (organization, ada) = mesh.create_organization(&ada, "mailers").await;
    let (bob_user, bob) = mesh.sign_up("bob@mail.test").await;
    let sent_token = mesh
        .invite(
            &ada.access_token,
            &organization.id,
            "bob@mail.test",
            OrganizationRole::Member,
        )
        .await;
    let invitation = next_mail(&mut inbox).await;
    assert_eq!(invitation.recipients, vec!["bob@mail.test".to_string()]);
    assert!(
        invitation.data.contains("Subject: You are invited"),
        "{invitation:?}"
    );
    let token = token_after(
        &invitation.data,
        "https://app.example.test/invitations/accept?token=",
    );
    assert_eq!(
        token, sent_token,
        "the mail carries the invitation's own token"
    );
    mesh.tenancy()
        .accept_invitation(bearer(AcceptInvitationRequest { token }, &bob.access_token))
        .await
        .unwrap();

    // Bob's assignment is mailed to him too (TASK_ASSIGNED mails by default).
    let project = support::create_project(&mesh.channel, &ada.access_token, "MAIL").await;
    support::add_project_member(&mesh.channel, &ada.access_token, &project.id, &bob_user.id).await;
    let task = Task {
        project_id: project.id.clone(),
        title: "Answer the mail".into(),
        assignee_user_ids: vec![bob_user.id.clone()],
        ..Task::default()
    };
    support::create_task(&mesh.channel, &ada.access_token, task).await;
    let assigned = next_mail(&mut inbox).await;
    assert_eq!(assigned.recipients, vec!["bob@mail.test".to_string()]);
    assert!(
        quoted_printable(&assigned.data).contains("You were assigned MAIL-1"),
        "{assigned:?}"
    );

    // A refresh token used twice revokes the session and alerts its owner by email.
    let mut identity = mesh.identity();
    let refreshed = identity
        .refresh_token(RefreshTokenRequest {
            refresh_token: ada.refresh_token.clone(),
            ..RefreshTokenRequest::default()
        })
        .await
        .unwrap();
    drop(refreshed);
    let _ = identity
        .refresh_token(RefreshTokenRequest {
            refresh_token: ada.refresh_token.clone(),
            ..RefreshTokenRequest::default()
        })
        .await
        .unwrap_err();
    let alert = next_mail(&mut inbox).await;
    assert_eq!(alert.recipients, vec!["ada@mail.test".to_string()]);
    assert!(alert.data.contains("Subject: Security alert"), "{alert:?}");

    // A password reset mails a link whose token resets the password.
    mesh.identity()
        .request_password_reset(RequestPasswordResetRequest {
            email: "ada@mail.test".into(),
        })
        .await
        .unwrap();
    let reset = next_mail(&mut inbox).await;
    assert_eq!(reset.recipients, vec!["ada@mail.test".to_string()]);
    let reset_token = token_after(
        &reset.data,
        "https://app.example.test/password-reset?token=",
    );
    mesh.identity()
        .reset_password(ResetPasswordRequest {
            reset_token,
            new_password: "a-new-horse-8".into(),
            keep_personal_access_tokens: false,
        })
        .await
        .unwrap();
    let again = mesh
        .identity()
        .login(LoginRequest {
            email: "ada@mail.test".into(),
            password: "a-new-horse-8".into(),
            ..LoginRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    // The token reuse also left a security alert in Ada's inbox of the organization.
    let ada = mesh.switch(&again, &organization.id).await.unwrap();
    let alerts =
        taskmesh::notifications::v1::notification_service_client::NotificationServiceClient::new(
            mesh.channel.clone(),
        )
        .list_notifications(bearer(
            taskmesh::notifications::v1::ListNotificationsRequest {
                filter: "kind = NOTIFICATION_KIND_SECURITY_ALERT".into(),
                ..Default::default()
            },
            &ada.access_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    mesh.stop().await;
}

/// Without an SMTP relay, `serve` mails into `<data_dir>/mail` (the worker writing `.eml`
/// files there is tested in `notifications::mail`).
#[tokio::test]
async fn without_smtp_mail_is_written_as_eml_files_under_the_data_dir() {
    let mesh = Mesh::start().await;
    assert!(mesh.data.path().join("mail").is_dir());
    mesh.stop().await;
}
