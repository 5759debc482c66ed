//! The SQL implementation of [`TenancyStore`] for SQLite and PostgreSQL, written once and
//! compiled for both backends by `mesh::transaction!` / `mesh::read!`.

use events::outbox::OutboxWriter;
use mesh::auth::OrganizationRole;
use mesh::db::Database;
use mesh::db::rows::{Decodes, get, is_unique_violation, parse};
use mesh::ids::{OrganizationId, UserId};
use sqlx::{ColumnIndex, Row};

use super::*;

/// Tenancy's store over a service database.
#[derive(Clone)]
pub struct SqlTenancyStore {
    database: Database,
}

impl SqlTenancyStore {
    /// A store over `database` (already migrated).
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

impl From<sqlx::Error> for TenancyError {
    fn from(error: sqlx::Error) -> Self {
        TenancyError::Storage(mesh::db::storage_error(error))
    }
}

/// Tenancy's migrations.
pub fn migrations() -> mesh::db::Migrations {
    static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/tenancy/sqlite");
    static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/tenancy/postgres");
    mesh::db::Migrations {
        sqlite: &SQLITE,
        postgres: &POSTGRES,
        table: "_tenancy_migrations",
    }
}

fn organization_from<R>(row: &R) -> Result<OrganizationRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
    i64: Decodes<R>,
{
    Ok(OrganizationRecord {
        id: parse(&get::<R, String>(row, "id")?)?,
        name: get(row, "name")?,
        slug: get(row, "slug")?,
        creator_user_id: parse(&get::<R, String>(row, "creator_user_id")?)?,
        create_request_id: get(row, "create_request_id")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        version: get(row, "version")?,
    })
}

fn membership_from<R>(row: &R) -> Result<MembershipRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    i64: Decodes<R>,
{
    Ok(MembershipRecord {
        organization_id: parse(&get::<R, String>(row, "organization_id")?)?,
        user_id: parse(&get::<R, String>(row, "user_id")?)?,
        role: parse(&get::<R, String>(row, "role")?)?,
        email: get(row, "email")?,
        display_name: get(row, "display_name")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        version: get(row, "version")?,
    })
}

fn invitation_from<R>(row: &R) -> Result<InvitationRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
    i64: Decodes<R>,
    Option<i64>: Decodes<R>,
{
    let accepted_user: Option<String> = get(row, "accepted_user_id")?;
    Ok(InvitationRecord {
        id: get(row, "id")?,
        organization_id: parse(&get::<R, String>(row, "organization_id")?)?,
        email: get(row, "email")?,
        role: parse(&get::<R, String>(row, "role")?)?,
        inviter_user_id: parse(&get::<R, String>(row, "inviter_user_id")?)?,
        request_id: get(row, "request_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        accepted_at: get(row, "accepted_at")?,
        accepted_user_id: accepted_user.as_deref().map(parse).transpose()?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn audit_from<R>(row: &R) -> Result<AuditRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    i64: Decodes<R>,
{
    Ok(AuditRecord {
        id: get(row, "id")?,
        organization_id: parse(&get::<R, String>(row, "organization_id")?)?,
        actor_user_id: parse(&get::<R, String>(row, "actor_user_id")?)?,
        action: get(row, "action")?,
        resource: get(row, "resource")?,
        details: get(row, "details")?,
        request_id: get(row, "request_id")?,
        created_at: get(row, "created_at")?,
    })
}

const INVITATION_COLUMNS: &str = "id, organization_id, email, role, inviter_user_id, request_id, created_at, expires_at, accepted_at, accepted_user_id, revoked_at";

/// Writes a change's audit entries and outbox events inside its transaction.
macro_rules! apply_effects {
    ($tx:ident, $effects:expr) => {{
        for audit in &$effects.audit {
            sqlx::query("insert into audit_events (id, organization_id, actor_user_id, action, resource, details, request_id, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(&audit.id)
                .bind(audit.organization_id.to_string())
                .bind(audit.actor_user_id.to_string())
                .bind(&audit.action)
                .bind(&audit.resource)
                .bind(&audit.details)
                .bind(&audit.request_id)
                .bind(audit.created_at)
                .execute(&mut *$tx)
                .await?;
        }
        for event in &$effects.events {
            $tx.enqueue(event).await?;
        }
    }};
}

/// Locks the organization row for the rest of the transaction (PostgreSQL row lock; SQLite
/// already holds the write lock), so concurrent membership changes serialize per tenant.
macro_rules! lock_organization {
    ($tx:ident, $organization:expr) => {{
        let locked = sqlx::query("update organizations set version = version where id = $1")
            .bind($organization.to_string())
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if locked == 0 {
            return Err(TenancyError::OrganizationNotFound);
        }
    }};
}

macro_rules! owner_count {
    ($tx:ident, $organization:expr) => {{
        let count: i64 = sqlx::query_scalar(
            "select count(*) from memberships where organization_id = $1 and role = 'owner'",
        )
        .bind($organization.to_string())
        .fetch_one(&mut *$tx)
        .await?;
        count
    }};
}

fn page_bounds(page: &Page, descending: bool) -> (i64, String) {
    page.after.clone().unwrap_or(if descending {
        (i64::MAX, "~".into())
    } else {
        (i64::MIN, String::new())
    })
}

#[async_trait::async_trait]
impl TenancyStore for SqlTenancyStore {
    async fn create_organization(
        &self,
        organization: &OrganizationRecord,
        owner: &MembershipRecord,
        effects: &Effects,
    ) -> StoreResult<()> {
        mesh::transaction!(
            &self.database,
            Some(organization.id),
            Some(owner.user_id),
            |tx| {
                let inserted = sqlx::query("insert into organizations (id, name, slug, creator_user_id, create_request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(organization.id.to_string())
                .bind(&organization.name)
                .bind(&organization.slug)
                .bind(organization.creator_user_id.to_string())
                .bind(&organization.create_request_id)
                .bind(organization.created_at)
                .bind(organization.updated_at)
                .bind(organization.version)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(error) if is_unique_violation(&error) => {
                        return Err(TenancyError::SlugTaken);
                    }
                    Err(error) => return Err(error.into()),
                    Ok(_) => {}
                }
                sqlx::query("insert into organization_directory (slug, organization_id, name) values ($1, $2, $3)")
                .bind(&organization.slug)
                .bind(organization.id.to_string())
                .bind(&organization.name)
                .execute(&mut *tx)
                .await?;
                sqlx::query("insert into memberships (organization_id, user_id, role, email, display_name, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(owner.organization_id.to_string())
                .bind(owner.user_id.to_string())
                .bind(owner.role.as_str())
                .bind(&owner.email)
                .bind(&owner.display_name)
                .bind(owner.created_at)
                .bind(owner.updated_at)
                .bind(owner.version)
                .execute(&mut *tx)
                .await?;
                apply_effects!(tx, effects);
                Ok(())
            }
        )
    }

    async fn organization_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<OrganizationRecord>> {
        mesh::read!(&self.database, None, Some(user_id), |tx| {
            let row = sqlx::query(
                "select * from organizations where creator_user_id = $1 and create_request_id = $2",
            )
            .bind(user_id.to_string())
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
            row.map(|row| organization_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<OrganizationRecord>> {
        mesh::read!(&self.database, Some(id), None, |tx| {
            let row = sqlx::query("select * from organizations where id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| organization_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn update_organization(
        &self,
        id: OrganizationId,
        name: Option<&str>,
        slug: Option<&str>,
        expected_version: Option<i64>,
        now: i64,
        effects: &Effects,
    ) -> StoreResult<OrganizationRecord> {
        mesh::transaction!(&self.database, Some(id), None, |tx| {
            let current = sqlx::query("select * from organizations where id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let current = current
                .map(|row| organization_from(&row))
                .transpose()?
                .ok_or(TenancyError::OrganizationNotFound)?;
            if expected_version.is_some_and(|version| version != current.version) {
                return Err(TenancyError::EtagMismatch);
            }
            let name = name.unwrap_or(&current.name);
            let slug = slug.unwrap_or(&current.slug);
            let updated = sqlx::query("update organizations set name = $2, slug = $3, updated_at = $4, version = version + 1 where id = $1 and version = $5 returning *")
                .bind(id.to_string())
                .bind(name)
                .bind(slug)
                .bind(now)
                .bind(current.version)
                .fetch_optional(&mut *tx)
                .await;
            let updated = match updated {
                Err(error) if is_unique_violation(&error) => return Err(TenancyError::SlugTaken),
                Err(error) => return Err(error.into()),
                Ok(None) => return Err(TenancyError::EtagMismatch),
                Ok(Some(row)) => organization_from(&row)?,
            };
            sqlx::query(
                "update organization_directory set slug = $2, name = $3 where organization_id = $1",
            )
            .bind(id.to_string())
            .bind(&updated.slug)
            .bind(&updated.name)
            .execute(&mut *tx)
            .await?;
            apply_effects!(tx, effects);
            Ok(updated)
        })
    }

    async fn organizations_of(
        &self,
        user_id: UserId,
        page: &Page,
    ) -> StoreResult<Vec<OrganizationRecord>> {
        let (after_time, after_id) = page_bounds(page, false);
        mesh::read!(&self.database, None, Some(user_id), |tx| {
            let rows = sqlx::query("select o.* from organizations o join memberships m on m.organization_id = o.id where m.user_id = $1 and (o.created_at > $2 or (o.created_at = $2 and o.id > $3)) order by o.created_at, o.id limit $4")
                .bind(user_id.to_string())
                .bind(after_time)
                .bind(&after_id)
                .bind(page.limit)
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(organization_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(TenancyError::from)
        })
    }

    async fn resolve_slug(
        &self,
        slug: &str,
    ) -> StoreResult<Option<(OrganizationId, String, String)>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query(
                "select organization_id, name, slug from organization_directory where slug = $1",
            )
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?;
            row.map(|row| {
                Ok::<_, sqlx::Error>((
                    parse(&get::<_, String>(&row, "organization_id")?)?,
                    get(&row, "name")?,
                    get(&row, "slug")?,
                ))
            })
            .transpose()
            .map_err(TenancyError::from)
        })
    }

    async fn membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>> {
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let row = sqlx::query(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            row.map(|row| membership_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn own_membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>> {
        mesh::read!(&self.database, None, Some(user_id), |tx| {
            let row = sqlx::query(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            row.map(|row| membership_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn members(
        &self,
        organization_id: OrganizationId,
        page: &Page,
    ) -> StoreResult<Vec<MembershipRecord>> {
        let (after_time, after_id) = page_bounds(page, false);
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let rows = sqlx::query("select * from memberships where organization_id = $1 and (created_at > $2 or (created_at = $2 and user_id > $3)) order by created_at, user_id limit $4")
                .bind(organization_id.to_string())
                .bind(after_time)
                .bind(&after_id)
                .bind(page.limit)
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(membership_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(TenancyError::from)
        })
    }

    async fn change_role(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        role: OrganizationRole,
        expected_version: Option<i64>,
        now: i64,
        effects: RoleChangeEffects<'_>,
    ) -> StoreResult<MembershipRecord> {
        mesh::transaction!(&self.database, Some(organization_id), None, |tx| {
            lock_organization!(tx, organization_id);
            let row = sqlx::query(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let old = row
                .map(|row| membership_from(&row))
                .transpose()?
                .ok_or(TenancyError::MemberNotFound)?;
            if expected_version.is_some_and(|version| version != old.version) {
                return Err(TenancyError::EtagMismatch);
            }
            if old.role == OrganizationRole::Owner
                && role != OrganizationRole::Owner
                && owner_count!(tx, organization_id) <= 1
            {
                return Err(TenancyError::LastOwner);
            }
            let row = sqlx::query("update memberships set role = $3, updated_at = $4, version = version + 1 where organization_id = $1 and user_id = $2 returning *")
                .bind(organization_id.to_string())
                .bind(user_id.to_string())
                .bind(role.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let new = membership_from(&row)?;
            apply_effects!(tx, effects(&old, &new));
            Ok(new)
        })
    }

    async fn remove_member(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        expected_version: Option<i64>,
        effects: MembershipEffects<'_>,
    ) -> StoreResult<MembershipRecord> {
        mesh::transaction!(&self.database, Some(organization_id), None, |tx| {
            lock_organization!(tx, organization_id);
            let row = sqlx::query(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id.to_string())
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let old = row
                .map(|row| membership_from(&row))
                .transpose()?
                .ok_or(TenancyError::MemberNotFound)?;
            if expected_version.is_some_and(|version| version != old.version) {
                return Err(TenancyError::EtagMismatch);
            }
            if old.role == OrganizationRole::Owner && owner_count!(tx, organization_id) <= 1 {
                return Err(TenancyError::LastOwner);
            }
            sqlx::query("delete from memberships where organization_id = $1 and user_id = $2")
                .bind(organization_id.to_string())
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
            apply_effects!(tx, effects(&old));
            Ok(old)
        })
    }

    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        token_hash: &[u8],
        now: i64,
        effects: &Effects,
    ) -> StoreResult<()> {
        let organization_id = invitation.organization_id;
        mesh::transaction!(&self.database, Some(organization_id), None, |tx| {
            lock_organization!(tx, organization_id);
            let member: i64 = sqlx::query_scalar(
                "select count(*) from memberships where organization_id = $1 and email = $2",
            )
            .bind(organization_id.to_string())
            .bind(&invitation.email)
            .fetch_one(&mut *tx)
            .await?;
            if member > 0 {
                return Err(TenancyError::AlreadyMember);
            }
            let pending: i64 = sqlx::query_scalar("select count(*) from invitations where organization_id = $1 and email = $2 and accepted_at is null and revoked_at is null and expires_at > $3")
                .bind(organization_id.to_string())
                .bind(&invitation.email)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if pending > 0 {
                return Err(TenancyError::InvitationPending);
            }
            sqlx::query("insert into invitations (id, organization_id, email, role, token_hash, inviter_user_id, request_id, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&invitation.id)
                .bind(organization_id.to_string())
                .bind(&invitation.email)
                .bind(invitation.role.as_str())
                .bind(token_hash)
                .bind(invitation.inviter_user_id.to_string())
                .bind(&invitation.request_id)
                .bind(invitation.created_at)
                .bind(invitation.expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query("insert into invitation_tokens (token_hash, organization_id, invitation_id) values ($1, $2, $3)")
                .bind(token_hash)
                .bind(organization_id.to_string())
                .bind(&invitation.id)
                .execute(&mut *tx)
                .await?;
            apply_effects!(tx, effects);
            Ok(())
        })
    }

    async fn invitation_by_request(
        &self,
        organization_id: OrganizationId,
        inviter: UserId,
        request_id: &str,
    ) -> StoreResult<Option<InvitationRecord>> {
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("select {INVITATION_COLUMNS} from invitations where organization_id = $1 and inviter_user_id = $2 and request_id = $3")))
                .bind(organization_id.to_string())
                .bind(inviter.to_string())
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| invitation_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<InvitationRecord>> {
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("select {INVITATION_COLUMNS} from invitations where organization_id = $1 and id = $2")))
                .bind(organization_id.to_string())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| invitation_from(&row))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn invitations(
        &self,
        organization_id: OrganizationId,
        state: Option<InvitationState>,
        now: i64,
        page: &Page,
    ) -> StoreResult<Vec<InvitationRecord>> {
        let (after_time, after_id) = page_bounds(page, true);
        let state_filter = match state {
            None => "($4 is null or $4 is not null)",
            Some(InvitationState::Pending) => {
                "accepted_at is null and revoked_at is null and expires_at > $4"
            }
            Some(InvitationState::Accepted) => "accepted_at is not null and $4 = $4",
            Some(InvitationState::Revoked) => {
                "accepted_at is null and revoked_at is not null and $4 = $4"
            }
            Some(InvitationState::Expired) => {
                "accepted_at is null and revoked_at is null and expires_at <= $4"
            }
        };
        let sql = format!(
            "select {INVITATION_COLUMNS} from invitations where organization_id = $1 and (created_at < $2 or (created_at = $2 and id < $3)) and {state_filter} order by created_at desc, id desc limit $5"
        );
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(organization_id.to_string())
                .bind(after_time)
                .bind(&after_id);
            query = if state.is_some() {
                query.bind(now)
            } else {
                query.bind(None::<i64>)
            };
            let rows = query.bind(page.limit).fetch_all(&mut *tx).await?;
            rows.iter()
                .map(invitation_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(TenancyError::from)
        })
    }

    async fn revoke_invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
        now: i64,
        effects: InvitationEffects<'_>,
    ) -> StoreResult<InvitationRecord> {
        mesh::transaction!(&self.database, Some(organization_id), None, |tx| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("select {INVITATION_COLUMNS} from invitations where organization_id = $1 and id = $2")))
                .bind(organization_id.to_string())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let invitation = row
                .map(|row| invitation_from(&row))
                .transpose()?
                .ok_or(TenancyError::InvitationNotFound)?;
            invitation.ensure_pending(now)?;
            sqlx::query(
                "update invitations set revoked_at = $3 where organization_id = $1 and id = $2",
            )
            .bind(organization_id.to_string())
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let revoked = InvitationRecord {
                revoked_at: Some(now),
                ..invitation
            };
            apply_effects!(tx, effects(&revoked));
            Ok(revoked)
        })
    }

    async fn invitation_organization(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<OrganizationId>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row =
                sqlx::query("select organization_id from invitation_tokens where token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            row.map(|row| parse(&get::<_, String>(&row, "organization_id")?))
                .transpose()
                .map_err(TenancyError::from)
        })
    }

    async fn accept_invitation(
        &self,
        organization_id: OrganizationId,
        token_hash: &[u8],
        member: &MembershipRecord,
        now: i64,
        effects: AcceptEffects<'_>,
    ) -> StoreResult<(InvitationRecord, MembershipRecord)> {
        mesh::transaction!(
            &self.database,
            Some(organization_id),
            Some(member.user_id),
            |tx| {
                lock_organization!(tx, organization_id);
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("select {INVITATION_COLUMNS} from invitations where organization_id = $1 and token_hash = $2")))
                .bind(organization_id.to_string())
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let invitation = row
                    .map(|row| invitation_from(&row))
                    .transpose()?
                    .ok_or(TenancyError::InvitationNotFound)?;
                invitation.ensure_pending(now)?;
                if invitation.email != member.email {
                    return Err(TenancyError::InvitationEmailMismatch);
                }
                let existing: i64 = sqlx::query_scalar(
                    "select count(*) from memberships where organization_id = $1 and user_id = $2",
                )
                .bind(organization_id.to_string())
                .bind(member.user_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
                if existing > 0 {
                    return Err(TenancyError::AlreadyMember);
                }
                let membership = MembershipRecord {
                    organization_id,
                    role: invitation.role,
                    ..member.clone()
                };
                sqlx::query("insert into memberships (organization_id, user_id, role, email, display_name, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, 1)")
                .bind(organization_id.to_string())
                .bind(membership.user_id.to_string())
                .bind(membership.role.as_str())
                .bind(&membership.email)
                .bind(&membership.display_name)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("update invitations set accepted_at = $3, accepted_user_id = $4 where organization_id = $1 and id = $2")
                .bind(organization_id.to_string())
                .bind(&invitation.id)
                .bind(now)
                .bind(membership.user_id.to_string())
                .execute(&mut *tx)
                .await?;
                let accepted = InvitationRecord {
                    accepted_at: Some(now),
                    accepted_user_id: Some(membership.user_id),
                    ..invitation
                };
                let membership = MembershipRecord {
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    ..membership
                };
                apply_effects!(tx, effects(&accepted, &membership));
                Ok((accepted, membership))
            }
        )
    }

    async fn audit_events(
        &self,
        organization_id: OrganizationId,
        conditions: &[Condition],
        ascending: bool,
        page: &Page,
    ) -> StoreResult<Vec<AuditRecord>> {
        let (after_time, after_id) = page_bounds(page, !ascending);
        mesh::read!(&self.database, Some(organization_id), None, |tx| {
            let mut query =
                sqlx::QueryBuilder::new("select * from audit_events where organization_id = ");
            query.push_bind(organization_id.to_string());
            for condition in conditions {
                match condition {
                    Condition::Action(action) => {
                        query.push(" and action = ").push_bind(action.clone())
                    }
                    Condition::ActionPrefix(prefix) => query
                        .push(" and substr(action, 1, ")
                        .push_bind(prefix.len() as i32)
                        .push(") = ")
                        .push_bind(prefix.clone()),
                    Condition::Actor(actor) => {
                        query.push(" and actor_user_id = ").push_bind(actor.clone())
                    }
                    Condition::Resource(resource) => {
                        query.push(" and resource = ").push_bind(resource.clone())
                    }
                    Condition::After(millis, inclusive) => query
                        .push(if *inclusive {
                            " and created_at >= "
                        } else {
                            " and created_at > "
                        })
                        .push_bind(*millis),
                    Condition::Before(millis, inclusive) => query
                        .push(if *inclusive {
                            " and created_at <= "
                        } else {
                            " and created_at < "
                        })
                        .push_bind(*millis),
                };
            }
            if ascending {
                query
                    .push(" and (created_at > ")
                    .push_bind(after_time)
                    .push(" or (created_at = ")
                    .push_bind(after_time)
                    .push(" and id > ")
                    .push_bind(after_id.clone())
                    .push(")) order by created_at, id");
            } else {
                query
                    .push(" and (created_at < ")
                    .push_bind(after_time)
                    .push(" or (created_at = ")
                    .push_bind(after_time)
                    .push(" and id < ")
                    .push_bind(after_id.clone())
                    .push(")) order by created_at desc, id desc");
            }
            query.push(" limit ").push_bind(page.limit);
            let rows = query.build().fetch_all(&mut *tx).await?;
            rows.iter()
                .map(audit_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(TenancyError::from)
        })
    }
}
