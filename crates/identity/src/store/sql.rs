//! The SQL implementation of [`IdentityStore`] for SQLite and PostgreSQL: each method is
//! written once and compiled for both backends by `mesh::transaction!` / `mesh::read!`.

use events::EventMessage;
use events::outbox::OutboxWriter;
use mesh::db::Database;
use mesh::ids::{OrganizationId, SessionId, UserId};
use sqlx::{ColumnIndex, Row};

use super::*;

/// Identity's store over a service database.
#[derive(Clone)]
pub struct SqlIdentityStore {
    database: Database,
}

impl SqlIdentityStore {
    /// A store over `database` (already migrated).
    pub fn new(database: Database) -> Self {
        Self { database }
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(error: sqlx::Error) -> Self {
        IdentityError::Storage(mesh::db::storage_error(error))
    }
}

/// Identity's migrations.
pub fn migrations() -> mesh::db::Migrations {
    static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/identity/sqlite");
    static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/identity/postgres");
    mesh::db::Migrations {
        sqlite: &SQLITE,
        postgres: &POSTGRES,
        table: "_identity_migrations",
    }
}

use mesh::db::rows::{Decodes, get, is_unique_violation, parse};

fn user_from<R>(row: &R) -> Result<UserRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
    i64: Decodes<R>,
{
    Ok(UserRecord {
        id: parse(&get::<R, String>(row, "id")?)?,
        email: get(row, "email")?,
        display_name: get(row, "display_name")?,
        password_hash: get(row, "password_hash")?,
        signup_request_id: get(row, "signup_request_id")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        version: get(row, "version")?,
    })
}

fn session_from<R>(row: &R) -> Result<SessionRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
    i64: Decodes<R>,
    Option<i64>: Decodes<R>,
{
    let organization: Option<String> = get(row, "organization_id")?;
    Ok(SessionRecord {
        id: parse(&get::<R, String>(row, "id")?)?,
        user_id: parse(&get::<R, String>(row, "user_id")?)?,
        organization_id: organization.as_deref().map(parse).transpose()?,
        role: get(row, "role")?,
        user_agent: get(row, "user_agent")?,
        ip_address: get(row, "ip_address")?,
        created_at: get(row, "created_at")?,
        last_used_at: get(row, "last_used_at")?,
        idle_expires_at: get(row, "idle_expires_at")?,
        absolute_expires_at: get(row, "absolute_expires_at")?,
        revoked_at: get(row, "revoked_at")?,
        revoke_reason: get(row, "revoke_reason")?,
    })
}

fn token_from<R>(row: &R) -> Result<PersonalAccessTokenRecord, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decodes<R>,
    Option<String>: Decodes<R>,
    i64: Decodes<R>,
    Option<i64>: Decodes<R>,
{
    Ok(PersonalAccessTokenRecord {
        id: get(row, "id")?,
        user_id: parse(&get::<R, String>(row, "user_id")?)?,
        organization_id: parse(&get::<R, String>(row, "organization_id")?)?,
        name: get(row, "name")?,
        scope: get(row, "scope")?,
        token_prefix: get(row, "token_prefix")?,
        request_id: get(row, "request_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

const SESSION_COLUMNS: &str = "id, user_id, organization_id, role, user_agent, ip_address, created_at, last_used_at, idle_expires_at, absolute_expires_at, revoked_at, revoke_reason";
const TOKEN_COLUMNS: &str = "id, user_id, organization_id, name, scope, token_prefix, request_id, created_at, expires_at, last_used_at, revoked_at";

fn session_query(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "select {SESSION_COLUMNS} from sessions where {filter}"
    ))
}

fn token_query(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "select {TOKEN_COLUMNS} from personal_access_tokens where {filter}"
    ))
}

#[async_trait::async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn create_user(&self, user: &UserRecord, events: &[EventMessage]) -> StoreResult<()> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let inserted = sqlx::query("insert into users (id, email, display_name, password_hash, signup_request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(user.id.to_string())
                .bind(&user.email)
                .bind(&user.display_name)
                .bind(&user.password_hash)
                .bind(&user.signup_request_id)
                .bind(user.created_at)
                .bind(user.updated_at)
                .bind(user.version)
                .execute(&mut *tx)
                .await;
            match inserted {
                Err(error) if is_unique_violation(&error) => Err(IdentityError::EmailTaken),
                Err(error) => Err(error.into()),
                Ok(_) => {
                    for event in events {
                        tx.enqueue(event).await?;
                    }
                    Ok(())
                }
            }
        })
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query("select * from users where email = $1")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| user_from(&row))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query("select * from users where id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| user_from(&row))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn update_display_name(
        &self,
        id: UserId,
        name: &str,
        expected_version: Option<i64>,
        now: i64,
    ) -> StoreResult<UserRecord> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let row = sqlx::query("update users set display_name = $2, updated_at = $3, version = version + 1 where id = $1 and ($4 is null or version = $4) returning *")
                .bind(id.to_string())
                .bind(name)
                .bind(now)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => Ok(user_from(&row)?),
                None => Err(IdentityError::EtagMismatch),
            }
        })
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
        reason: &str,
        now: i64,
        events: EventsFor<'_, Vec<SessionId>>,
    ) -> StoreResult<Vec<SessionId>> {
        mesh::transaction!(&self.database, None, None, |tx| {
            sqlx::query("update users set password_hash = $2, updated_at = $3, version = version + 1 where id = $1")
                .bind(id.to_string())
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let keep = keep.map(|session| session.to_string()).unwrap_or_default();
            let rows = sqlx::query("update sessions set revoked_at = $3, revoke_reason = $4 where user_id = $1 and id <> $2 and revoked_at is null returning id")
                .bind(id.to_string())
                .bind(keep)
                .bind(now)
                .bind(reason)
                .fetch_all(&mut *tx)
                .await?;
            let revoked = rows
                .iter()
                .map(|row| parse(&get::<_, String>(row, "id")?))
                .collect::<Result<Vec<SessionId>, _>>()?;
            for event in events(&revoked) {
                tx.enqueue(&event).await?;
            }
            Ok(revoked)
        })
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
    ) -> StoreResult<()> {
        mesh::transaction!(&self.database, None, None, |tx| {
            sqlx::query("insert into sessions (id, user_id, organization_id, role, user_agent, ip_address, created_at, last_used_at, idle_expires_at, absolute_expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(session.id.to_string())
                .bind(session.user_id.to_string())
                .bind(session.organization_id.map(|id| id.to_string()))
                .bind(&session.role)
                .bind(&session.user_agent)
                .bind(&session.ip_address)
                .bind(session.created_at)
                .bind(session.last_used_at)
                .bind(session.idle_expires_at)
                .bind(session.absolute_expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query("insert into refresh_tokens (token_hash, session_id, created_at) values ($1, $2, $3)")
                .bind(refresh_hash)
                .bind(session.id.to_string())
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            Ok::<_, IdentityError>(())
        })
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query(session_query("id = $1"))
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| session_from(&row))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn session_by_refresh(
        &self,
        refresh_hash: &[u8],
    ) -> StoreResult<Option<(SessionRecord, bool)>> {
        mesh::read!(&self.database, None, None, |tx| {
            let token =
                sqlx::query("select session_id, used_at from refresh_tokens where token_hash = $1")
                    .bind(refresh_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(token) = token else { return Ok(None) };
            let session_id: String = get(&token, "session_id")?;
            let used_at: Option<i64> = get(&token, "used_at")?;
            let row = sqlx::query(session_query("id = $1"))
                .bind(&session_id)
                .fetch_one(&mut *tx)
                .await?;
            Ok(Some((session_from(&row)?, used_at.is_some())))
        })
    }

    async fn password_reset_user(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<UserId>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query("select user_id from password_resets where token_hash = $1 and used_at is null and expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| parse(&get::<_, String>(&row, "user_id")?))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &[u8],
        new_hash: &[u8],
        scope: (Option<OrganizationId>, Option<String>),
        idle_ttl: i64,
        now: i64,
        on_reuse: EventsFor<'_, SessionRecord>,
    ) -> StoreResult<RefreshOutcome> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let token =
                sqlx::query("select session_id, used_at from refresh_tokens where token_hash = $1")
                    .bind(refresh_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(token) = token else {
                return Ok(RefreshOutcome::Invalid);
            };
            let session_id: String = get(&token, "session_id")?;
            let used_at: Option<i64> = get(&token, "used_at")?;
            let row = sqlx::query(session_query("id = $1"))
                .bind(&session_id)
                .fetch_one(&mut *tx)
                .await?;
            let session = session_from(&row)?;
            if !session.is_active(now) && used_at.is_none() {
                return Ok(RefreshOutcome::Invalid);
            }
            // Claim the token; only one presenter can. A token already used, or used by a
            // concurrent request between our read and this update (which PostgreSQL's READ
            // COMMITTED would otherwise let pass as merely "invalid"), is reuse.
            let claimed = used_at.is_none()
                && sqlx::query("update refresh_tokens set used_at = $2 where token_hash = $1 and used_at is null")
                    .bind(refresh_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
            if !claimed {
                // Someone holds a copy of a rotated token. End the family.
                let already_revoked = session.revoked_at.is_some();
                sqlx::query("update sessions set revoked_at = coalesce(revoked_at, $2), revoke_reason = coalesce(revoke_reason, 'reuse_detected') where id = $1")
                    .bind(&session_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if !already_revoked {
                    for event in on_reuse(&session) {
                        tx.enqueue(&event).await?;
                    }
                }
                return Ok(RefreshOutcome::Reused(session));
            }
            sqlx::query("insert into refresh_tokens (token_hash, session_id, created_at) values ($1, $2, $3)")
                .bind(new_hash)
                .bind(&session_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let idle_expires_at = (now + idle_ttl).min(session.absolute_expires_at);
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("update sessions set last_used_at = $2, idle_expires_at = $3, organization_id = $4, role = $5 where id = $1 returning {SESSION_COLUMNS}")))
                .bind(&session_id)
                .bind(now)
                .bind(idle_expires_at)
                .bind(scope.0.map(|id| id.to_string()))
                .bind(&scope.1)
                .fetch_one(&mut *tx)
                .await?;
            Ok(RefreshOutcome::Rotated(session_from(&row)?))
        })
    }

    async fn rescope_session(
        &self,
        id: SessionId,
        scope: (Option<OrganizationId>, Option<String>),
        new_hash: &[u8],
        idle_ttl: i64,
        now: i64,
    ) -> StoreResult<Option<SessionRecord>> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let row = sqlx::query(session_query("id = $1"))
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(session) = row.map(|row| session_from(&row)).transpose()? else {
                return Ok(None);
            };
            if !session.is_active(now) {
                return Ok(None);
            }
            sqlx::query(
                "update refresh_tokens set used_at = $2 where session_id = $1 and used_at is null",
            )
            .bind(id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("insert into refresh_tokens (token_hash, session_id, created_at) values ($1, $2, $3)")
                .bind(new_hash)
                .bind(id.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let idle_expires_at = (now + idle_ttl).min(session.absolute_expires_at);
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("update sessions set last_used_at = $2, idle_expires_at = $3, organization_id = $4, role = $5 where id = $1 returning {SESSION_COLUMNS}")))
                .bind(id.to_string())
                .bind(now)
                .bind(idle_expires_at)
                .bind(scope.0.map(|id| id.to_string()))
                .bind(&scope.1)
                .fetch_one(&mut *tx)
                .await?;
            Ok(Some(session_from(&row)?))
        })
    }

    async fn list_sessions(
        &self,
        user_id: UserId,
        now: i64,
        page: &Page,
    ) -> StoreResult<Vec<SessionRecord>> {
        let (after_time, after_id) = page.after.clone().unwrap_or((i64::MAX, String::new()));
        mesh::read!(&self.database, None, None, |tx| {
            let rows = sqlx::query(session_query("user_id = $1 and revoked_at is null and idle_expires_at > $2 and absolute_expires_at > $2 and (created_at < $3 or (created_at = $3 and id < $4)) order by created_at desc, id desc limit $5"))
                .bind(user_id.to_string())
                .bind(now)
                .bind(after_time)
                .bind(if after_id.is_empty() { "~".to_string() } else { after_id.clone() })
                .bind(page.limit)
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(session_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(IdentityError::from)
        })
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        id: SessionId,
        reason: &str,
        now: i64,
        events: &[EventMessage],
    ) -> StoreResult<bool> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let revoked = sqlx::query("update sessions set revoked_at = $3, revoke_reason = $4 where id = $1 and user_id = $2 and revoked_at is null")
                .bind(id.to_string())
                .bind(user_id.to_string())
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if revoked {
                for event in events {
                    tx.enqueue(event).await?;
                }
            }
            Ok::<_, IdentityError>(revoked)
        })
    }

    async fn create_personal_access_token(
        &self,
        token: &PersonalAccessTokenRecord,
        token_hash: &[u8],
        max_active: u32,
        now: i64,
    ) -> StoreResult<()> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let active: i64 = sqlx::query_scalar("select count(*) from personal_access_tokens where user_id = $1 and revoked_at is null and (expires_at is null or expires_at > $2)")
                .bind(token.user_id.to_string())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if active >= i64::from(max_active) {
                return Err(IdentityError::QuotaExceeded);
            }
            sqlx::query("insert into personal_access_tokens (id, user_id, organization_id, name, scope, token_hash, token_prefix, request_id, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(&token.id)
                .bind(token.user_id.to_string())
                .bind(token.organization_id.to_string())
                .bind(&token.name)
                .bind(&token.scope)
                .bind(token_hash)
                .bind(&token.token_prefix)
                .bind(&token.request_id)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    async fn personal_access_token_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>> {
        mesh::read!(&self.database, None, None, |tx| {
            let row = sqlx::query(token_query("user_id = $1 and request_id = $2"))
                .bind(user_id.to_string())
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| token_from(&row))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn use_personal_access_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("update personal_access_tokens set last_used_at = $2 where token_hash = $1 returning {TOKEN_COLUMNS}")))
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            row.map(|row| token_from(&row))
                .transpose()
                .map_err(IdentityError::from)
        })
    }

    async fn list_personal_access_tokens(
        &self,
        user_id: UserId,
        page: &Page,
    ) -> StoreResult<Vec<PersonalAccessTokenRecord>> {
        let (after_time, after_id) = page.after.clone().unwrap_or((i64::MAX, "~".to_string()));
        mesh::read!(&self.database, None, None, |tx| {
            let rows = sqlx::query(token_query("user_id = $1 and revoked_at is null and (created_at < $2 or (created_at = $2 and id < $3)) order by created_at desc, id desc limit $4"))
                .bind(user_id.to_string())
                .bind(after_time)
                .bind(&after_id)
                .bind(page.limit)
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(token_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(IdentityError::from)
        })
    }

    async fn revoke_personal_access_token(
        &self,
        user_id: UserId,
        id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let affected = sqlx::query("update personal_access_tokens set revoked_at = $3 where id = $1 and user_id = $2 and revoked_at is null")
                .bind(id)
                .bind(user_id.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok::<_, IdentityError>(affected == 1)
        })
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        mesh::read!(&self.database, None, None, |tx| {
            let rows = sqlx::query("select kid, seed, created_at, retired_at from signing_keys order by created_at desc, kid desc")
                .fetch_all(&mut *tx)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(SigningKeyRecord {
                        kid: get(row, "kid")?,
                        seed: get(row, "seed")?,
                        created_at: get(row, "created_at")?,
                        retired_at: get(row, "retired_at")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(IdentityError::from)
        })
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()> {
        mesh::transaction!(&self.database, None, None, |tx| {
            sqlx::query("update signing_keys set retired_at = $1 where retired_at is null")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("insert into signing_keys (kid, seed, created_at) values ($1, $2, $3)")
                .bind(&key.kid)
                .bind(&key.seed)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            Ok::<_, IdentityError>(())
        })
    }

    async fn delete_retired_keys(&self, before: i64) -> StoreResult<u64> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let deleted = sqlx::query(
                "delete from signing_keys where retired_at is not null and retired_at < $1",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok::<_, IdentityError>(deleted)
        })
    }

    async fn create_password_reset(
        &self,
        user_id: UserId,
        token_hash: &[u8],
        expires_at: i64,
        now: i64,
        events: &[EventMessage],
    ) -> StoreResult<()> {
        mesh::transaction!(&self.database, None, None, |tx| {
            sqlx::query("insert into password_resets (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id.to_string())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            for event in events {
                tx.enqueue(event).await?;
            }
            Ok::<_, IdentityError>(())
        })
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        new_hash: &str,
        now: i64,
        events: EventsFor<'_, (UserId, Vec<SessionId>)>,
    ) -> StoreResult<Option<UserId>> {
        mesh::transaction!(&self.database, None, None, |tx| {
            let row = sqlx::query("update password_resets set used_at = $2 where token_hash = $1 and used_at is null and expires_at > $2 returning user_id")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let user_id: UserId = parse(&get::<_, String>(&row, "user_id")?)?;
            sqlx::query("update users set password_hash = $2, updated_at = $3, version = version + 1 where id = $1")
                .bind(user_id.to_string())
                .bind(new_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // Every other outstanding reset token of the user dies with this one.
            sqlx::query(
                "update password_resets set used_at = $2 where user_id = $1 and used_at is null",
            )
            .bind(user_id.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let rows = sqlx::query("update sessions set revoked_at = $2, revoke_reason = 'password_changed' where user_id = $1 and revoked_at is null returning id")
                .bind(user_id.to_string())
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            let revoked = rows
                .iter()
                .map(|row| parse(&get::<_, String>(row, "id")?))
                .collect::<Result<Vec<SessionId>, _>>()?;
            for event in events(&(user_id, revoked)) {
                tx.enqueue(&event).await?;
            }
            Ok(Some(user_id))
        })
    }
}
