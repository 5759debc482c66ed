-- identity: accounts, sessions (refresh-token families), personal access tokens, signing
-- keys, password resets. Times are milliseconds since the Unix epoch. Secrets are stored as
-- SHA-256 digests only. These tables are not tenant-scoped: a user spans organizations.
create table users (
    id text primary key,
    email text not null unique,
    display_name text not null,
    password_hash text not null,
    signup_request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);

create table sessions (
    id text primary key,
    user_id text not null references users (id),
    organization_id text,
    role text,
    user_agent text not null,
    ip_address text not null,
    created_at bigint not null,
    last_used_at bigint not null,
    idle_expires_at bigint not null,
    absolute_expires_at bigint not null,
    revoked_at bigint,
    revoke_reason text
);
create index sessions_by_user on sessions (user_id, created_at);

create table refresh_tokens (
    token_hash blob primary key,
    session_id text not null references sessions (id),
    created_at bigint not null,
    used_at bigint
);
create index refresh_tokens_by_session on refresh_tokens (session_id);

create table personal_access_tokens (
    id text primary key,
    user_id text not null references users (id),
    organization_id text not null,
    name text not null,
    scope text not null,
    token_hash blob not null unique,
    token_prefix text not null,
    request_id text,
    created_at bigint not null,
    expires_at bigint,
    last_used_at bigint,
    revoked_at bigint
);
create index personal_access_tokens_by_user on personal_access_tokens (user_id, created_at);
create unique index personal_access_tokens_request on personal_access_tokens (user_id, request_id);

create table signing_keys (
    kid text primary key,
    seed blob not null,
    created_at bigint not null,
    retired_at bigint
);

create table password_resets (
    token_hash blob primary key,
    user_id text not null references users (id),
    created_at bigint not null,
    expires_at bigint not null,
    used_at bigint
);
