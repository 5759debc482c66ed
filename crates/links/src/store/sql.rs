//! [`LinksStore`] writes on SQLite and PostgreSQL, written once for both; every change
//! writes its events through `kit::change!` in its organization's scope.

use events::EventMessage;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Page, PageRequest};
use taskmesh::events::v1::{LinkCreated, LinkDeleted, LinkVisited};

use super::{LinkChange, LinkRecord, LinksStore, StoreResult, VisitRecord};
use crate::domain::rules::LinkQuery;
use crate::domain::{LinksError, attempts};
use crate::events::{LINK_CREATED, LINK_DELETED, LINK_VISITED};

mesh::storage_errors_into!(LinksError);

/// The links database as the service sees it.
pub struct SqlLinksStore(pub kit::Storage);

/// Links' migrations (its tables) for either backend.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_links_migrations",
        "../../migrations/links/sqlite",
        "../../migrations/links/postgres"
    )
}

pub(super) const SELECT_LINK: &str = "select * from links where organization_id = $1 and id = $2";

fn resource(link: &LinkRecord) -> String {
    format!("organizations/{}/links/{}", link.organization_id, link.id)
}

fn created(link: &LinkRecord) -> EventMessage {
    LINK_CREATED
        .event(
            resource(link),
            &LinkCreated {
                link_id: link.id.clone(),
                slug: link.slug.clone(),
                target_kind: link.target_kind.clone(),
                target_id: link.target_id.clone(),
                expire_time: link.expires_at.map(mesh::time::timestamp),
                max_visits: link.max_visits,
                password_protected: link.password_hash.is_some(),
            },
        )
        .tenant(link.organization_id)
        .user_actor(link.created_by_user_id)
        .build()
}

/// Deletes link `$id` (slug `$slug`) of `$organization` with its visits on `$tx`, freeing
/// the slug: the one way a link goes (DeleteLink, a deleted target).
macro_rules! delete_link {
    ($tx:expr, $organization:expr, $id:expr, $slug:expr) => {{
        let organization: String = $organization;
        sqlx::query("delete from link_visits where organization_id = $1 and link_id = $2")
            .bind(&organization)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("delete from links where organization_id = $1 and id = $2")
            .bind(&organization)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("delete from link_slugs where slug = $1 and link_id = $2")
            .bind($slug)
            .bind($id)
            .execute(&mut *$tx)
            .await?;
    }};
}

pub(super) use delete_link;

/// Claims `$slug` for `$link` in the directory on `$tx`; SlugTaken when another link has it.
macro_rules! claim_slug {
    ($tx:expr, $slug:expr, $organization:expr, $link:expr) => {
        match sqlx::query(
            "insert into link_slugs (slug, organization_id, link_id) values ($1, $2, $3)",
        )
        .bind($slug)
        .bind($organization)
        .bind($link)
        .execute(&mut *$tx)
        .await
        {
            Err(error) if mesh::db::rows::is_unique_violation(&error) => {
                return Err(LinksError::SlugTaken)
            }
            other => {
                other?;
            }
        }
    };
}

#[async_trait::async_trait]
impl LinksStore for SqlLinksStore {
    async fn create(&self, link: &LinkRecord) -> StoreResult<()> {
        kit::change!(&self.0, Some(link.organization_id), None, |tx, effects| {
            claim_slug!(tx, &link.slug, link.organization_id, &link.id);
            sqlx::query("insert into links (id, organization_id, slug, target_kind, target_id, expires_at, max_visits, visit_count, password_hash, note, allow_comments, disabled, created_by_user_id, create_request_id, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, 1, $14, $14)")
                .bind(&link.id)
                .bind(link.organization_id)
                .bind(&link.slug)
                .bind(&link.target_kind)
                .bind(&link.target_id)
                .bind(link.expires_at)
                .bind(link.max_visits)
                .bind(&link.password_hash)
                .bind(&link.note)
                .bind(link.allow_comments)
                .bind(link.disabled)
                .bind(link.created_by_user_id)
                .bind(&link.create_request_id)
                .bind(link.created_at)
                .execute(&mut *tx)
                .await?;
            effects.events.push(created(link));
            Ok::<_, LinksError>(())
        })
    }

    async fn by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<LinkRecord>> {
        self.link_by_request(organization_id, user, request_id)
            .await
    }

    async fn get(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<LinkRecord>> {
        self.link(organization_id, id).await
    }

    async fn by_slug(&self, slug: &str) -> StoreResult<Option<LinkRecord>> {
        self.link_by_slug(slug).await
    }

    async fn list(
        &self,
        organization_id: OrganizationId,
        query: &LinkQuery,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<LinkRecord>> {
        self.link_page(organization_id, query, now, page).await
    }

    async fn update(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        change: &LinkChange,
        at: i64,
    ) -> StoreResult<LinkRecord> {
        kit::change!(&self.0, Some(organization_id), None, |tx, _effects| {
            let current: Option<LinkRecord> = sqlx::query_as(SELECT_LINK)
                .bind(organization_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let current = current.ok_or(LinksError::LinkNotFound)?;
            if expected.is_some_and(|expected| expected != current.version) {
                return Err(LinksError::EtagMismatch);
            }
            let (target_kind, target_id) = change
                .target
                .clone()
                .unwrap_or((current.target_kind.clone(), current.target_id.clone()));
            let next = LinkRecord {
                slug: change.slug.clone().unwrap_or(current.slug.clone()),
                target_kind,
                target_id,
                expires_at: change.expires_at.unwrap_or(current.expires_at),
                max_visits: change.max_visits.unwrap_or(current.max_visits),
                password_hash: change
                    .password_hash
                    .clone()
                    .unwrap_or(current.password_hash.clone()),
                disabled: change.disabled.unwrap_or(current.disabled),
                note: change.note.clone().unwrap_or(current.note.clone()),
                allow_comments: change.allow_comments.unwrap_or(current.allow_comments),
                version: current.version + 1,
                updated_at: at,
                ..current.clone()
            };
            if next.slug != current.slug {
                claim_slug!(tx, &next.slug, organization_id, id);
                sqlx::query("delete from link_slugs where slug = $1 and link_id = $2")
                    .bind(&current.slug)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let changed = sqlx::query("update links set slug = $3, target_kind = $4, target_id = $5, expires_at = $6, max_visits = $7, password_hash = $8, disabled = $9, note = $10, allow_comments = $11, version = $12, updated_at = $13 where organization_id = $1 and id = $2 and version = $14")
                .bind(organization_id)
                .bind(id)
                .bind(&next.slug)
                .bind(&next.target_kind)
                .bind(&next.target_id)
                .bind(next.expires_at)
                .bind(next.max_visits)
                .bind(&next.password_hash)
                .bind(next.disabled)
                .bind(&next.note)
                .bind(next.allow_comments)
                .bind(next.version)
                .bind(at)
                .bind(current.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(LinksError::EtagMismatch);
            }
            Ok::<_, LinksError>(next)
        })
    }

    async fn delete(
        &self,
        organization_id: OrganizationId,
        id: &str,
        expected: Option<i64>,
        actor: UserId,
    ) -> StoreResult<()> {
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            let current: Option<LinkRecord> = sqlx::query_as(SELECT_LINK)
                .bind(organization_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let current = current.ok_or(LinksError::LinkNotFound)?;
            if expected.is_some_and(|expected| expected != current.version) {
                return Err(LinksError::EtagMismatch);
            }
            delete_link!(tx, organization_id.to_string(), id, &current.slug);
            effects.events.push(
                LINK_DELETED
                    .event(
                        resource(&current),
                        &LinkDeleted {
                            link_id: current.id.clone(),
                            slug: current.slug.clone(),
                            target_kind: current.target_kind.clone(),
                            target_id: current.target_id.clone(),
                            target_deleted: false,
                        },
                    )
                    .tenant(organization_id)
                    .user_actor(actor)
                    .build(),
            );
            Ok::<_, LinksError>(())
        })
    }

    async fn count_visit(
        &self,
        visit: &VisitRecord,
        visitor_hash: &str,
    ) -> StoreResult<Option<LinkRecord>> {
        let organization_id = visit.organization_id;
        kit::change!(&self.0, Some(organization_id), None, |tx, effects| {
            // The one statement that decides: concurrent visitors queue on the row, and each
            // sees the count the previous one left.
            let counted: Option<LinkRecord> = sqlx::query_as("update links set visit_count = visit_count + 1 where organization_id = $1 and id = $2 and not disabled and (expires_at is null or expires_at > $3) and (max_visits = 0 or visit_count < max_visits) returning *")
                .bind(organization_id)
                .bind(&visit.link_id)
                .bind(visit.visited_at)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(link) = counted else {
                return Ok::<_, LinksError>(None);
            };
            sqlx::query("insert into link_visits (id, organization_id, link_id, visited_at, referrer_host, browser, os, device_class, bot, anonymized_address, country) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(&visit.id)
                .bind(organization_id)
                .bind(&visit.link_id)
                .bind(visit.visited_at)
                .bind(&visit.referrer_host)
                .bind(&visit.browser)
                .bind(&visit.os)
                .bind(&visit.device_class)
                .bind(visit.bot)
                .bind(&visit.anonymized_address)
                .bind(&visit.country)
                .execute(&mut *tx)
                .await?;
            effects.events.push(
                LINK_VISITED
                    .event(
                        resource(&link),
                        &LinkVisited {
                            link_id: link.id.clone(),
                            slug: link.slug.clone(),
                            visit_time: Some(mesh::time::timestamp(visit.visited_at)),
                            referrer: if visit.referrer_host.is_empty() {
                                String::new()
                            } else {
                                format!("https://{}", visit.referrer_host)
                            },
                            country: (!visit.country.is_empty()).then(|| visit.country.clone()),
                            visitor_hash: visitor_hash.to_string(),
                            target_kind: link.target_kind.clone(),
                            target_id: link.target_id.clone(),
                            visit_count: link.visit_count,
                            browser: visit.browser.clone(),
                            os: visit.os.clone(),
                            device_class: visit.device_class.clone(),
                            bot: visit.bot,
                        },
                    )
                    .tenant(organization_id)
                    .anonymous_actor()
                    .build(),
            );
            Ok(Some(link))
        })
    }

    async fn visits(
        &self,
        organization_id: OrganizationId,
        link_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VisitRecord>> {
        self.visit_page(organization_id, link_id, page).await
    }

    async fn reserve_attempt(
        &self,
        counters: &[(String, i64)],
        window_ms: i64,
        now: i64,
    ) -> StoreResult<Option<std::time::Duration>> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            let mut longest: Option<std::time::Duration> = None;
            for (key, limit) in counters {
                // Counting first takes the row (PostgreSQL's row lock, SQLite's one writer),
                // so concurrent attempts each see the ones before them.
                let (counted, started): (i64, i64) = sqlx::query_as("insert into link_attempts (key, window_started_at, failures) values ($1, $2, 1) on conflict (key) do update set failures = link_attempts.failures + 1 returning failures, window_started_at")
                    .bind(key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                match attempts::decide(*limit, window_ms, counted - 1, started, now) {
                    attempts::Decision::Allow => {}
                    attempts::Decision::Restart => {
                        sqlx::query("update link_attempts set failures = 1, window_started_at = $2 where key = $1")
                            .bind(key)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    attempts::Decision::Refuse(wait) => {
                        longest = Some(longest.map_or(wait, |longest| longest.max(wait)));
                    }
                }
            }
            Ok::<_, LinksError>(longest)
        })
    }

    async fn release_attempt(&self, decrement: &[String], clear: &[String]) -> StoreResult<()> {
        mesh::transaction!(&self.0.database, None, None, |tx| {
            for key in decrement {
                sqlx::query("update link_attempts set failures = failures - 1 where key = $1 and failures > 0")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            for key in clear {
                sqlx::query("delete from link_attempts where key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, LinksError>(())
        })
    }
}
