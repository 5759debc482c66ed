//! The analytics store: projections of other services' events (tasks, projects and their
//! members, organization members, documents, links) and rollups (task flow per quarter hour,
//! completions, link visits), all per organization (row-level security on PostgreSQL).
//! Written only by the event handler ([`sql_apply`]), read by the API.

pub mod sql;
pub mod sql_apply;

#[cfg(feature = "testsuite")]
pub mod conformance;

use mesh::ids::{OrganizationId, UserId};

use crate::domain::AnalyticsError;
use crate::domain::metrics::{Completion, Slot};

/// Store results.
pub type StoreResult<T> = Result<T, AnalyticsError>;

/// Which projects a query covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every project of the organization.
    All,
    /// Only these (possibly none).
    Only(Vec<String>),
}

/// Task flow of a range: the open-count changes before it, its slots, its completions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFlow {
    /// Slots before the range, summed.
    pub base: Slot,
    /// Slots in the range, summed over projects, by slot.
    pub slots: Vec<Slot>,
    /// Completions in the range.
    pub completions: Vec<Completion>,
}

/// What analytics knows of a project.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ProjectRecord {
    /// Id.
    pub project_id: String,
    /// Archived.
    pub archived: bool,
    /// Deleted.
    pub deleted: bool,
}

/// Visits and unique visitors under one value (a day, a link, a browser...).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Traffic {
    /// The value (a day's start as text for days, a link id, a browser...).
    pub value: String,
    /// Visits (bots excluded).
    pub visits: i64,
    /// Sum of daily unique visitors.
    pub uniques: i64,
}

/// Link traffic of a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkTraffic {
    /// Per UTC day with visits (value = day start millis).
    pub days: Vec<Traffic>,
    /// Most visited links (value = link id), with their slugs.
    pub top_links: Vec<(Traffic, String)>,
    /// By referrer host (at most 20).
    pub referrer_hosts: Vec<Traffic>,
    /// By browser.
    pub browsers: Vec<Traffic>,
    /// By operating system.
    pub operating_systems: Vec<Traffic>,
    /// By device class.
    pub device_classes: Vec<Traffic>,
    /// By country.
    pub countries: Vec<Traffic>,
    /// Bot visits.
    pub bot_visits: i64,
}

/// The dashboard's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// Active projects.
    pub projects: i64,
    /// Open (todo, in progress) tasks of active projects.
    pub open_tasks: i64,
    /// Of those, overdue.
    pub overdue_tasks: i64,
    /// Members.
    pub members: i64,
    /// Documents.
    pub documents: i64,
    /// Links.
    pub links: i64,
    /// Completions in the last 7 days.
    pub completed_7_days: i64,
    /// Completions in the last 30 days.
    pub completed_30_days: i64,
    /// Bytes of distinct stored contents.
    pub storage_bytes: i64,
}

/// Analytics as the API reads it.
#[async_trait::async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Task flow of `[start, end)` over `scope`.
    async fn task_flow(
        &self,
        organization_id: OrganizationId,
        scope: &ProjectScope,
        start: i64,
        end: i64,
    ) -> StoreResult<TaskFlow>;

    /// A project of the organization.
    async fn project(
        &self,
        organization_id: OrganizationId,
        project_id: &str,
    ) -> StoreResult<Option<ProjectRecord>>;

    /// The projects `user` is a member of.
    async fn member_projects(
        &self,
        organization_id: OrganizationId,
        user: UserId,
    ) -> StoreResult<Vec<String>>;

    /// Whether a link exists (not deleted).
    async fn link_exists(
        &self,
        organization_id: OrganizationId,
        link_id: &str,
    ) -> StoreResult<bool>;

    /// Link traffic of the UTC days `[start, end)` for one link or all, with the `top` most
    /// visited links.
    async fn link_traffic(
        &self,
        organization_id: OrganizationId,
        link_id: Option<&str>,
        start: i64,
        end: i64,
        top: i64,
    ) -> StoreResult<LinkTraffic>;

    /// The dashboard counts at `now`.
    async fn dashboard(&self, organization_id: OrganizationId, now: i64) -> StoreResult<Dashboard>;

    /// The newest event time applied for the organization.
    async fn applied_until(&self, organization_id: OrganizationId) -> StoreResult<Option<i64>>;
}
