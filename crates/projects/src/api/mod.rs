//! Projects' gRPC API (ProjectService, BoardService, TaskService): the only module that sees
//! tonic.
//!
//! Authorization, every time: the organization comes from the verified token; a project is
//! readable by organization owners and admins (as project owners) and by its explicit
//! members (organization guests only as viewers); anything unreadable is NOT_FOUND, so ids
//! from another organization behave like random ids. Changes need a read-write credential,
//! the role the RPC requires, and an active (not archived) project.
//!
//! Writes read, decide, and hand the store one unit of work ([`crate::store::Op`]s with the
//! events, activity, undo entries and board feed entries of the change); a concurrent
//! change makes the unit fail whole, and [`retry`] runs the RPC again from its reads (or
//! answers ABORTED when the client sent an etag).

mod boards;
mod comments;
mod convert;
#[cfg(test)]
mod events_tests;
mod history;
mod moves;
mod projects;
mod service;
mod share;
mod tasks;
#[cfg(test)]
mod test_world;
mod undo;
#[cfg(test)]
mod undo_tests;
pub mod watch;
mod watch_feed;
#[cfg(test)]
mod watch_tests;

use std::future::Future;
use std::sync::Arc;

use mesh::auth::{OrganizationRole, Principal};
use mesh::error::ServiceError;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Keyset, PageRequest};
use mesh::peers::CallContext;
use tonic::Request;

use crate::ProjectsConfig;
use crate::domain::{self, ProjectRole, ProjectsError};
use crate::store::{ProjectRecord, ProjectsStore};
use crate::tenancy::OrganizationDirectory;

/// Everything the projects API needs.
#[derive(Clone)]
pub struct ProjectsApi {
    pub(crate) store: Arc<dyn ProjectsStore>,
    pub(crate) directory: Arc<dyn OrganizationDirectory>,
    pub(crate) config: ProjectsConfig,
    pub(crate) hub: watch::Hub,
    pub(crate) numbering: Numbering,
}

/// Serializes task creation per project within this process. A creation takes the project's
/// next task number with a compare-and-set (so numbers are never reused or skipped), and
/// concurrent creations in one project would otherwise conflict and retry; across replicas
/// the retry remains.
#[derive(Clone, Default)]
pub(crate) struct Numbering(Arc<std::sync::Mutex<TurnLocks>>);

type TurnLocks = std::collections::HashMap<crate::domain::ProjectId, Arc<tokio::sync::Mutex<()>>>;

impl std::fmt::Debug for Numbering {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Numbering")
    }
}

impl Numbering {
    /// Waits for the project's turn; the turn ends when the guard drops.
    pub(crate) async fn turn(
        &self,
        project: crate::domain::ProjectId,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if locks.len() > 1_024 {
                // Forget projects nobody is creating in.
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(project).or_default().clone()
        };
        lock.lock_owned().await
    }
}

type Result<T> = std::result::Result<T, ProjectsError>;

/// The verified caller of a projects RPC.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The organization of the token.
    pub organization_id: OrganizationId,
    /// Their organization role.
    pub role: Option<OrganizationRole>,
    /// Whether the credential may write.
    pub can_write: bool,
    /// Deadline, credentials and request id, for peers.
    pub context: CallContext,
    /// The request id, for events.
    pub request_id: String,
    /// When the credential expires (Unix milliseconds), for calls that outlive it (streams).
    pub expires_at: Option<i64>,
}

impl Caller {
    /// The caller of `request`; it must carry a token scoped to an organization.
    pub fn of<T>(request: &Request<T>) -> Result<Self> {
        let principal: &Principal = mesh::auth::require_principal(request)?;
        let organization_id = principal.organization()?;
        Ok(Self {
            user_id: principal.user_id,
            organization_id,
            role: principal.role,
            can_write: principal.ensure_can_write().is_ok(),
            context: CallContext::from_request(request),
            request_id: mesh::request::request_id(request),
            expires_at: principal.expires_at,
        })
    }

    /// Checks the credential may write.
    pub fn ensure_write(&self) -> Result<()> {
        if self.can_write {
            Ok(())
        } else {
            Err(ServiceError::new(
                mesh::ErrorCode::PermissionDenied,
                mesh::auth::AUTH_DOMAIN,
                "SCOPE_INSUFFICIENT",
                "this token is read-only",
            )
            .into())
        }
    }

    /// Whether the caller owns every project (organization owner or admin).
    pub fn is_organization_admin(&self) -> bool {
        matches!(
            self.role,
            Some(OrganizationRole::Owner | OrganizationRole::Admin)
        )
    }
}

/// A project the caller can read, and their role in it.
#[derive(Clone, Debug)]
pub(crate) struct Access {
    pub project: ProjectRecord,
    pub role: ProjectRole,
}

impl Access {
    /// Checks the caller may change the project with `minimum` role: a read-write credential,
    /// the role, and an active project.
    pub fn writer(&self, caller: &Caller, minimum: ProjectRole) -> Result<()> {
        caller.ensure_write()?;
        domain::require(self.role, minimum)?;
        if self.project.is_archived() {
            return Err(ProjectsError::ProjectArchived);
        }
        Ok(())
    }
}

impl ProjectsApi {
    /// The project `id` if the caller can read it (else `ProjectNotFound`), with their role.
    pub(crate) async fn access(
        &self,
        caller: &Caller,
        id: crate::domain::ProjectId,
    ) -> Result<Access> {
        let (project, member_role) = self
            .store
            .project_access(caller.organization_id, id, caller.user_id)
            .await?
            .ok_or(ProjectsError::ProjectNotFound)?;
        let role = Self::effective_role(caller, member_role.as_deref())?;
        Ok(Access { project, role })
    }

    /// The caller's effective role from their organization role and explicit project role.
    fn effective_role(caller: &Caller, member_role: Option<&str>) -> Result<ProjectRole> {
        domain::effective_role(caller.role, member_role.and_then(ProjectRole::parse))
            .ok_or(ProjectsError::ProjectNotFound)
    }

    /// The caller's effective role in a live project, or `ProjectNotFound`.
    pub(crate) async fn role_in(
        &self,
        caller: &Caller,
        project: &ProjectRecord,
    ) -> Result<ProjectRole> {
        let member_role = if caller.is_organization_admin() {
            None
        } else {
            self.store
                .member(caller.organization_id, project.id, caller.user_id)
                .await?
                .map(|member| member.role)
        };
        Self::effective_role(caller, member_role.as_deref())
    }

    /// Whether `user` can see the project: a current member of the organization (asked of
    /// tenancy, so someone who left it is refused even while a project membership row
    /// remains) who is an organization owner or admin, or an explicit project member.
    pub(crate) async fn can_see(
        &self,
        caller: &Caller,
        project: &ProjectRecord,
        user: UserId,
    ) -> Result<bool> {
        let role = self
            .directory
            .role(&caller.context, caller.organization_id, user)
            .await?;
        Ok(match role {
            None => false,
            Some(OrganizationRole::Owner | OrganizationRole::Admin) => true,
            Some(_) => self
                .store
                .member(caller.organization_id, project.id, user)
                .await?
                .is_some(),
        })
    }
}

/// Runs `attempt` until its unit of work commits: a concurrent change (`Conflict`) reruns it
/// from its reads, a few times; with a client etag the conflict is the answer (ABORTED).
pub(crate) async fn retry<T, F, Fut>(etag_given: bool, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(ProjectsError::Conflict) if !etag_given && tries < 8 => {
                tries += 1;
                // Jittered backoff, so writers that collided do not collide again in step.
                let micros = rand::random_range(0..(250u64 << tries));
                tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
            }
            Err(ProjectsError::Conflict) => return Err(ProjectsError::EtagMismatch),
            other => return other,
        }
    }
}

/// Parses an id field.
pub(crate) fn parse_id<T: mesh::ids::Id>(field: &'static str, text: &str) -> Result<T> {
    if text.is_empty() {
        return Err(ProjectsError::FieldRequired(field));
    }
    Ok(mesh::request::parse_id(domain::DOMAIN, field, text)?)
}

/// Parses a user id field.
pub(crate) fn parse_user(field: &'static str, text: &str) -> Result<UserId> {
    parse_id(field, text)
}

/// The page a List asks for, bound to the query's `fingerprint` and order.
pub(crate) fn page_request(
    page_size: i32,
    page_token: &str,
    fingerprint: String,
    order: Keyset,
) -> Result<PageRequest> {
    Ok(PageRequest::new(
        domain::DOMAIN,
        page_size,
        page_token,
        fingerprint,
        order,
    )?)
}

/// The version an etag names (`None`: no check).
pub(crate) fn expected(etag: &str) -> Result<Option<i64>> {
    Ok(mesh::request::expected_version(domain::DOMAIN, etag)?)
}

/// Checks a client etag against the version read.
pub(crate) fn check_etag(expected: Option<i64>, version: i64) -> Result<()> {
    match expected {
        Some(expected) if expected != version => Err(ProjectsError::EtagMismatch),
        _ => Ok(()),
    }
}

/// Now, in millis.
pub(crate) fn now() -> i64 {
    mesh::time::now_millis()
}

/// A fresh id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
