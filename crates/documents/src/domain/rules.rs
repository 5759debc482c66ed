//! Field rules: titles, file names (display only, never a storage key), media type hints,
//! stated checksums.

use super::DocumentsError;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest file name, in characters.
pub const MAX_FILE_NAME: usize = 255;
/// Largest inline content (CreateDocument, UploadDocumentVersionUnary).
pub const MAX_INLINE_BYTES: u64 = 4 * 1024 * 1024;

/// A title: trimmed, 1 to 200 characters, no control characters.
pub fn title(field: &'static str, text: &str) -> Result<String, DocumentsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DocumentsError::invalid(field, "required"));
    }
    if text.chars().count() > MAX_TITLE {
        return Err(DocumentsError::invalid(field, "at most 200 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(DocumentsError::invalid(field, "no control characters"));
    }
    Ok(text.to_string())
}

/// A file name for display: any directory part stripped (both separators), trimmed, at
/// most 255 characters, no control characters, not `.` or `..`; empty stays empty.
pub fn file_name(field: &'static str, text: &str) -> Result<String, DocumentsError> {
    let base = text.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.chars().any(char::is_control) {
        return Err(DocumentsError::invalid(field, "no control characters"));
    }
    if base.chars().count() > MAX_FILE_NAME {
        return Err(DocumentsError::invalid(field, "at most 255 characters"));
    }
    if base == "." || base == ".." {
        return Err(DocumentsError::invalid(field, "not a file name"));
    }
    Ok(base.to_string())
}

/// A media type hint (`type/subtype`, optional parameters dropped), lowercased; empty stays
/// empty.
pub fn content_type(field: &'static str, text: &str) -> Result<String, DocumentsError> {
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.is_empty() {
        return Ok(String::new());
    }
    let valid_token = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match essence.split_once('/') {
        Some((kind, subtype)) if valid_token(kind) && valid_token(subtype) => {
            Ok(essence.to_ascii_lowercase())
        }
        _ => Err(DocumentsError::invalid(
            field,
            "must be a media type like text/plain",
        )),
    }
}

/// A stated SHA-256: empty, or 64 hex digits (any case), returned lowercase.
pub fn sha256(field: &'static str, text: &str) -> Result<Option<String>, DocumentsError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(DocumentsError::invalid(
            field,
            "must be 64 hexadecimal characters",
        ));
    }
    Ok(Some(text.to_ascii_lowercase()))
}

/// The media type a version is served with: the sniffed one, else the client's hint when
/// it is not one a browser would run (HTML, scripts, SVG), else `application/octet-stream`.
pub fn served_type(sniffed: Option<&str>, declared: &str) -> String {
    if let Some(sniffed) = sniffed {
        return sniffed.to_string();
    }
    let active = ["html", "javascript", "ecmascript", "svg", "xml", "xhtml"];
    if declared.is_empty() || active.iter().any(|word| declared.contains(word)) {
        return "application/octet-stream".into();
    }
    declared.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_file_names() {
        assert_eq!(title("title", "  Spec ").unwrap(), "Spec");
        assert!(title("title", " ").is_err());
        assert!(title("title", &"x".repeat(201)).is_err());
        assert!(title("title", "a\u{7}b").is_err());
        assert_eq!(file_name("f", "../../etc/passwd").unwrap(), "passwd");
        assert_eq!(
            file_name("f", "C:\\Users\\me\\plan.pdf").unwrap(),
            "plan.pdf"
        );
        assert_eq!(file_name("f", "").unwrap(), "");
        assert!(file_name("f", "a/..").is_err());
        assert!(file_name("f", "a\nb").is_err());
    }

    #[test]
    fn media_types_and_checksums() {
        assert_eq!(
            content_type("c", "Text/Markdown; charset=utf-8").unwrap(),
            "text/markdown"
        );
        assert_eq!(content_type("c", "").unwrap(), "");
        assert!(content_type("c", "text").is_err());
        assert!(content_type("c", "text/<b>").is_err());
        assert_eq!(
            sha256("s", &"AB".repeat(32)).unwrap(),
            Some("ab".repeat(32))
        );
        assert!(sha256("s", "abc").is_err());
        assert_eq!(served_type(Some("image/png"), "text/html"), "image/png");
        assert_eq!(served_type(None, "text/html"), "application/octet-stream");
        assert_eq!(
            served_type(None, "image/svg+xml"),
            "application/octet-stream"
        );
        assert_eq!(served_type(None, "text/markdown"), "text/markdown");
        assert_eq!(served_type(None, ""), "application/octet-stream");
    }
}
