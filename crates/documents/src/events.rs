//! The events documents publishes: each subject bound to its payload message.

use kit::Topic;
use taskmesh::events::v1::{DocumentCreated, DocumentDeleted, DocumentVersionUploaded};

/// A document was created (its first version follows as DOCUMENT_VERSION_UPLOADED).
pub const DOCUMENT_CREATED: Topic<DocumentCreated> =
    Topic::new("taskmesh.documents.document.created");
/// A version's content was stored (also the first one, and restores).
pub const DOCUMENT_VERSION_UPLOADED: Topic<DocumentVersionUploaded> =
    Topic::new("taskmesh.documents.document.version_uploaded");
/// A document was deleted with its versions (directly, or its task was purged).
pub const DOCUMENT_DELETED: Topic<DocumentDeleted> =
    Topic::new("taskmesh.documents.document.deleted");
