//! Records → messages.

use taskmesh::links::v1::{Link, LinkVisit, link};

use crate::store::{LinkRecord, VisitRecord};

/// A link message; `public_url` is the edge's base URL.
pub fn link(record: &LinkRecord, public_url: &str) -> Link {
    let target = match record.target_kind.as_str() {
        "task" => link::Target::TaskId(record.target_id.clone()),
        "document" => link::Target::DocumentId(record.target_id.clone()),
        _ => link::Target::Url(record.target_id.clone()),
    };
    Link {
        id: record.id.clone(),
        organization_id: record.organization_id.to_string(),
        slug: record.slug.clone(),
        target: Some(target),
        expire_time: record.expires_at.map(mesh::time::timestamp),
        max_visits: record.max_visits,
        visit_count: record.visit_count,
        password: String::new(),
        password_protected: record.password_hash.is_some(),
        created_by_user_id: record.created_by_user_id.to_string(),
        disabled: record.disabled,
        short_url: format!("{public_url}/l/{}", record.slug),
        create_time: Some(mesh::time::timestamp(record.created_at)),
        update_time: Some(mesh::time::timestamp(record.updated_at)),
        etag: mesh::request::etag(record.version),
        note: record.note.clone(),
        allow_comments: record.allow_comments,
    }
}

/// A visit message.
pub fn visit(record: &VisitRecord) -> LinkVisit {
    LinkVisit {
        id: record.id.clone(),
        link_id: record.link_id.clone(),
        visit_time: Some(mesh::time::timestamp(record.visited_at)),
        referrer_host: record.referrer_host.clone(),
        browser: record.browser.clone(),
        os: record.os.clone(),
        device_class: record.device_class.clone(),
        bot: record.bot,
        anonymized_address: record.anonymized_address.clone(),
        country: record.country.clone(),
    }
}
