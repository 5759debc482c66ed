//! The events links publishes: each subject bound to its payload message.

use kit::Topic;
use taskmesh::events::v1::{LinkCreated, LinkDeleted, LinkVisited};

/// A link was created.
pub const LINK_CREATED: Topic<LinkCreated> = Topic::new("taskmesh.links.link.created");
/// A visit was counted.
pub const LINK_VISITED: Topic<LinkVisited> = Topic::new("taskmesh.links.link.visited");
/// A link was deleted.
pub const LINK_DELETED: Topic<LinkDeleted> = Topic::new("taskmesh.links.link.deleted");
