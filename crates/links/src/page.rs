//! The `/l/{slug}` page the edge serves: a small, script-free HTML rendering of a
//! ResolveLink view, the password form, and the not-found page, with the headers they are
//! served with.
//!
//! Invariants: every value from a user or a link is HTML-escaped; the page has no script,
//! no external resource and no inline event handler; the password form posts only the
//! password to the same path (no state to forge); a URL link is shown as an https link to
//! follow, never a redirect.

use taskmesh::links::v1::{ResolveLinkResponse, SharedDocument, SharedTask, resolve_link_response};

/// Headers of every page (and of its 404 and 429 variants).
pub const HEADERS: [(&str, &str); 6] = [
    ("content-type", "text/html; charset=utf-8"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
];

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" content=\"noindex\"><title>{}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}.meta{{color:#555}}pre{{white-space:pre-wrap;font:inherit}}</style></head><body>{}</body></html>\n",
        escape(title),
        body
    )
}

fn task(task: &SharedTask) -> String {
    let mut body = format!(
        "<h1>{} {}</h1><p class=\"meta\">{} · {}</p>",
        escape(&task.key),
        escape(&task.title),
        escape(&task.status),
        escape(&task.priority)
    );
    if !task.assignee_display_names.is_empty() {
        let names: Vec<String> = task
            .assignee_display_names
            .iter()
            .map(|n| escape(n))
            .collect();
        body.push_str(&format!("<p>Assigned to {}</p>", names.join(", ")));
    }
    if !task.description.is_empty() {
        body.push_str(&format!("<pre>{}</pre>", escape(&task.description)));
    }
    if !task.comments.is_empty() {
        body.push_str("<h2>Comments</h2>");
        for comment in &task.comments {
            body.push_str(&format!(
                "<section><p class=\"meta\">{}</p><pre>{}</pre></section>",
                escape(&comment.author_display_name),
                escape(&comment.body)
            ));
        }
    }
    body
}

fn document(document: &SharedDocument) -> String {
    format!(
        "<h1>{}</h1><p class=\"meta\">{} · {} · {} bytes · version {}</p><p><a href=\"{}\" rel=\"noopener noreferrer nofollow\">Download</a> (the link works for a few minutes)</p>",
        escape(&document.title),
        escape(&document.file_name),
        escape(&document.content_type),
        document.size_bytes,
        document.version,
        escape(&document.download_url)
    )
}

/// The page of a resolved link.
pub fn view(view: &ResolveLinkResponse) -> String {
    let note = if view.note.is_empty() {
        String::new()
    } else {
        format!("<p><em>{}</em></p>", escape(&view.note))
    };
    let (title, body) = match (&view.target, &view.task, &view.document) {
        (_, Some(shared), _) => (format!("{} {}", shared.key, shared.title), task(shared)),
        (_, _, Some(shared)) => (shared.title.clone(), document(shared)),
        (Some(resolve_link_response::Target::Url(url)), _, _) if url.starts_with("https://") => (
            "Shared link".to_string(),
            format!(
                "<h1>Shared link</h1><p>This link leads to <a href=\"{0}\" rel=\"noopener noreferrer nofollow\">{0}</a>.</p>",
                escape(url)
            ),
        ),
        _ => return not_found(),
    };
    page(&title, &format!("{note}{body}"))
}

/// The password form; `wrong` after a refused password.
pub fn password_form(wrong: bool) -> String {
    let error = if wrong {
        "<p role=\"alert\">That password is not right.</p>"
    } else {
        ""
    };
    page(
        "Password required",
        &format!(
            "<h1>Password required</h1>{error}<form method=\"post\"><label for=\"password\">Password</label> <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required> <button type=\"submit\">Open</button></form>"
        ),
    )
}

/// The page of every link that does not resolve (missing, expired, exhausted, disabled).
pub fn not_found() -> String {
    page(
        "Not found",
        "<h1>Not found</h1><p>This link does not exist or no longer works.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmesh::links::v1::SharedComment;

    const HOSTILE: &str = "<script>alert(1)</script>\"' onmouseover=x &";

    fn assert_inert(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        // Quotes are escaped, so the text cannot close an attribute and open a handler.
        assert!(!html.contains("\"' onmouseover"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn task_pages_escape_everything_they_show() {
        let view = ResolveLinkResponse {
            note: HOSTILE.into(),
            task: Some(SharedTask {
                key: "WEB-1".into(),
                title: HOSTILE.into(),
                description: HOSTILE.into(),
                status: "In Progress".into(),
                assignee_display_names: vec![HOSTILE.into()],
                comments: vec![SharedComment {
                    author_display_name: HOSTILE.into(),
                    body: HOSTILE.into(),
                    create_time: None,
                }],
                ..SharedTask::default()
            }),
            ..ResolveLinkResponse::default()
        };
        let html = super::view(&view);
        assert_inert(&html);
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; onmouseover=x &amp;")
        );
        assert!(html.contains("<h2>Comments</h2>"));
    }

    #[test]
    fn url_links_are_shown_https_only_and_forms_carry_no_state() {
        let link = |url: &str| ResolveLinkResponse {
            target: Some(resolve_link_response::Target::Url(url.into())),
            ..ResolveLinkResponse::default()
        };
        let html = view(&link("https://example.com/a?b=\"c\""));
        assert!(
            html.contains("href=\"https://example.com/a?b=&quot;c&quot;\""),
            "{html}"
        );
        for refused in [
            "javascript:alert(1)",
            "http://example.com/",
            "data:text/html,x",
        ] {
            assert_eq!(view(&link(refused)), not_found(), "{refused}");
        }
        let form = password_form(true);
        assert!(
            form.contains("<form method=\"post\">")
                && !form.contains("action=")
                && !form.contains("type=\"hidden\"")
        );
        assert!(form.contains("role=\"alert\""));
        assert_inert(&form);
        assert!(
            HEADERS
                .iter()
                .any(|(name, value)| *name == "content-security-policy"
                    && value.starts_with("default-src 'none'"))
        );
    }
}
