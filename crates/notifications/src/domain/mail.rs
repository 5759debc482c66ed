//! The emails notifications sends, as plain text, and when a failed send is tried again.
//!
//! Invariants: the secret a mail carries (an invitation or reset token) appears only in the
//! link inside the body; subjects never carry it. Retries stop after [`RETRY_DELAYS`].

use std::time::Duration;

use taskmesh::events::v1::{InvitationCreated, PasswordResetRequested, TokenReuseDetected};

/// An email to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Waits before the 2nd, 3rd, ... attempt: about nine hours in all, then the mail is dropped
/// (its link would have expired anyway).
pub const RETRY_DELAYS: [Duration; 6] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3_600),
    Duration::from_secs(6 * 3_600),
];

/// The wait after `attempts` failed attempts; `None` when it is time to give up.
pub fn retry_after(attempts: i64) -> Option<Duration> {
    usize::try_from(attempts.max(1) - 1)
        .ok()
        .and_then(|index| RETRY_DELAYS.get(index).copied())
}

/// "The link expires in about N hours." (minutes under two hours), from now.
fn expiry(time: Option<&prost_types::Timestamp>) -> String {
    let Some(time) = time else {
        return String::new();
    };
    let minutes = (mesh::time::millis(time) - mesh::time::now_millis()).max(0) / 60_000;
    if minutes < 120 {
        format!("The link expires in about {minutes} minutes.")
    } else {
        format!("The link expires in about {} hours.", minutes / 60)
    }
}

/// The invitation email, with its acceptance link.
pub fn invitation(event: &InvitationCreated, app_url: &str) -> Mail {
    Mail {
        to: event.email.clone(),
        subject: "You are invited to an organization on taskmesh".into(),
        body: format!(
            "You have been invited to join an organization on taskmesh as {}.\n\n\
             Accept the invitation:\n{}/invitations/accept?token={}\n\n{}\n\n\
             If you did not expect this invitation, ignore this email.\n",
            event.role,
            app_url.trim_end_matches('/'),
            event.invite_token,
            expiry(event.expire_time.as_ref()),
        ),
    }
}

/// The password-reset email, with its reset link (a security notice: always sent).
pub fn password_reset(event: &PasswordResetRequested, app_url: &str) -> Mail {
    Mail {
        to: event.email.clone(),
        subject: "Reset your taskmesh password".into(),
        body: format!(
            "Someone asked to reset the password of your taskmesh account.\n\n\
             Choose a new password:\n{}/password-reset?token={}\n\n{}\n\n\
             If it was not you, ignore this email: your password stays as it is.\n",
            app_url.trim_end_matches('/'),
            event.reset_token,
            expiry(event.expire_time.as_ref()),
        ),
    }
}

/// The email of an inbox notification (for kinds whose email channel is on).
pub fn notification(to: &str, title: &str, body: &str, app_url: &str) -> Mail {
    let detail = if body.is_empty() {
        String::new()
    } else {
        format!("{body}\n\n")
    };
    Mail {
        to: to.to_string(),
        subject: title.to_string(),
        body: format!(
            "{title}\n\n{detail}Open taskmesh: {}\n\n\
             Choose which notifications you receive by email in your notification preferences.\n",
            app_url.trim_end_matches('/'),
        ),
    }
}

/// The security alert sent when a refresh token is used twice (cannot be switched off).
pub fn token_reuse(to: &str, event: &TokenReuseDetected) -> Mail {
    Mail {
        to: to.to_string(),
        subject: "Security alert: a sign-in session of your taskmesh account was revoked".into(),
        body: format!(
            "A refresh token of one of your sessions was used twice, which happens when someone \
             copied it. We revoked that session; its devices must sign in again.\n\n\
             The second use came from address {} ({}).\n\n\
             If you do not recognise this, change your password now.\n",
            if event.ip_address.is_empty() {
                "unknown"
            } else {
                event.ip_address.as_str()
            },
            if event.user_agent.is_empty() {
                "unknown browser"
            } else {
                event.user_agent.as_str()
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_carry_their_link_in_the_body_only() {
        let mail = invitation(
            &InvitationCreated {
                email: "bob@example.com".into(),
                role: "member".into(),
                invite_token: "tminv_secret".into(),
                ..InvitationCreated::default()
            },
            "https://app.example.com/",
        );
        assert_eq!(mail.to, "bob@example.com");
        assert!(
            mail.body
                .contains("https://app.example.com/invitations/accept?token=tminv_secret")
        );
        assert!(!mail.subject.contains("tminv_secret"));
        let reset = password_reset(
            &PasswordResetRequested {
                email: "ada@example.com".into(),
                reset_token: "tmrst_secret".into(),
                ..PasswordResetRequested::default()
            },
            "http://localhost:8080",
        );
        assert!(
            reset
                .body
                .contains("http://localhost:8080/password-reset?token=tmrst_secret")
        );
    }

    #[test]
    fn retries_back_off_then_give_up() {
        assert_eq!(retry_after(1), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(6), Some(Duration::from_secs(6 * 3_600)));
        assert_eq!(retry_after(7), None);
    }
}
