//! Who hears about an event, and what they read: one [`Draft`] per recipient, computed from
//! the event's payload alone (events carry the names and titles notifications need).
//!
//! Rules: never the actor; each user once per event, through the most specific kind (a
//! mention before a comment on a watched task); a comment restored by undo tells nobody again.

use std::collections::HashSet;

use taskmesh::events::v1::{
    CommentCreated, DocumentCreated, LinkVisited, MemberAdded, MemberRoleChanged,
    ProjectMemberAdded, TaskAssigned, TaskCompleted, TaskCreated, TaskMoved,
};

use super::{Kind, MAX_BODY_CHARS, MAX_TITLE_CHARS, clip};

/// A notification to create for one recipient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    /// Who reads it.
    pub recipient_user_id: String,
    /// What it reports.
    pub kind: Option<Kind>,
    /// Headline.
    pub title: String,
    /// Detail.
    pub body: String,
    /// Project it is about.
    pub project_id: Option<String>,
    /// Task it is about.
    pub task_id: Option<String>,
    /// Document it is about.
    pub document_id: Option<String>,
    /// Share link it is about.
    pub link_id: Option<String>,
}

impl Draft {
    fn new(recipient: &str, kind: Kind, title: String, body: &str) -> Self {
        Self {
            recipient_user_id: recipient.to_string(),
            kind: Some(kind),
            title: clip(&title, MAX_TITLE_CHARS),
            body: clip(body, MAX_BODY_CHARS),
            ..Self::default()
        }
    }

    fn about_task(mut self, project_id: &str, task_id: &str) -> Self {
        self.project_id = Some(project_id.to_string()).filter(|id| !id.is_empty());
        self.task_id = Some(task_id.to_string()).filter(|id| !id.is_empty());
        self
    }
}

/// Adds a draft for each of `recipients` not yet told and not the actor.
struct Audience<'a> {
    actor: &'a str,
    told: HashSet<String>,
    drafts: Vec<Draft>,
}

impl<'a> Audience<'a> {
    fn new(actor: &'a str) -> Self {
        Self {
            actor,
            told: HashSet::new(),
            drafts: Vec::new(),
        }
    }

    fn tell<'r>(
        &mut self,
        recipients: impl IntoIterator<Item = &'r String>,
        draft: impl Fn(&str) -> Draft,
    ) {
        for recipient in recipients {
            if recipient.is_empty() || recipient == self.actor {
                continue;
            }
            if self.told.insert(recipient.clone()) {
                self.drafts.push(draft(recipient));
            }
        }
    }
}

fn task_label(key: &str, title: &str) -> String {
    if key.is_empty() {
        format!("\"{title}\"")
    } else {
        format!("{key} \"{title}\"")
    }
}

/// Each newly added assignee hears they were assigned.
pub fn task_assigned(actor: &str, event: &TaskAssigned) -> Vec<Draft> {
    let mut audience = Audience::new(actor);
    let label = task_label(&event.key, &event.title);
    audience.tell(&event.added_assignee_user_ids, |recipient| {
        Draft::new(
            recipient,
            Kind::TaskAssigned,
            format!("You were assigned {label}"),
            "",
        )
        .about_task(&event.project_id, &event.task_id)
    });
    audience.drafts
}

/// A new task's assignees hear they were assigned (not again when a deleted task is restored).
pub fn task_created(actor: &str, event: &TaskCreated) -> Vec<Draft> {
    if event.restored {
        return Vec::new();
    }
    task_assigned(
        actor,
        &TaskAssigned {
            task_id: event.task_id.clone(),
            project_id: event.project_id.clone(),
            key: event.key.clone(),
            title: event.title.clone(),
            added_assignee_user_ids: event.assignee_user_ids.clone(),
            ..TaskAssigned::default()
        },
    )
}

/// Mentioned users hear they were mentioned; the task's other watchers (reporter and
/// assignees) that a comment was added. A restored comment tells nobody.
pub fn comment_created(actor: &str, event: &CommentCreated) -> Vec<Draft> {
    if event.restored {
        return Vec::new();
    }
    // The author is the actor, whoever published the event.
    let author = if actor.is_empty() {
        event.author_user_id.as_str()
    } else {
        actor
    };
    let mut audience = Audience::new(author);
    let label = task_label(&event.task_key, &event.task_title);
    let about = |draft: Draft| draft.about_task(&event.project_id, &event.task_id);
    audience.tell(&event.mentioned_user_ids, |recipient| {
        about(Draft::new(
            recipient,
            Kind::TaskMentioned,
            format!("You were mentioned on {label}"),
            &event.body_excerpt,
        ))
    });
    audience.tell(&event.watcher_user_ids, |recipient| {
        about(Draft::new(
            recipient,
            Kind::TaskCommented,
            format!("New comment on {label}"),
            &event.body_excerpt,
        ))
    });
    audience.drafts
}

/// A task's watchers hear it changed status category (e.g. To Do → In Progress). Entering
/// DONE is told as TASK_COMPLETED instead; moves within a category tell nobody.
pub fn task_moved(actor: &str, event: &TaskMoved, title: &str, watchers: &[String]) -> Vec<Draft> {
    if event.from_status_category == event.to_status_category || event.to_status_category == "done"
    {
        return Vec::new();
    }
    let mut audience = Audience::new(actor);
    let label = task_label(&event.key, title);
    let status = event.to_status_category.replace('_', " ");
    audience.tell(watchers, |recipient| {
        Draft::new(
            recipient,
            Kind::TaskStatusChanged,
            format!("{label} moved to {status}"),
            "",
        )
        .about_task(&event.project_id, &event.task_id)
    });
    audience.drafts
}

/// A task's watchers (reporter and assignees, read by the handler) hear that a document was
/// attached to it.
pub fn document_added(
    actor: &str,
    event: &DocumentCreated,
    task_title: &str,
    watchers: &[String],
) -> Vec<Draft> {
    if event.task_id.is_empty() {
        return Vec::new();
    }
    let mut audience = Audience::new(actor);
    let name = if event.title.is_empty() {
        &event.file_name
    } else {
        &event.title
    };
    audience.tell(watchers, |recipient| {
        let mut draft = Draft::new(
            recipient,
            Kind::DocumentAdded,
            format!("\"{name}\" was attached to \"{task_title}\""),
            "",
        )
        .about_task(&event.project_id, &event.task_id);
        draft.document_id = Some(event.document_id.clone());
        draft
    });
    audience.drafts
}

/// A share link's creator hears it was opened (not by a bot; the handler limits it to once
/// per link per hour).
pub fn link_visited(owner: &str, event: &LinkVisited) -> Vec<Draft> {
    if event.bot || owner.is_empty() {
        return Vec::new();
    }
    let mut draft = Draft::new(
        owner,
        Kind::LinkVisited,
        format!("Your share link /l/{} was opened", event.slug),
        &format!("It has been opened {} times.", event.visit_count.max(1)),
    );
    draft.link_id = Some(event.link_id.clone());
    vec![draft]
}

/// The task's watchers (reporter and assignees) hear it was completed.
pub fn task_completed(actor: &str, event: &TaskCompleted) -> Vec<Draft> {
    let mut audience = Audience::new(actor);
    let label = task_label(&event.key, &event.title);
    let watchers = std::iter::once(&event.reporter_user_id).chain(&event.assignee_user_ids);
    audience.tell(watchers, |recipient| {
        Draft::new(
            recipient,
            Kind::TaskCompleted,
            format!("{label} was completed"),
            "",
        )
        .about_task(&event.project_id, &event.task_id)
    });
    audience.drafts
}

/// The user added to a project hears it, with the project's name and their role.
pub fn project_member_added(actor: &str, event: &ProjectMemberAdded) -> Vec<Draft> {
    let mut audience = Audience::new(actor);
    audience.tell([&event.user_id], |recipient| {
        let mut draft = Draft::new(
            recipient,
            Kind::MemberAdded,
            format!(
                "You were added to project {} ({}) as {}",
                event.project_name, event.project_key, event.role
            ),
            "",
        );
        draft.project_id = Some(event.project_id.clone()).filter(|id| !id.is_empty());
        draft
    });
    audience.drafts
}

/// The user added to the organization hears it, unless they added themselves (created the
/// organization or accepted an invitation).
pub fn member_added(actor: &str, event: &MemberAdded) -> Vec<Draft> {
    let mut audience = Audience::new(actor);
    audience.tell([&event.user_id], |recipient| {
        Draft::new(
            recipient,
            Kind::MemberAdded,
            format!("You were added to the organization as {}", event.role),
            "",
        )
    });
    audience.drafts
}

/// The member whose organization role changed hears the new role.
pub fn member_role_changed(actor: &str, event: &MemberRoleChanged) -> Vec<Draft> {
    let mut audience = Audience::new(actor);
    audience.tell([&event.user_id], |recipient| {
        Draft::new(
            recipient,
            Kind::MemberRoleChanged,
            format!(
                "Your role changed from {} to {}",
                event.old_role, event.new_role
            ),
            "",
        )
    });
    audience.drafts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipients(drafts: &[Draft]) -> Vec<(&str, Kind)> {
        drafts
            .iter()
            .map(|draft| (draft.recipient_user_id.as_str(), draft.kind.unwrap()))
            .collect()
    }

    #[test]
    fn assignees_hear_of_it_but_not_the_one_who_assigned_themselves() {
        let event = TaskAssigned {
            task_id: "t".into(),
            project_id: "p".into(),
            key: "WEB-7".into(),
            title: "Fix login".into(),
            added_assignee_user_ids: vec!["ada".into(), "bob".into()],
            ..TaskAssigned::default()
        };
        let drafts = task_assigned("bob", &event);
        assert_eq!(recipients(&drafts), vec![("ada", Kind::TaskAssigned)]);
        assert_eq!(drafts[0].title, "You were assigned WEB-7 \"Fix login\"");
        assert_eq!(drafts[0].task_id.as_deref(), Some("t"));
        assert_eq!(drafts[0].project_id.as_deref(), Some("p"));
    }

    #[test]
    fn a_new_tasks_assignees_hear_of_it_once_and_not_on_restore() {
        let event = TaskCreated {
            task_id: "t".into(),
            key: "WEB-8".into(),
            title: "New".into(),
            assignee_user_ids: vec!["ada".into(), "bob".into()],
            ..TaskCreated::default()
        };
        assert_eq!(
            recipients(&task_created("ada", &event)),
            vec![("bob", Kind::TaskAssigned)]
        );
        let restored = TaskCreated {
            restored: true,
            ..event
        };
        assert!(task_created("ada", &restored).is_empty());
    }

    #[test]
    fn a_comment_tells_mentions_first_then_watchers_each_once_never_the_author() {
        let event = CommentCreated {
            task_id: "t".into(),
            project_id: "p".into(),
            author_user_id: "ada".into(),
            mentioned_user_ids: vec!["bob".into(), "ada".into()],
            watcher_user_ids: vec!["ada".into(), "bob".into(), "cy".into(), "cy".into()],
            body_excerpt: "see @bob".into(),
            task_key: "WEB-7".into(),
            task_title: "Fix login".into(),
            ..CommentCreated::default()
        };
        let drafts = comment_created("ada", &event);
        assert_eq!(
            recipients(&drafts),
            vec![("bob", Kind::TaskMentioned), ("cy", Kind::TaskCommented)]
        );
        assert_eq!(drafts[1].body, "see @bob");
        let restored = CommentCreated {
            restored: true,
            ..event
        };
        assert!(comment_created("ada", &restored).is_empty());
    }

    #[test]
    fn a_status_change_tells_watchers_but_not_for_done_or_same_category_moves() {
        let moved = |from: &str, to: &str| TaskMoved {
            task_id: "t".into(),
            key: "WEB-7".into(),
            from_status_category: from.into(),
            to_status_category: to.into(),
            ..TaskMoved::default()
        };
        let watchers = vec!["ada".to_string(), "bob".to_string()];
        let drafts = task_moved("bob", &moved("todo", "in_progress"), "Fix", &watchers);
        assert_eq!(recipients(&drafts), vec![("ada", Kind::TaskStatusChanged)]);
        assert_eq!(drafts[0].title, "WEB-7 \"Fix\" moved to in progress");
        assert!(task_moved("bob", &moved("todo", "todo"), "Fix", &watchers).is_empty());
        assert!(task_moved("bob", &moved("in_progress", "done"), "Fix", &watchers).is_empty());
    }

    #[test]
    fn completion_tells_the_reporter_and_assignees_other_than_the_actor() {
        let event = TaskCompleted {
            reporter_user_id: "ada".into(),
            assignee_user_ids: vec!["bob".into(), "ada".into()],
            ..TaskCompleted::default()
        };
        assert_eq!(
            recipients(&task_completed("bob", &event)),
            vec![("ada", Kind::TaskCompleted)]
        );
    }

    #[test]
    fn members_hear_they_were_added_unless_they_joined_themselves() {
        let added = MemberAdded {
            user_id: "bob".into(),
            role: "member".into(),
            ..MemberAdded::default()
        };
        assert_eq!(
            recipients(&member_added("ada", &added)),
            vec![("bob", Kind::MemberAdded)]
        );
        assert!(member_added("bob", &added).is_empty());
        let project = ProjectMemberAdded {
            project_id: "p".into(),
            project_key: "WEB".into(),
            project_name: "Website".into(),
            user_id: "bob".into(),
            role: "viewer".into(),
        };
        let drafts = project_member_added("ada", &project);
        assert_eq!(
            drafts[0].title,
            "You were added to project Website (WEB) as viewer"
        );
        let changed = MemberRoleChanged {
            user_id: "bob".into(),
            old_role: "member".into(),
            new_role: "admin".into(),
            ..MemberRoleChanged::default()
        };
        assert_eq!(
            member_role_changed("ada", &changed)[0].title,
            "Your role changed from member to admin"
        );
    }

    #[test]
    fn long_texts_are_clipped() {
        let event = CommentCreated {
            author_user_id: "ada".into(),
            watcher_user_ids: vec!["bob".into()],
            body_excerpt: "x".repeat(5_000),
            task_title: "t".repeat(500),
            ..CommentCreated::default()
        };
        let drafts = comment_created("ada", &event);
        assert_eq!(drafts[0].body.chars().count(), MAX_BODY_CHARS);
        assert_eq!(drafts[0].title.chars().count(), MAX_TITLE_CHARS);
    }
}
