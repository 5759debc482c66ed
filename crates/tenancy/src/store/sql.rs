//! The SQL implementation of [`TenancyStore`] for SQLite and PostgreSQL, written once and
//! compiled for both backends by `kit::change!` (writes) and `mesh::read!` (reads). Rows
//! decode with `FromRow`; ids and roles bind and decode as they are.

use kit::Storage;
use mesh::auth::OrganizationRole;
use mesh::db::rows::is_unique_violation;
use mesh::ids::{OrganizationId, UserId};
use mesh::paging::Key;
use sqlx::QueryBuilder;

use super::*;
use crate::domain;

/// Tenancy's store over its (migrated) service database.
#[derive(Clone)]
pub struct SqlTenancyStore(pub Storage);

mesh::storage_errors_into!(TenancyError);

/// Tenancy's migrations.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_tenancy_migrations",
        "../../migrations/tenancy/sqlite",
        "../../migrations/tenancy/postgres"
    )
}

const INVITATION_COLUMNS: &str = "id, organization_id, email, role, inviter_user_id, request_id, created_at, expires_at, accepted_at, accepted_user_id, revoked_at";

fn invitations_where(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "select {INVITATION_COLUMNS} from invitations where {filter}"
    ))
}

/// Locks the organization row for the rest of the transaction (PostgreSQL row lock; SQLite
/// already holds the write lock), so concurrent membership changes serialize per tenant.
macro_rules! lock_organization {
    ($tx:ident, $organization:expr) => {{
        let locked = sqlx::query("update organizations set version = version where id = $1")
            .bind($organization)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if locked == 0 {
            return Err(TenancyError::OrganizationNotFound);
        }
    }};
}

/// The membership of `$user` in `$organization`, or `MemberNotFound`.
macro_rules! existing_membership {
    ($tx:ident, $organization:expr, $user:expr) => {
        sqlx::query_as::<_, MembershipRecord>(
            "select * from memberships where organization_id = $1 and user_id = $2",
        )
        .bind($organization)
        .bind($user)
        .fetch_optional(&mut *$tx)
        .await?
        .ok_or(TenancyError::MemberNotFound)?
    };
}

/// Revokes the pending invitations `$inviter` made that `$keep` rejects; yields them as
/// revoked.
macro_rules! revoke_invitations_of {
    ($tx:ident, $organization:expr, $inviter:expr, $now:expr, $keep:expr) => {{
        let pending: Vec<InvitationRecord> = sqlx::query_as(invitations_where(
            "organization_id = $1 and inviter_user_id = $2 and accepted_at is null and revoked_at is null and expires_at > $3",
        ))
        .bind($organization)
        .bind($inviter)
        .bind($now)
        .fetch_all(&mut *$tx)
        .await?;
        let mut revoked = Vec::new();
        for invitation in pending {
            if ($keep)(&invitation) {
                continue;
            }
            sqlx::query(
                "update invitations set revoked_at = $3 where organization_id = $1 and id = $2",
            )
            .bind($organization)
            .bind(&invitation.id)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            revoked.push(InvitationRecord {
                revoked_at: Some($now),
                ..invitation
            });
        }
        revoked
    }};
}

macro_rules! owner_count {
    ($tx:ident, $organization:expr) => {{
        let count: i64 = sqlx::query_scalar(
            "select count(*) from memberships where organization_id = $1 and role = 'owner'",
        )
        .bind($organization)
        .fetch_one(&mut *$tx)
        .await?;
        count
    }};
}

const INSERT_MEMBERSHIP: &str = "insert into memberships (organization_id, user_id, role, email, display_name, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)";

macro_rules! insert_membership {
    ($tx:ident, $member:expr) => {
        sqlx::query(INSERT_MEMBERSHIP)
            .bind($member.organization_id)
            .bind($member.user_id)
            .bind($member.role)
            .bind(&$member.email)
            .bind(&$member.display_name)
            .bind($member.created_at)
            .bind($member.updated_at)
            .bind($member.version)
            .execute(&mut *$tx)
            .await?
    };
}

fn by_creation(created_at: i64, id: String) -> Vec<Key> {
    vec![created_at.into(), id.into()]
}

#[async_trait::async_trait]
impl TenancyStore for SqlTenancyStore {
    async fn create_organization(
        &self,
        organization: &OrganizationRecord,
        owner: &MembershipRecord,
        effects: Effects,
    ) -> StoreResult<()> {
        kit::change!(
            &self.0,
            Some(organization.id),
            Some(owner.user_id),
            |tx, collected| {
                let inserted = sqlx::query("insert into organizations (id, name, slug, creator_user_id, create_request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(organization.id)
                    .bind(&organization.name)
                    .bind(&organization.slug)
                    .bind(organization.creator_user_id)
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
                    .bind(organization.id)
                    .bind(&organization.name)
                    .execute(&mut *tx)
                    .await?;
                insert_membership!(tx, owner);
                collected.extend(effects);
                Ok(())
            }
        )
    }

    async fn organization_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<OrganizationRecord>> {
        mesh::read!(&self.0.database, None, Some(user_id), |tx| {
            Ok(sqlx::query_as(
                "select * from organizations where creator_user_id = $1 and create_request_id = $2",
            )
            .bind(user_id)
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<OrganizationRecord>> {
        mesh::read!(&self.0.database, Some(id), None, |tx| {
            Ok(sqlx::query_as("select * from organizations where id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn update_organization(
        &self,
        id: OrganizationId,
        name: Option<&str>,
        slug: Option<&str>,
        expected_version: Option<i64>,
        now: i64,
        effects: Effects,
    ) -> StoreResult<OrganizationRecord> {
        kit::change!(&self.0, Some(id), None, |tx, collected| {
            // One statement changes the given fields and checks the etag; zero rows means
            // a missing organization or a stale version, told apart below.
            let updated = sqlx::query_as::<_, OrganizationRecord>("update organizations set name = coalesce($2, name), slug = coalesce($3, slug), updated_at = $4, version = version + 1 where id = $1 and ($5 is null or version = $5) returning *")
                .bind(id)
                .bind(name)
                .bind(slug)
                .bind(now)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await;
            let updated = match updated {
                Err(error) if is_unique_violation(&error) => return Err(TenancyError::SlugTaken),
                Err(error) => return Err(error.into()),
                Ok(Some(updated)) => updated,
                Ok(None) => {
                    let exists: i64 =
                        sqlx::query_scalar("select count(*) from organizations where id = $1")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                    return Err(if exists == 0 {
                        TenancyError::OrganizationNotFound
                    } else {
                        TenancyError::EtagMismatch
                    });
                }
            };
            sqlx::query(
                "update organization_directory set slug = $2, name = $3 where organization_id = $1",
            )
            .bind(id)
            .bind(&updated.slug)
            .bind(&updated.name)
            .execute(&mut *tx)
            .await?;
            collected.extend(effects);
            Ok(updated)
        })
    }

    async fn organizations_of(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<OrganizationRecord>> {
        mesh::read!(&self.0.database, None, Some(user_id), |tx| {
            let mut query = QueryBuilder::new(
                "select o.* from organizations o join memberships m on m.organization_id = o.id where m.user_id = ",
            );
            query.push_bind(user_id);
            page.push_keyset(&mut query);
            let rows: Vec<OrganizationRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| by_creation(row.created_at, row.id.to_string())))
        })
    }

    async fn resolve_slug(
        &self,
        slug: &str,
    ) -> StoreResult<Option<(OrganizationId, String, String)>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_as(
                "select organization_id, name, slug from organization_directory where slug = $1",
            )
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            Ok(sqlx::query_as(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn own_membership(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
    ) -> StoreResult<Option<MembershipRecord>> {
        mesh::read!(&self.0.database, None, Some(user_id), |tx| {
            Ok(sqlx::query_as(
                "select * from memberships where organization_id = $1 and user_id = $2",
            )
            .bind(organization_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn members(
        &self,
        organization_id: OrganizationId,
        page: &PageRequest,
    ) -> StoreResult<Page<MembershipRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new("select * from memberships where organization_id = ");
            query.push_bind(organization_id);
            page.push_keyset(&mut query);
            let rows: Vec<MembershipRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                by_creation(row.created_at, row.user_id.to_string())
            }))
        })
    }

    async fn change_role(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        role: OrganizationRole,
        expected_version: Option<i64>,
        now: i64,
        effects: EffectsFor<'_, RoleChange>,
    ) -> StoreResult<MembershipRecord> {
        kit::change!(&self.0, Some(organization_id), None, |tx, collected| {
            lock_organization!(tx, organization_id);
            let old = existing_membership!(tx, organization_id, user_id);
            if old.role == OrganizationRole::Owner
                && role != OrganizationRole::Owner
                && owner_count!(tx, organization_id) <= 1
            {
                return Err(TenancyError::LastOwner);
            }
            let new = sqlx::query_as::<_, MembershipRecord>("update memberships set role = $3, updated_at = $4, version = version + 1 where organization_id = $1 and user_id = $2 and ($5 is null or version = $5) returning *")
                .bind(organization_id)
                .bind(user_id)
                .bind(role)
                .bind(now)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(TenancyError::EtagMismatch)?;
            let revoked_invitations = revoke_invitations_of!(
                tx,
                organization_id,
                user_id,
                now,
                |invitation: &InvitationRecord| domain::may_invite(role, invitation.role)
            );
            let change = RoleChange {
                old,
                new,
                revoked_invitations,
            };
            collected.extend(effects(&change));
            Ok(change.new)
        })
    }

    async fn remove_member(
        &self,
        organization_id: OrganizationId,
        user_id: UserId,
        expected_version: Option<i64>,
        now: i64,
        effects: EffectsFor<'_, Removal>,
    ) -> StoreResult<MembershipRecord> {
        kit::change!(&self.0, Some(organization_id), None, |tx, collected| {
            lock_organization!(tx, organization_id);
            let old = existing_membership!(tx, organization_id, user_id);
            if old.role == OrganizationRole::Owner && owner_count!(tx, organization_id) <= 1 {
                return Err(TenancyError::LastOwner);
            }
            let removed = sqlx::query("delete from memberships where organization_id = $1 and user_id = $2 and ($3 is null or version = $3)")
                .bind(organization_id)
                .bind(user_id)
                .bind(expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(TenancyError::EtagMismatch);
            }
            let revoked_invitations = revoke_invitations_of!(
                tx,
                organization_id,
                user_id,
                now,
                |_: &InvitationRecord| { false }
            );
            let removal = Removal {
                member: old,
                revoked_invitations,
            };
            collected.extend(effects(&removal));
            Ok(removal.member)
        })
    }

    async fn create_invitation(
        &self,
        invitation: &InvitationRecord,
        token_hash: &[u8],
        now: i64,
        effects: Effects,
    ) -> StoreResult<()> {
        let organization_id = invitation.organization_id;
        kit::change!(&self.0, Some(organization_id), None, |tx, collected| {
            lock_organization!(tx, organization_id);
            let member: i64 = sqlx::query_scalar(
                "select count(*) from memberships where organization_id = $1 and email = $2",
            )
            .bind(organization_id)
            .bind(&invitation.email)
            .fetch_one(&mut *tx)
            .await?;
            if member > 0 {
                return Err(TenancyError::AlreadyMember);
            }
            let pending: i64 = sqlx::query_scalar("select count(*) from invitations where organization_id = $1 and email = $2 and accepted_at is null and revoked_at is null and expires_at > $3")
                .bind(organization_id)
                .bind(&invitation.email)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if pending > 0 {
                return Err(TenancyError::InvitationPending);
            }
            sqlx::query("insert into invitations (id, organization_id, email, role, token_hash, inviter_user_id, request_id, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&invitation.id)
                .bind(organization_id)
                .bind(&invitation.email)
                .bind(invitation.role)
                .bind(token_hash)
                .bind(invitation.inviter_user_id)
                .bind(&invitation.request_id)
                .bind(invitation.created_at)
                .bind(invitation.expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query("insert into invitation_tokens (token_hash, organization_id, invitation_id) values ($1, $2, $3)")
                .bind(token_hash)
                .bind(organization_id)
                .bind(&invitation.id)
                .execute(&mut *tx)
                .await?;
            collected.extend(effects);
            Ok(())
        })
    }

    async fn invitation_by_request(
        &self,
        organization_id: OrganizationId,
        inviter: UserId,
        request_id: &str,
    ) -> StoreResult<Option<InvitationRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            Ok(sqlx::query_as(invitations_where(
                "organization_id = $1 and inviter_user_id = $2 and request_id = $3",
            ))
            .bind(organization_id)
            .bind(inviter)
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
    ) -> StoreResult<Option<InvitationRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            Ok(
                sqlx::query_as(invitations_where("organization_id = $1 and id = $2"))
                    .bind(organization_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?,
            )
        })
    }

    async fn invitations(
        &self,
        organization_id: OrganizationId,
        state: Option<InvitationState>,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<InvitationRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query = QueryBuilder::new(format!(
                "select {INVITATION_COLUMNS} from invitations where organization_id = "
            ));
            query.push_bind(organization_id);
            match state {
                None => {}
                Some(InvitationState::Pending) => {
                    query
                        .push(" and accepted_at is null and revoked_at is null and expires_at > ")
                        .push_bind(now);
                }
                Some(InvitationState::Accepted) => {
                    query.push(" and accepted_at is not null");
                }
                Some(InvitationState::Revoked) => {
                    query.push(" and accepted_at is null and revoked_at is not null");
                }
                Some(InvitationState::Expired) => {
                    query
                        .push(" and accepted_at is null and revoked_at is null and expires_at <= ")
                        .push_bind(now);
                }
            }
            page.push_keyset(&mut query);
            let rows: Vec<InvitationRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| by_creation(row.created_at, row.id.clone())))
        })
    }

    async fn revoke_invitation(
        &self,
        organization_id: OrganizationId,
        id: &str,
        now: i64,
        effects: EffectsFor<'_, InvitationRecord>,
    ) -> StoreResult<InvitationRecord> {
        kit::change!(&self.0, Some(organization_id), None, |tx, collected| {
            let invitation: InvitationRecord =
                sqlx::query_as(invitations_where("organization_id = $1 and id = $2"))
                    .bind(organization_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(TenancyError::InvitationNotFound)?;
            invitation.ensure_pending(now)?;
            sqlx::query(
                "update invitations set revoked_at = $3 where organization_id = $1 and id = $2",
            )
            .bind(organization_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let revoked = InvitationRecord {
                revoked_at: Some(now),
                ..invitation
            };
            collected.extend(effects(&revoked));
            Ok(revoked)
        })
    }

    async fn invitation_organization(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<OrganizationId>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_scalar(
                "select organization_id from invitation_tokens where token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?)
        })
    }

    async fn accept_invitation(
        &self,
        organization_id: OrganizationId,
        token_hash: &[u8],
        member: &MembershipRecord,
        now: i64,
        effects: EffectsFor<'_, Acceptance>,
    ) -> StoreResult<Acceptance> {
        kit::change!(
            &self.0,
            Some(organization_id),
            Some(member.user_id),
            |tx, collected| {
                lock_organization!(tx, organization_id);
                let invitation: InvitationRecord = sqlx::query_as(invitations_where(
                    "organization_id = $1 and token_hash = $2",
                ))
                .bind(organization_id)
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(TenancyError::InvitationNotFound)?;
                invitation.ensure_pending(now)?;
                // Only as good as its inviter's authority now (removal and demotion revoke;
                // this holds for anything made before that rule).
                let inviter: Option<OrganizationRole> = sqlx::query_scalar(
                    "select role from memberships where organization_id = $1 and user_id = $2",
                )
                .bind(organization_id)
                .bind(invitation.inviter_user_id)
                .fetch_optional(&mut *tx)
                .await?;
                if !inviter.is_some_and(|inviter| domain::may_invite(inviter, invitation.role)) {
                    return Err(TenancyError::InvitationRevoked);
                }
                if invitation.email != member.email {
                    return Err(TenancyError::InvitationEmailMismatch);
                }
                let existing: i64 = sqlx::query_scalar(
                    "select count(*) from memberships where organization_id = $1 and user_id = $2",
                )
                .bind(organization_id)
                .bind(member.user_id)
                .fetch_one(&mut *tx)
                .await?;
                if existing > 0 {
                    return Err(TenancyError::AlreadyMember);
                }
                let membership = MembershipRecord {
                    organization_id,
                    role: invitation.role,
                    created_at: now,
                    updated_at: now,
                    version: 1,
                    ..member.clone()
                };
                insert_membership!(tx, membership);
                sqlx::query("update invitations set accepted_at = $3, accepted_user_id = $4 where organization_id = $1 and id = $2")
                    .bind(organization_id)
                    .bind(&invitation.id)
                    .bind(now)
                    .bind(membership.user_id)
                    .execute(&mut *tx)
                    .await?;
                let accepted = InvitationRecord {
                    accepted_at: Some(now),
                    accepted_user_id: Some(membership.user_id),
                    ..invitation
                };
                let acceptance = (accepted, membership);
                collected.extend(effects(&acceptance));
                Ok(acceptance)
            }
        )
    }

    async fn audit_events(
        &self,
        organization_id: OrganizationId,
        conditions: &[Condition],
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        mesh::read!(&self.0.database, Some(organization_id), None, |tx| {
            let mut query =
                QueryBuilder::new("select * from audit_events where organization_id = ");
            query.push_bind(organization_id);
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
            page.push_keyset(&mut query);
            let rows: Vec<AuditRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| by_creation(row.created_at, row.id.clone())))
        })
    }
}
