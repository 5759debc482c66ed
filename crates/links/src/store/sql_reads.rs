//! [`SqlLinksStore`] reads: links by id, request id and slug; filtered, ordered pages of
//! links and visits; wrong-password counters.

use mesh::ids::{OrganizationId, UserId};
use mesh::paging::{Key, Page, PageRequest};
use sqlx::QueryBuilder;

use super::sql::{SELECT_LINK, SqlLinksStore};
use super::{LinkRecord, StoreResult, VisitRecord};
use crate::domain::LinksError;
use crate::domain::rules::LinkQuery;

fn push_list<DB>(
    query: &mut QueryBuilder<DB>,
    organization_id: OrganizationId,
    filter: &LinkQuery,
    now: i64,
) where
    DB: sqlx::Database,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .push("select * from links where organization_id = ")
        .push_bind(organization_id.to_string());
    if let Some((kind, id)) = &filter.target {
        query
            .push(" and target_kind = ")
            .push_bind(kind.to_string())
            .push(" and target_id = ")
            .push_bind(id.clone());
    }
    if let Some(user) = &filter.created_by_user_id {
        query
            .push(" and created_by_user_id = ")
            .push_bind(user.clone());
    }
    if let Some(disabled) = filter.disabled {
        query.push(" and disabled = ").push_bind(disabled);
    }
    match filter.expired {
        Some(true) => {
            query
                .push(" and expires_at is not null and expires_at <= ")
                .push_bind(now);
        }
        Some(false) => {
            query
                .push(" and (expires_at is null or expires_at > ")
                .push_bind(now)
                .push(")");
        }
        None => {}
    }
    if let Some(text) = &filter.slug {
        let pattern = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query
            .push(" and slug like ")
            .push_bind(format!("%{pattern}%"))
            .push(" escape '\\'");
    }
}

fn position(link: &LinkRecord, first: &str) -> Vec<Key> {
    let value = match first {
        "created_at" => link.created_at,
        "updated_at" => link.updated_at,
        "visit_count" => link.visit_count,
        _ => link.expires_at.unwrap_or(i64::MAX),
    };
    vec![Key::Int(value), Key::Text(link.id.clone())]
}

impl SqlLinksStore {
    pub(super) async fn link(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<LinkRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, LinksError>(
                sqlx::query_as(SELECT_LINK)
                    .bind(organization_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?,
            )
        })
    }

    pub(super) async fn link_by_request(
        &self,
        organization_id: OrganizationId,
        user: UserId,
        request_id: &str,
    ) -> StoreResult<Option<LinkRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            Ok::<_, LinksError>(sqlx::query_as("select * from links where organization_id = $1 and created_by_user_id = $2 and create_request_id = $3")
                .bind(organization_id)
                .bind(user)
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    pub(super) async fn link_by_slug(&self, slug: &str) -> StoreResult<Option<LinkRecord>> {
        let entry: Option<(OrganizationId, String)> =
            mesh::read_one!(&self.0.database, None, None, |tx| {
                Ok::<_, LinksError>(
                    sqlx::query_as(
                        "select organization_id, link_id from link_slugs where slug = $1",
                    )
                    .bind(slug)
                    .fetch_optional(&mut *tx)
                    .await?,
                )
            })?;
        match entry {
            Some((organization_id, id)) => self.link(organization_id, &id).await,
            None => Ok(None),
        }
    }

    pub(super) async fn link_page(
        &self,
        organization_id: OrganizationId,
        filter: &LinkQuery,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<LinkRecord>> {
        let first = page.keyset().columns[0].0;
        let first = if first.starts_with("coalesce") {
            "expires_at"
        } else {
            first
        };
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("");
            push_list(&mut query, organization_id, filter, now);
            page.push_keyset(&mut query);
            let rows: Vec<LinkRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, LinksError>(page.finish(rows, |link| position(link, first)))
        })
    }

    pub(super) async fn visit_page(
        &self,
        organization_id: OrganizationId,
        link_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<VisitRecord>> {
        mesh::read_one!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("select * from link_visits where organization_id = ");
            query
                .push_bind(organization_id.to_string())
                .push(" and link_id = ")
                .push_bind(link_id.to_string());
            page.push_keyset(&mut query);
            let rows: Vec<VisitRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, LinksError>(page.finish(rows, |visit| {
                vec![Key::Int(visit.visited_at), Key::Text(visit.id.clone())]
            }))
        })
    }
}
