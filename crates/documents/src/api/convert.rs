//! Records → messages.

use taskmesh::documents::v1::{Document, DocumentVersion, DocumentVisibility};

use crate::domain::access::Visibility;
use crate::store::{DocumentRecord, DocumentRow, VersionRecord};

/// The wire visibility of a stored name.
pub fn visibility(name: &str) -> DocumentVisibility {
    match Visibility::parse(name) {
        Visibility::Project => DocumentVisibility::Project,
        Visibility::Organization => DocumentVisibility::Organization,
        Visibility::Private => DocumentVisibility::Private,
    }
}

/// The stored visibility of a wire value (unspecified: the default, PROJECT).
pub fn visibility_of(value: i32) -> Option<Visibility> {
    match DocumentVisibility::try_from(value).ok()? {
        DocumentVisibility::Unspecified | DocumentVisibility::Project => Some(Visibility::Project),
        DocumentVisibility::Organization => Some(Visibility::Organization),
        DocumentVisibility::Private => Some(Visibility::Private),
    }
}

/// A document message from a document and its current version.
pub fn document(document: &DocumentRecord, current: &VersionRecord) -> Document {
    Document {
        id: document.id.clone(),
        organization_id: document.organization_id.to_string(),
        title: document.title.clone(),
        task_id: document.task_id.clone().unwrap_or_default(),
        current_version: document.current_version,
        content_type: current.content_type.clone(),
        size_bytes: current.size_bytes,
        sha256: current.sha256.clone(),
        file_name: current.file_name.clone(),
        created_by_user_id: document.created_by_user_id.to_string(),
        create_time: Some(mesh::time::timestamp(document.created_at)),
        update_time: Some(mesh::time::timestamp(document.updated_at)),
        etag: mesh::request::etag(document.version),
        project_id: document.project_id.clone(),
        visibility: visibility(&document.visibility) as i32,
        declared_content_type: current.declared_content_type.clone(),
    }
}

/// A document message from a read row.
pub fn row(row: &DocumentRow) -> Document {
    let current = VersionRecord {
        organization_id: row.document.organization_id,
        document_id: row.document.id.clone(),
        version: row.document.current_version,
        sha256: row.sha256.clone(),
        size_bytes: row.size_bytes,
        content_type: row.content_type.clone(),
        declared_content_type: row.declared_content_type.clone(),
        file_name: row.file_name.clone(),
        created_by_user_id: row.document.created_by_user_id,
        restored_from_version: 0,
        request_id: None,
        created_at: row.document.updated_at,
    };
    document(&row.document, &current)
}

/// A version message.
pub fn version(version: &VersionRecord) -> DocumentVersion {
    DocumentVersion {
        document_id: version.document_id.clone(),
        version: version.version,
        size_bytes: version.size_bytes,
        sha256: version.sha256.clone(),
        content_type: version.content_type.clone(),
        file_name: version.file_name.clone(),
        created_by_user_id: version.created_by_user_id.to_string(),
        create_time: Some(mesh::time::timestamp(version.created_at)),
        restored_from_version: version.restored_from_version,
        declared_content_type: version.declared_content_type.clone(),
    }
}
