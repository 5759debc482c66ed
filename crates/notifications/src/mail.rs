//! Sending email: through SMTP when `notifications.smtp_url` is set, else as `.eml` files
//! under `<data_dir>/mail` (the embedded default: nothing leaves the machine, and a developer
//! can open what would have been sent). The worker drains the mail queue: one attempt per
//! claimed mail, retried on failure by [`crate::domain::mail::retry_after`], deleted once
//! sent or given up.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use mesh::server::Shutdown;

use crate::domain::mail::retry_after;
use crate::store::{NotificationsStore, QueuedMail};

/// How long one send may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the worker looks for due mail when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory.
    Files(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

impl Mailer {
    /// SMTP at `smtp_url` (`smtp://host:port` plain, `smtp://...?tls=required` STARTTLS,
    /// `smtps://host:port` TLS; credentials as `user:password@`), or files in `directory`.
    pub fn new(smtp_url: Option<&str>, directory: std::path::PathBuf) -> Result<Self, String> {
        match smtp_url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|builder| Mailer::Smtp(builder.timeout(Some(SEND_TIMEOUT)).build()))
                .map_err(|error| format!("notifications.smtp_url: {error}")),
            None => {
                std::fs::create_dir_all(&directory)
                    .map_err(|error| format!("{}: {error}", directory.display()))?;
                Ok(Mailer::Files(
                    AsyncFileTransport::<Tokio1Executor>::new(&directory),
                    directory,
                ))
            }
        }
    }

    async fn send(&self, from: &Mailbox, mail: &QueuedMail) -> Result<(), String> {
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|error| format!("recipient: {error}"))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|error| format!("message: {error}"))?;
        match self {
            Mailer::Smtp(transport) => tokio::time::timeout(SEND_TIMEOUT, transport.send(message))
                .await
                .map_err(|_| "timed out".to_string())?
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Mailer::Files(transport, _) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string()),
        }
    }
}

/// Sends queued mail until `shutdown`.
pub async fn run(
    store: Arc<dyn NotificationsStore>,
    mailer: Mailer,
    from: Mailbox,
    shutdown: Shutdown,
) {
    loop {
        if let Err(error) = drain(store.as_ref(), &mailer, &from).await {
            tracing::warn!(%error, "cannot read the mail queue; retrying");
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Sends every mail due now, one attempt each.
async fn drain(
    store: &dyn NotificationsStore,
    mailer: &Mailer,
    from: &Mailbox,
) -> Result<(), crate::domain::NotificationsError> {
    let now = mesh::time::now_millis();
    let lease = mesh::time::duration_millis(SEND_TIMEOUT * 2);
    for mail in store.due_mail(now, 20).await? {
        if !store.claim_mail(&mail.id, now, now + lease).await? {
            continue;
        }
        let attempts = mail.attempts + 1;
        match mailer.send(from, &mail).await {
            Ok(()) => {
                tracing::info!(mail = %mail.id, "mail sent");
                store.finish_mail(&mail.id, None, "").await?;
            }
            Err(error) => match retry_after(attempts) {
                Some(wait) => {
                    tracing::warn!(mail = %mail.id, attempts, %error, "mail not sent; will retry");
                    let at = mesh::time::now_millis() + mesh::time::duration_millis(wait);
                    store.finish_mail(&mail.id, Some(at), &error).await?;
                }
                None => {
                    tracing::error!(mail = %mail.id, attempts, %error, "mail not sent; giving up");
                    store.finish_mail(&mail.id, None, &error).await?;
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mail::password_reset;
    use crate::store::sql::SqlNotificationsStore;
    use taskmesh::events::v1::PasswordResetRequested;

    /// The embedded default: one round of the worker writes each due mail as an `.eml` file
    /// and empties the queue.
    #[tokio::test]
    async fn without_smtp_mail_is_written_as_eml_files() {
        let (database, dir) =
            mesh::testing::sqlite(&[&crate::migrations(), &events::migrations()]).await;
        let store = SqlNotificationsStore(kit::Storage::detached(database));
        let mail = password_reset(
            &PasswordResetRequested {
                email: "cy@mail.test".into(),
                reset_token: "tmrst_secret".into(),
                ..PasswordResetRequested::default()
            },
            "http://localhost:50051",
        );
        let now = mesh::time::now_millis();
        assert!(store.queue_mail("event-1", &mail, now).await.unwrap());
        let directory = dir.path().join("mail");
        let mailer = Mailer::new(None, directory.clone()).unwrap();
        let from: Mailbox = "taskmesh <no-reply@taskmesh.localhost>".parse().unwrap();
        drain(&store, &mailer, &from).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&directory)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "eml"))
            .collect();
        assert_eq!(files.len(), 1);
        let written = std::fs::read_to_string(&files[0]).unwrap();
        assert!(written.contains("To: cy@mail.test"), "{written}");
        let decoded = written
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        assert!(decoded.contains("password-reset?token=tmrst_"), "{written}");
        assert!(
            store.due_mail(i64::MAX / 2, 10).await.unwrap().is_empty(),
            "a sent mail leaves the queue"
        );
    }
}
