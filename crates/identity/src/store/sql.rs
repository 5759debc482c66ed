//! The SQL implementation of [`IdentityStore`] for SQLite and PostgreSQL: each method is
//! written once and compiled for both backends by `kit::change!` (writes) and `mesh::read!`
//! (reads). Rows decode with `FromRow`; ids bind and decode as they are.

use kit::Storage;
use mesh::db::rows::is_unique_violation;
use mesh::ids::{OrganizationId, SessionId, UserId};
use sqlx::QueryBuilder;

use super::*;

/// Identity's store over its (migrated) service database.
#[derive(Clone)]
pub struct SqlIdentityStore(pub Storage);

mesh::storage_errors_into!(IdentityError);

/// Identity's migrations.
pub fn migrations() -> mesh::db::Migrations {
    mesh::migrations!(
        "_identity_migrations",
        "../../migrations/identity/sqlite",
        "../../migrations/identity/postgres"
    )
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

/// Moves a session's refresh window and scope; returns the session as updated.
fn renew_session() -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "update sessions set last_used_at = $2, idle_expires_at = $3, organization_id = $4, role = $5 where id = $1 returning {SESSION_COLUMNS}"
    ))
}

/// How stale a personal access token's `last_used_at` may be: a busy token is written at
/// most once a minute.
const LAST_USED_PRECISION_MILLIS: i64 = 60_000;

const INSERT_REFRESH: &str =
    "insert into refresh_tokens (token_hash, session_id, created_at) values ($1, $2, $3)";

/// The session a refresh token belongs to, and whether the token was used already.
macro_rules! refresh_token_session {
    ($tx:ident, $refresh_hash:expr) => {{
        let token: Option<(SessionId, Option<i64>)> =
            sqlx::query_as("select session_id, used_at from refresh_tokens where token_hash = $1")
                .bind($refresh_hash)
                .fetch_optional(&mut *$tx)
                .await?;
        match token {
            None => None,
            Some((session_id, used_at)) => {
                let session: SessionRecord = sqlx::query_as(session_query("id = $1"))
                    .bind(session_id)
                    .fetch_one(&mut *$tx)
                    .await?;
                Some((session, used_at.is_some()))
            }
        }
    }};
}

#[async_trait::async_trait]
impl IdentityStore for SqlIdentityStore {
    async fn create_user(&self, user: &UserRecord, effects: Effects) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let inserted = sqlx::query("insert into users (id, email, display_name, password_hash, signup_request_id, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(user.id)
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
                    collected.extend(effects);
                    Ok(())
                }
            }
        })
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_as("select * from users where email = $1")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_as("select * from users where id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn update_display_name(
        &self,
        id: UserId,
        name: &str,
        expected_version: Option<i64>,
        now: i64,
    ) -> StoreResult<UserRecord> {
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query_as("update users set display_name = $2, updated_at = $3, version = version + 1 where id = $1 and ($4 is null or version = $4) returning *")
                .bind(id)
                .bind(name)
                .bind(now)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(IdentityError::EtagMismatch)
        })
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
        reason: &str,
        now: i64,
        effects: EffectsFor<'_, Vec<SessionId>>,
    ) -> StoreResult<Vec<SessionId>> {
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query("update users set password_hash = $2, updated_at = $3, version = version + 1 where id = $1")
                .bind(id)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let keep = keep.map(|session| session.to_string()).unwrap_or_default();
            let revoked: Vec<SessionId> = sqlx::query_scalar("update sessions set revoked_at = $3, revoke_reason = $4 where user_id = $1 and id <> $2 and revoked_at is null returning id")
                .bind(id)
                .bind(keep)
                .bind(now)
                .bind(reason)
                .fetch_all(&mut *tx)
                .await?;
            collected.extend(effects(&revoked));
            Ok(revoked)
        })
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        refresh_hash: &[u8],
        effects: Effects,
    ) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query("insert into sessions (id, user_id, organization_id, role, user_agent, ip_address, created_at, last_used_at, idle_expires_at, absolute_expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(session.id)
                .bind(session.user_id)
                .bind(session.organization_id)
                .bind(&session.role)
                .bind(&session.user_agent)
                .bind(&session.ip_address)
                .bind(session.created_at)
                .bind(session.last_used_at)
                .bind(session.idle_expires_at)
                .bind(session.absolute_expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_REFRESH)
                .bind(refresh_hash)
                .bind(session.id)
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            collected.extend(effects);
            Ok(())
        })
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<SessionRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_as(session_query("id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn session_by_refresh(
        &self,
        refresh_hash: &[u8],
    ) -> StoreResult<Option<(SessionRecord, bool)>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(refresh_token_session!(tx, refresh_hash))
        })
    }

    async fn password_reset_user(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<UserId>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_scalar("select user_id from password_resets where token_hash = $1 and used_at is null and expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?)
        })
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &[u8],
        new_hash: &[u8],
        scope: (Option<OrganizationId>, Option<String>),
        idle_ttl: i64,
        now: i64,
        on_reuse: EffectsFor<'_, SessionRecord>,
    ) -> StoreResult<RefreshOutcome> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let Some((session, used)) = refresh_token_session!(tx, refresh_hash) else {
                return Ok(RefreshOutcome::Invalid);
            };
            if !session.is_active(now) && !used {
                return Ok(RefreshOutcome::Invalid);
            }
            // Claim the token; only one presenter can. A token already used, or used by a
            // concurrent request between our read and this update (which PostgreSQL's READ
            // COMMITTED would otherwise let pass as merely "invalid"), is reuse.
            let claimed = !used
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
                    .bind(session.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if !already_revoked {
                    collected.extend(on_reuse(&session));
                }
                return Ok(RefreshOutcome::Reused(session));
            }
            sqlx::query(INSERT_REFRESH)
                .bind(new_hash)
                .bind(session.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let idle_expires_at = (now + idle_ttl).min(session.absolute_expires_at);
            let renewed = sqlx::query_as(renew_session())
                .bind(session.id)
                .bind(now)
                .bind(idle_expires_at)
                .bind(scope.0)
                .bind(&scope.1)
                .fetch_one(&mut *tx)
                .await?;
            Ok(RefreshOutcome::Rotated(renewed))
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
        kit::change!(&self.0, None, None, |tx, collected| {
            let session: Option<SessionRecord> = sqlx::query_as(session_query("id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(session) = session.filter(|session| session.is_active(now)) else {
                return Ok(None);
            };
            sqlx::query(
                "update refresh_tokens set used_at = $2 where session_id = $1 and used_at is null",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_REFRESH)
                .bind(new_hash)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let idle_expires_at = (now + idle_ttl).min(session.absolute_expires_at);
            let renewed = sqlx::query_as(renew_session())
                .bind(id)
                .bind(now)
                .bind(idle_expires_at)
                .bind(scope.0)
                .bind(&scope.1)
                .fetch_one(&mut *tx)
                .await?;
            Ok(Some(renewed))
        })
    }

    async fn list_sessions(
        &self,
        user_id: UserId,
        now: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<SessionRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            let mut query = QueryBuilder::new(format!(
                "select {SESSION_COLUMNS} from sessions where revoked_at is null and user_id = "
            ));
            query
                .push_bind(user_id)
                .push(" and idle_expires_at > ")
                .push_bind(now)
                .push(" and absolute_expires_at > ")
                .push_bind(now);
            page.push_keyset(&mut query);
            let rows: Vec<SessionRecord> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.to_string().into()]
            }))
        })
    }

    async fn revoke_session(
        &self,
        user_id: UserId,
        id: SessionId,
        reason: &str,
        now: i64,
        effects: Effects,
    ) -> StoreResult<bool> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let revoked = sqlx::query("update sessions set revoked_at = $3, revoke_reason = $4 where id = $1 and user_id = $2 and revoked_at is null")
                .bind(id)
                .bind(user_id)
                .bind(now)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if revoked {
                collected.extend(effects);
            }
            Ok(revoked)
        })
    }

    async fn create_personal_access_token(
        &self,
        token: &PersonalAccessTokenRecord,
        token_hash: &[u8],
        max_active: u32,
        now: i64,
        effects: Effects,
    ) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let active: i64 = sqlx::query_scalar("select count(*) from personal_access_tokens where user_id = $1 and revoked_at is null and (expires_at is null or expires_at > $2)")
                .bind(token.user_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            if active >= i64::from(max_active) {
                return Err(IdentityError::QuotaExceeded);
            }
            sqlx::query("insert into personal_access_tokens (id, user_id, organization_id, name, scope, token_hash, token_prefix, request_id, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(&token.id)
                .bind(token.user_id)
                .bind(token.organization_id)
                .bind(&token.name)
                .bind(&token.scope)
                .bind(token_hash)
                .bind(&token.token_prefix)
                .bind(&token.request_id)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
            collected.extend(effects);
            Ok(())
        })
    }

    async fn personal_access_token_by_request(
        &self,
        user_id: UserId,
        request_id: &str,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(
                sqlx::query_as(token_query("user_id = $1 and request_id = $2"))
                    .bind(user_id)
                    .bind(request_id)
                    .fetch_optional(&mut *tx)
                    .await?,
            )
        })
    }

    async fn use_personal_access_token(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<PersonalAccessTokenRecord>> {
        // A read first: a made-up token (IntrospectToken is public) costs one indexed read,
        // never a write transaction. The use is recorded at most once a minute per token.
        let found: Option<PersonalAccessTokenRecord> =
            mesh::read!(&self.0.database, None, None, |tx| {
                Ok::<_, IdentityError>(
                    sqlx::query_as(token_query("token_hash = $1"))
                        .bind(token_hash)
                        .fetch_optional(&mut *tx)
                        .await?,
                )
            })?;
        let Some(token) = found else {
            return Ok(None);
        };
        if token
            .last_used_at
            .is_some_and(|used| now - used < LAST_USED_PRECISION_MILLIS)
        {
            return Ok(Some(token));
        }
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query(
                "update personal_access_tokens set last_used_at = $2 where token_hash = $1",
            )
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<_, IdentityError>(())
        })?;
        Ok(Some(PersonalAccessTokenRecord {
            last_used_at: Some(now),
            ..token
        }))
    }

    async fn list_personal_access_tokens(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<PersonalAccessTokenRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            let mut query = QueryBuilder::new(format!(
                "select {TOKEN_COLUMNS} from personal_access_tokens where revoked_at is null and user_id = "
            ));
            query.push_bind(user_id);
            page.push_keyset(&mut query);
            let rows: Vec<PersonalAccessTokenRecord> =
                query.build_query_as().fetch_all(&mut *tx).await?;
            Ok(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    async fn revoke_personal_access_token(
        &self,
        user_id: UserId,
        id: &str,
        now: i64,
        effects: Effects,
    ) -> StoreResult<bool> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let affected = sqlx::query("update personal_access_tokens set revoked_at = $3 where id = $1 and user_id = $2 and revoked_at is null")
                .bind(id)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected == 1 {
                collected.extend(effects);
            }
            Ok(affected == 1)
        })
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            Ok(sqlx::query_as("select kid, seed, created_at, retired_at from signing_keys order by created_at desc, kid desc")
                .fetch_all(&mut *tx)
                .await?)
        })
    }

    async fn rotate_signing_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
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
            Ok(())
        })
    }

    async fn delete_retired_keys(&self, before: i64) -> StoreResult<u64> {
        kit::change!(&self.0, None, None, |tx, collected| {
            Ok(sqlx::query(
                "delete from signing_keys where retired_at is not null and retired_at < $1",
            )
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected())
        })
    }

    async fn security_events(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEntry>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            let mut query = QueryBuilder::new("select * from audit_events where actor_user_id = ");
            query.push_bind(user_id);
            page.push_keyset(&mut query);
            let rows: Vec<AuditEntry> = query.build_query_as().fetch_all(&mut *tx).await?;
            Ok::<_, IdentityError>(page.finish(rows, |row| {
                vec![row.created_at.into(), row.id.clone().into()]
            }))
        })
    }

    async fn throttle_blocked_until(&self, keys: &[String], now: i64) -> StoreResult<Option<i64>> {
        mesh::read!(&self.0.database, None, None, |tx| {
            let mut query =
                QueryBuilder::new("select max(blocked_until) from throttle where blocked_until > ");
            query.push_bind(now).push(" and key in (");
            let mut keys_list = query.separated(", ");
            for key in keys {
                keys_list.push_bind(key.clone());
            }
            query.push(")");
            let blocked: Option<i64> = query.build_query_scalar().fetch_one(&mut *tx).await?;
            Ok::<_, IdentityError>(blocked)
        })
    }

    async fn throttle_failures(
        &self,
        keys: &[(&str, u32)],
        now: i64,
        block: &(dyn Fn(i64, u32) -> Option<i64> + Send + Sync),
    ) -> StoreResult<Vec<i64>> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let mut counts = Vec::with_capacity(keys.len());
            for (key, free) in keys {
                // One statement counts, so concurrent failures (other replicas included)
                // never lose a count.
                let failures: i64 = sqlx::query_scalar("insert into throttle (key, failures, updated_at) values ($1, 1, $2) on conflict (key) do update set failures = throttle.failures + 1, updated_at = $2 returning failures")
                    .bind(*key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(until) = block(failures, *free) {
                    sqlx::query("update throttle set blocked_until = $2 where key = $1")
                        .bind(*key)
                        .bind(until)
                        .execute(&mut *tx)
                        .await?;
                }
                counts.push(failures);
            }
            Ok(counts)
        })
    }

    async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query("delete from throttle where key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }

    async fn throttle_purge(&self, before: i64) -> StoreResult<u64> {
        kit::change!(&self.0, None, None, |tx, collected| {
            Ok(sqlx::query("delete from throttle where updated_at < $1 and (blocked_until is null or blocked_until < $1)")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected())
        })
    }

    async fn create_password_reset(
        &self,
        user_id: UserId,
        token_hash: &[u8],
        expires_at: i64,
        now: i64,
        effects: Effects,
    ) -> StoreResult<()> {
        kit::change!(&self.0, None, None, |tx, collected| {
            sqlx::query("insert into password_resets (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
            collected.extend(effects);
            Ok(())
        })
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        new_hash: &str,
        keep_tokens: bool,
        now: i64,
        effects: EffectsFor<'_, PasswordReset>,
    ) -> StoreResult<Option<UserId>> {
        kit::change!(&self.0, None, None, |tx, collected| {
            let user_id: Option<UserId> = sqlx::query_scalar("update password_resets set used_at = $2 where token_hash = $1 and used_at is null and expires_at > $2 returning user_id")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(user_id) = user_id else {
                return Ok(None);
            };
            sqlx::query("update users set password_hash = $2, updated_at = $3, version = version + 1 where id = $1")
                .bind(user_id)
                .bind(new_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // Every other outstanding reset token of the user dies with this one.
            sqlx::query(
                "update password_resets set used_at = $2 where user_id = $1 and used_at is null",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let revoked: Vec<SessionId> = sqlx::query_scalar("update sessions set revoked_at = $2, revoke_reason = 'password_changed' where user_id = $1 and revoked_at is null returning id")
                .bind(user_id)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            let revoked_tokens: Vec<String> = if keep_tokens {
                Vec::new()
            } else {
                sqlx::query_scalar("update personal_access_tokens set revoked_at = $2 where user_id = $1 and revoked_at is null returning id")
                    .bind(user_id)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?
            };
            collected.extend(effects(&PasswordReset {
                user_id,
                revoked_sessions: revoked,
                revoked_tokens,
            }));
            Ok(Some(user_id))
        })
    }
}
