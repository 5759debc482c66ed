//! Who may do what with a document (the access model of documents_service.proto), decided
//! from the caller's organization role, their role in the document's project (asked of
//! projects only when the answer depends on it) and whether they created it.
//!
//! - Organization owners and admins read, write and delete every document.
//! - A PRIVATE document: its creator only.
//! - ORGANIZATION: every member (not guests) reads; project viewers and its creator too.
//! - PROJECT: the project's members (any project role) read; its creator only while a
//!   member (someone removed from the project loses what was shared there).
//! - Writing (new versions, metadata, restore) needs project owner or member, or being the
//!   creator of a PRIVATE document; deleting: the creator or a project owner.

use mesh::auth::OrganizationRole;

/// A document's audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// The project's members.
    Project,
    /// Every member of the organization (not guests).
    Organization,
    /// Its creator.
    Private,
}

impl Visibility {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Organization => "organization",
            Self::Private => "private",
        }
    }

    /// From the stored name (unknown names read as the narrowest audience).
    pub fn parse(name: &str) -> Self {
        match name {
            "project" => Self::Project,
            "organization" => Self::Organization,
            _ => Self::Private,
        }
    }
}

/// The caller's role in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectRole {
    /// Manages the project.
    Owner,
    /// Works in it.
    Member,
    /// Reads it.
    Viewer,
}

/// What the decision needs to know about a document.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    /// Its audience.
    pub visibility: Visibility,
    /// Whether the caller created it.
    pub created_by_caller: bool,
}

/// Whether the decision for `subject` needs the caller's project role at all.
pub fn needs_project_role(role: OrganizationRole, subject: Subject) -> bool {
    match subject.visibility {
        _ if role.at_least(OrganizationRole::Admin) => false,
        Visibility::Private => false,
        Visibility::Organization => {
            !(subject.created_by_caller || role.at_least(OrganizationRole::Member))
        }
        Visibility::Project => true,
    }
}

/// Whether the caller may read.
pub fn can_read(role: OrganizationRole, project: Option<ProjectRole>, subject: Subject) -> bool {
    if role.at_least(OrganizationRole::Admin) {
        return true;
    }
    match subject.visibility {
        Visibility::Private => subject.created_by_caller,
        Visibility::Organization => {
            subject.created_by_caller
                || role.at_least(OrganizationRole::Member)
                || project.is_some()
        }
        Visibility::Project => project.is_some(),
    }
}

/// Whether the caller may add versions, change metadata or restore.
pub fn can_write(role: OrganizationRole, project: Option<ProjectRole>, subject: Subject) -> bool {
    if role.at_least(OrganizationRole::Admin) {
        return true;
    }
    match subject.visibility {
        Visibility::Private => subject.created_by_caller,
        _ => matches!(project, Some(ProjectRole::Owner | ProjectRole::Member)),
    }
}

/// Whether the caller may add a document to a project.
pub fn can_add(role: OrganizationRole, project: Option<ProjectRole>) -> bool {
    role.at_least(OrganizationRole::Admin)
        || matches!(project, Some(ProjectRole::Owner | ProjectRole::Member))
}

/// Whether the caller may delete.
pub fn can_delete(role: OrganizationRole, project: Option<ProjectRole>, subject: Subject) -> bool {
    role.at_least(OrganizationRole::Admin)
        || subject.created_by_caller
        || project == Some(ProjectRole::Owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrganizationRole::*;

    fn subject(visibility: Visibility, mine: bool) -> Subject {
        Subject {
            visibility,
            created_by_caller: mine,
        }
    }

    #[test]
    fn private_documents_are_their_creators_and_administrators() {
        let private = subject(Visibility::Private, false);
        assert!(!can_read(Member, Some(ProjectRole::Owner), private));
        assert!(!can_write(Member, Some(ProjectRole::Owner), private));
        assert!(can_read(Admin, None, private));
        assert!(can_write(Owner, None, private));
        let mine = subject(Visibility::Private, true);
        assert!(can_read(Guest, None, mine) && can_write(Guest, None, mine));
        assert!(!needs_project_role(Member, private));
    }

    #[test]
    fn project_and_organization_audiences() {
        let project = subject(Visibility::Project, false);
        assert!(!can_read(Member, None, project));
        assert!(can_read(Guest, Some(ProjectRole::Viewer), project));
        assert!(!can_write(Member, Some(ProjectRole::Viewer), project));
        assert!(can_write(Member, Some(ProjectRole::Member), project));
        assert!(needs_project_role(Member, project));
        let left = subject(Visibility::Project, true);
        assert!(
            !can_read(Member, None, left),
            "a creator removed from the project"
        );
        assert!(needs_project_role(Member, left));
        let organization = subject(Visibility::Organization, false);
        assert!(can_read(Member, None, organization));
        assert!(!can_read(Guest, None, organization));
        assert!(can_read(Guest, Some(ProjectRole::Viewer), organization));
        assert!(!can_write(Member, None, organization));
    }

    #[test]
    fn deleting_needs_creator_project_owner_or_administrator() {
        let project = subject(Visibility::Project, false);
        assert!(!can_delete(Member, Some(ProjectRole::Member), project));
        assert!(can_delete(Member, Some(ProjectRole::Owner), project));
        assert!(can_delete(Admin, None, project));
        assert!(can_delete(Member, None, subject(Visibility::Project, true)));
        assert!(!can_add(Member, Some(ProjectRole::Viewer)));
        assert!(can_add(Member, Some(ProjectRole::Member)));
    }
}
