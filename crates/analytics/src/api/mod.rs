//! AnalyticsService over tonic: metrics of the organization in the caller's token, for
//! owners, admins and members (guests refused); members see only their projects' task flow.
//! Errors leave through `mesh::error` once.

use std::sync::Arc;

use mesh::auth::{OrganizationRole, require_principal};
use mesh::ids::{OrganizationId, UserId};
use taskmesh::analytics::v1::analytics_service_server::AnalyticsService;
use taskmesh::analytics::v1::*;
use tonic::{Request, Response, Status};

use crate::domain::buckets::{self, Granularity};
use crate::domain::metrics::{Point, points};
use crate::domain::{AnalyticsError, day};
use crate::store::{AnalyticsStore, ProjectScope, Traffic};

type Reply<T> = std::result::Result<Response<T>, Status>;
type Result<T> = std::result::Result<T, AnalyticsError>;

fn reply<T>(result: Result<T>) -> Reply<T> {
    result
        .map(Response::new)
        .map_err(|error| mesh::ServiceError::from(error).into_status())
}

const DAY_MS: i64 = 86_400_000;

/// The service.
pub struct AnalyticsApi {
    store: Arc<dyn AnalyticsStore>,
}

impl AnalyticsApi {
    /// The API over `store`.
    pub fn new(store: Arc<dyn AnalyticsStore>) -> Self {
        Self { store }
    }

    async fn as_of(
        &self,
        organization_id: OrganizationId,
    ) -> Result<Option<prost_types::Timestamp>> {
        Ok(self
            .store
            .applied_until(organization_id)
            .await?
            .map(mesh::time::timestamp))
    }
}

/// A caller above guest: organization, user, and whether they see every project.
struct Caller {
    organization_id: OrganizationId,
    user_id: UserId,
    sees_all: bool,
}

impl Caller {
    fn of<T>(request: &Request<T>) -> Result<Self> {
        let principal = require_principal(request)?;
        let organization_id = principal.organization()?;
        let role = principal.ensure_role(OrganizationRole::Member)?;
        Ok(Self {
            organization_id,
            user_id: principal.user_id,
            sees_all: role.at_least(OrganizationRole::Admin),
        })
    }
}

fn duration(millis: Option<i64>) -> Option<prost_types::Duration> {
    millis.map(|millis| prost_types::Duration {
        seconds: millis.div_euclid(1_000),
        nanos: i32::try_from(millis.rem_euclid(1_000) * 1_000_000).unwrap_or(0),
    })
}

fn point(point: &Point) -> TaskMetricsPoint {
    TaskMetricsPoint {
        start_time: Some(mesh::time::timestamp(point.start)),
        end_time: Some(mesh::time::timestamp(point.end)),
        created_count: point.counts.created,
        completed_count: point.counts.completed,
        in_progress_count: point.in_progress,
        throughput_per_day: point.throughput_per_day,
        median_cycle_time: duration(point.median_cycle_ms),
        p85_cycle_time: duration(point.p85_cycle_ms),
        median_lead_time: duration(point.median_lead_ms),
        p85_lead_time: duration(point.p85_lead_ms),
        reopened_count: point.counts.reopened,
        backlog_count: point.backlog,
        todo_count: point.todo,
        work_logged: duration(Some(point.counts.work_logged_ms)),
        comment_count: point.counts.comments,
        document_upload_count: point.counts.uploads,
    }
}

fn breakdown(rows: &[Traffic]) -> Vec<LinkVisitsBreakdown> {
    rows.iter()
        .map(|row| LinkVisitsBreakdown {
            value: row.value.clone(),
            visit_count: row.visits,
            unique_visitor_count: row.uniques,
        })
        .collect()
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    async fn get_task_metrics(
        &self,
        request: Request<GetTaskMetricsRequest>,
    ) -> Reply<GetTaskMetricsResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let granularity = match message.granularity {
                    0 | 1 => Granularity::Day,
                    2 => Granularity::Week,
                    _ => {
                        return Err(AnalyticsError::InvalidField {
                            field: "granularity",
                            description: "must be DAY or WEEK".into(),
                        });
                    }
                };
                let max_days = match granularity {
                    Granularity::Day => 366,
                    Granularity::Week => 104 * 7,
                };
                let (start, end) = buckets::range(
                    message.start_time.as_ref().map(mesh::time::millis),
                    message.end_time.as_ref().map(mesh::time::millis),
                    max_days,
                )?;
                let zone = buckets::zone(&message.time_zone)?;
                let scope = match message.project_id.trim() {
                    "" if caller.sees_all => ProjectScope::All,
                    "" => ProjectScope::Only(
                        self.store
                            .member_projects(caller.organization_id, caller.user_id)
                            .await?,
                    ),
                    project_id => {
                        let found = self
                            .store
                            .project(caller.organization_id, project_id)
                            .await?
                            .filter(|project| !project.deleted);
                        let visible = found.is_some()
                            && (caller.sees_all
                                || self
                                    .store
                                    .member_projects(caller.organization_id, caller.user_id)
                                    .await?
                                    .iter()
                                    .any(|p| p == project_id));
                        if !visible {
                            return Err(AnalyticsError::ProjectNotFound);
                        }
                        ProjectScope::Only(vec![project_id.to_string()])
                    }
                };
                let buckets = buckets::buckets(start, end, granularity, &zone)?;
                let flow = self
                    .store
                    .task_flow(caller.organization_id, &scope, start, end)
                    .await?;
                let (series, total) = points(&buckets, &flow.base, &flow.slots, &flow.completions);
                Ok(GetTaskMetricsResponse {
                    points: series.iter().map(point).collect(),
                    total: Some(point(&total)),
                    as_of_time: self.as_of(caller.organization_id).await?,
                })
            }
            .await,
        )
    }

    async fn get_link_metrics(
        &self,
        request: Request<GetLinkMetricsRequest>,
    ) -> Reply<GetLinkMetricsResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let message = request.get_ref();
                let (start, end) = buckets::range(
                    message.start_time.as_ref().map(mesh::time::millis),
                    message.end_time.as_ref().map(mesh::time::millis),
                    366,
                )?;
                // Whole UTC days: visitor hashes rotate at UTC midnight.
                let (start, end) = (day(start), day(end - 1) + DAY_MS);
                let top = match message.top_links_limit {
                    0 => 10,
                    limit @ 1..=100 => i64::from(limit),
                    _ => {
                        return Err(AnalyticsError::InvalidField {
                            field: "top_links_limit",
                            description: "must be between 0 and 100".into(),
                        });
                    }
                };
                let link = match message.link_id.trim() {
                    "" => None,
                    link => {
                        if !self.store.link_exists(caller.organization_id, link).await? {
                            return Err(AnalyticsError::LinkNotFound);
                        }
                        Some(link)
                    }
                };
                let traffic = self
                    .store
                    .link_traffic(caller.organization_id, link, start, end, top)
                    .await?;
                let by_day: std::collections::HashMap<i64, &Traffic> = traffic
                    .days
                    .iter()
                    .filter_map(|row| row.value.parse().ok().map(|day: i64| (day, row)))
                    .collect();
                let points: Vec<LinkVisitsPoint> = (0..(end - start) / DAY_MS)
                    .map(|n| {
                        let day = start + n * DAY_MS;
                        let row = by_day.get(&day);
                        LinkVisitsPoint {
                            start_time: Some(mesh::time::timestamp(day)),
                            visit_count: row.map_or(0, |row| row.visits),
                            unique_visitor_count: row.map_or(0, |row| row.uniques),
                        }
                    })
                    .collect();
                Ok(GetLinkMetricsResponse {
                    visit_count: points.iter().map(|p| p.visit_count).sum(),
                    unique_visitor_count: points.iter().map(|p| p.unique_visitor_count).sum(),
                    points,
                    top_links: traffic
                        .top_links
                        .iter()
                        .map(|(row, slug)| LinkTraffic {
                            link_id: row.value.clone(),
                            slug: slug.clone(),
                            visit_count: row.visits,
                            unique_visitor_count: row.uniques,
                        })
                        .collect(),
                    as_of_time: self.as_of(caller.organization_id).await?,
                    referrer_hosts: breakdown(&traffic.referrer_hosts),
                    browsers: breakdown(&traffic.browsers),
                    operating_systems: breakdown(&traffic.operating_systems),
                    device_classes: breakdown(&traffic.device_classes),
                    countries: breakdown(&traffic.countries),
                    bot_visit_count: traffic.bot_visits,
                })
            }
            .await,
        )
    }

    async fn get_organization_dashboard(
        &self,
        request: Request<GetOrganizationDashboardRequest>,
    ) -> Reply<GetOrganizationDashboardResponse> {
        reply(
            async {
                let caller = Caller::of(&request)?;
                let as_of = self.store.applied_until(caller.organization_id).await?;
                let now = mesh::time::now_millis();
                let counts = self.store.dashboard(caller.organization_id, now).await?;
                Ok(GetOrganizationDashboardResponse {
                    dashboard: Some(OrganizationDashboard {
                        organization_id: caller.organization_id.to_string(),
                        project_count: counts.projects,
                        open_task_count: counts.open_tasks,
                        overdue_task_count: counts.overdue_tasks,
                        member_count: counts.members,
                        document_count: counts.documents,
                        link_count: counts.links,
                        completed_task_count_last_7_days: counts.completed_7_days,
                        completed_task_count_last_30_days: counts.completed_30_days,
                        storage_bytes: counts.storage_bytes,
                        as_of_time: as_of.map(mesh::time::timestamp),
                    }),
                })
            }
            .await,
        )
    }
}
