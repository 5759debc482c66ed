//! What an event changes for analytics, decoded from its payload: the one place that knows
//! the payloads of projects', tenancy's, documents' and links' events. Events analytics does
//! not count decode to `None`.

use prost::{Message, Name};
use taskmesh::events::v1::*;

use super::{or_unknown, referrer_host};

/// One change to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A task was created (or, `restored`, brought back by undo).
    TaskCreated {
        /// Task.
        task: String,
        /// Project.
        project: String,
        /// Its status category.
        category: String,
        /// An undo, not a new task.
        restored: bool,
        /// Due time.
        due_at: Option<i64>,
    },
    /// A task changed column.
    TaskMoved {
        /// Task.
        task: String,
        /// Project.
        project: String,
        /// New category.
        to: String,
    },
    /// A task entered DONE.
    TaskCompleted {
        /// Task.
        task: String,
        /// Project.
        project: String,
    },
    /// A task was deleted.
    TaskDeleted {
        /// Task.
        task: String,
    },
    /// A task's due time changed.
    TaskDue {
        /// Task.
        task: String,
        /// New due time.
        due_at: Option<i64>,
    },
    /// A comment was added.
    Comment {
        /// Project.
        project: String,
    },
    /// Work was logged (positive) or a log deleted (negative).
    Work {
        /// Project.
        project: String,
        /// The log's start time.
        at: i64,
        /// Milliseconds.
        ms: i64,
    },
    /// A project was created, archived, unarchived or deleted.
    Project {
        /// Project.
        project: String,
        /// New archived flag (None: unchanged).
        archived: Option<bool>,
        /// Deleted.
        deleted: bool,
    },
    /// Someone joined or left a project.
    ProjectMember {
        /// Project.
        project: String,
        /// User.
        user: String,
        /// Joined (else left).
        added: bool,
    },
    /// Someone joined or left the organization.
    Member {
        /// User.
        user: String,
        /// Joined (else left).
        added: bool,
    },
    /// A document was created or deleted.
    Document {
        /// Document.
        document: String,
        /// Project (may be empty in old events).
        project: String,
        /// Deleted.
        deleted: bool,
    },
    /// A document version was stored.
    Version {
        /// Document.
        document: String,
        /// Project (may be empty).
        project: String,
        /// Version number.
        version: i64,
        /// Content hash.
        sha256: String,
        /// Bytes.
        size_bytes: i64,
    },
    /// A link was created or deleted.
    Link {
        /// Link.
        link: String,
        /// Slug.
        slug: String,
        /// Deleted.
        deleted: bool,
    },
    /// A link was visited.
    Visit(Box<Visit>),
}

/// One visit, with its attributes reduced to what is counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    /// Link.
    pub link: String,
    /// When (visit time).
    pub at: i64,
    /// The links service's daily keyed hash of the visitor.
    pub visitor_hash: String,
    /// Referrer host or "unknown".
    pub referrer_host: String,
    /// Browser family or "unknown".
    pub browser: String,
    /// OS family or "unknown".
    pub os: String,
    /// Device class or "unknown".
    pub device_class: String,
    /// Country or "unknown".
    pub country: String,
    /// A bot.
    pub bot: bool,
}

fn decode<T: Message + Default>(event: &Event) -> Result<T, String> {
    T::decode(event.payload.as_slice())
        .map_err(|error| format!("undecodable {}: {error}", event.payload_type))
}

fn time(value: Option<&prost_types::Timestamp>) -> Option<i64> {
    value.map(mesh::time::millis)
}

/// The due time a TaskUpdated sets, if it changes it (`Some(None)`: cleared).
fn due_change(updated: &TaskUpdated) -> Option<Option<i64>> {
    use prost_types::value::Kind;
    updated
        .changed_fields
        .iter()
        .find(|change| change.field == "due_time")
        .map(|change| {
            match change
                .new_value
                .as_ref()
                .and_then(|value| value.kind.as_ref())
            {
                Some(Kind::StringValue(text)) => mesh::time::rfc3339_millis(text),
                _ => None,
            }
        })
}

/// The change `event` makes; `None` for events analytics does not count.
pub fn change(event: &Event) -> Result<Option<Change>, String> {
    let kind = event.payload_type.as_str();
    Ok(Some(if kind == TaskCreated::full_name() {
        let created: TaskCreated = decode(event)?;
        Change::TaskCreated {
            task: created.task_id,
            project: created.project_id,
            category: created.status_category,
            restored: created.restored,
            due_at: time(created.due_time.as_ref()),
        }
    } else if kind == TaskMoved::full_name() {
        let moved: TaskMoved = decode(event)?;
        Change::TaskMoved {
            task: moved.task_id,
            project: moved.project_id,
            to: moved.to_status_category,
        }
    } else if kind == TaskCompleted::full_name() {
        let completed: TaskCompleted = decode(event)?;
        Change::TaskCompleted {
            task: completed.task_id,
            project: completed.project_id,
        }
    } else if kind == TaskDeleted::full_name() {
        Change::TaskDeleted {
            task: decode::<TaskDeleted>(event)?.task_id,
        }
    } else if kind == TaskUpdated::full_name() {
        let updated: TaskUpdated = decode(event)?;
        let Some(due_at) = due_change(&updated) else {
            return Ok(None);
        };
        Change::TaskDue {
            task: updated.task_id,
            due_at,
        }
    } else if kind == CommentCreated::full_name() {
        let comment: CommentCreated = decode(event)?;
        if comment.restored {
            return Ok(None);
        }
        Change::Comment {
            project: comment.project_id,
        }
    } else if kind == WorkLogged::full_name() || kind == WorkLogDeleted::full_name() {
        let (project, start, duration, sign) = if kind == WorkLogged::full_name() {
            let logged: WorkLogged = decode(event)?;
            (logged.project_id, logged.start_time, logged.duration, 1)
        } else {
            let deleted: WorkLogDeleted = decode(event)?;
            (deleted.project_id, deleted.start_time, deleted.duration, -1)
        };
        let ms = duration.map_or(0, |d| d.seconds * 1_000 + i64::from(d.nanos) / 1_000_000);
        Change::Work {
            project,
            at: time(start.as_ref())
                .unwrap_or_else(|| time(event.occurred_at.as_ref()).unwrap_or(0)),
            ms: sign * ms,
        }
    } else if kind == ProjectCreated::full_name() {
        Change::Project {
            project: decode::<ProjectCreated>(event)?.project_id,
            archived: Some(false),
            deleted: false,
        }
    } else if kind == ProjectArchived::full_name() {
        Change::Project {
            project: decode::<ProjectArchived>(event)?.project_id,
            archived: Some(true),
            deleted: false,
        }
    } else if kind == ProjectUnarchived::full_name() {
        Change::Project {
            project: decode::<ProjectUnarchived>(event)?.project_id,
            archived: Some(false),
            deleted: false,
        }
    } else if kind == ProjectDeleted::full_name() {
        Change::Project {
            project: decode::<ProjectDeleted>(event)?.project_id,
            archived: None,
            deleted: true,
        }
    } else if kind == ProjectMemberAdded::full_name() {
        let added: ProjectMemberAdded = decode(event)?;
        Change::ProjectMember {
            project: added.project_id,
            user: added.user_id,
            added: true,
        }
    } else if kind == ProjectMemberRemoved::full_name() {
        let removed: ProjectMemberRemoved = decode(event)?;
        Change::ProjectMember {
            project: removed.project_id,
            user: removed.user_id,
            added: false,
        }
    } else if kind == MemberAdded::full_name() {
        Change::Member {
            user: decode::<MemberAdded>(event)?.user_id,
            added: true,
        }
    } else if kind == MemberRemoved::full_name() {
        Change::Member {
            user: decode::<MemberRemoved>(event)?.user_id,
            added: false,
        }
    } else if kind == DocumentCreated::full_name() {
        let created: DocumentCreated = decode(event)?;
        Change::Document {
            document: created.document_id,
            project: created.project_id,
            deleted: false,
        }
    } else if kind == DocumentDeleted::full_name() {
        let deleted: DocumentDeleted = decode(event)?;
        Change::Document {
            document: deleted.document_id,
            project: deleted.project_id,
            deleted: true,
        }
    } else if kind == DocumentVersionUploaded::full_name() {
        let version: DocumentVersionUploaded = decode(event)?;
        Change::Version {
            document: version.document_id,
            project: version.project_id,
            version: version.version,
            sha256: version.sha256,
            size_bytes: version.size_bytes,
        }
    } else if kind == LinkCreated::full_name() {
        let created: LinkCreated = decode(event)?;
        Change::Link {
            link: created.link_id,
            slug: created.slug,
            deleted: false,
        }
    } else if kind == LinkDeleted::full_name() {
        let deleted: LinkDeleted = decode(event)?;
        Change::Link {
            link: deleted.link_id,
            slug: deleted.slug,
            deleted: true,
        }
    } else if kind == LinkVisited::full_name() {
        let visit: LinkVisited = decode(event)?;
        Change::Visit(Box::new(Visit {
            link: visit.link_id,
            at: time(visit.visit_time.as_ref())
                .unwrap_or_else(|| time(event.occurred_at.as_ref()).unwrap_or(0)),
            visitor_hash: visit.visitor_hash,
            referrer_host: referrer_host(&visit.referrer),
            browser: or_unknown(&visit.browser),
            os: or_unknown(&visit.os),
            device_class: or_unknown(&visit.device_class),
            country: or_unknown(visit.country.as_deref().unwrap_or_default()),
            bot: visit.bot,
        }))
    } else {
        return Ok(None);
    }))
}
