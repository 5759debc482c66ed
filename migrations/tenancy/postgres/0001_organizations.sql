-- tenancy: organizations (the tenants), memberships, invitations, the audit trail.
-- Times are milliseconds since the Unix epoch; invitation secrets are SHA-256 digests.
-- On PostgreSQL the tenant tables carry row-level security (see the postgres migration);
-- `organization_directory` and `invitation_tokens` hold only what a caller may look up
-- before a tenant is known (a public slug, an invitation token's digest).
create table organizations (
    id text primary key,
    name text not null,
    slug text not null unique,
    creator_user_id text not null,
    create_request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
create unique index organizations_request on organizations (creator_user_id, create_request_id);

create table organization_directory (
    slug text primary key,
    organization_id text not null unique,
    name text not null
);

create table memberships (
    organization_id text not null references organizations (id),
    user_id text not null,
    role text not null,
    email text not null,
    display_name text not null,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    primary key (organization_id, user_id)
);
create index memberships_by_user on memberships (user_id);

create table invitations (
    id text primary key,
    organization_id text not null references organizations (id),
    email text not null,
    role text not null,
    token_hash bytea not null unique,
    inviter_user_id text not null,
    request_id text,
    created_at bigint not null,
    expires_at bigint not null,
    accepted_at bigint,
    accepted_user_id text,
    revoked_at bigint
);
create index invitations_by_organization on invitations (organization_id, created_at);
create unique index invitations_request on invitations (organization_id, inviter_user_id, request_id);

create table invitation_tokens (
    token_hash bytea primary key,
    organization_id text not null,
    invitation_id text not null
);

create table audit_events (
    id text primary key,
    organization_id text not null,
    actor_user_id text not null,
    action text not null,
    resource text not null,
    details text not null,
    request_id text not null,
    created_at bigint not null
);
create index audit_events_by_organization on audit_events (organization_id, created_at, id);

-- Row-level security: the second wall behind the `organization_id = $tenant` every query
-- already has. Enabled and forced (owners too); the runtime role owns nothing and has no
-- BYPASSRLS. A transaction without `app.tenant_id` / `app.user_id` sees no rows.
alter table organizations enable row level security;
alter table organizations force row level security;
-- Reading: the tenant's own row, or (in a user-scoped transaction) the organizations the
-- user belongs to. Writing: the tenant's own row only.
create policy organizations_read on organizations for select
    using (
        id = nullif(current_setting('app.tenant_id', true), '')
        or id in (
            select m.organization_id from memberships m
            where m.user_id = nullif(current_setting('app.user_id', true), '')
        )
    );
create policy organizations_write on organizations for all
    using (id = nullif(current_setting('app.tenant_id', true), ''))
    with check (id = nullif(current_setting('app.tenant_id', true), ''));

alter table memberships enable row level security;
alter table memberships force row level security;
create policy memberships_read on memberships for select
    using (
        organization_id = nullif(current_setting('app.tenant_id', true), '')
        or user_id = nullif(current_setting('app.user_id', true), '')
    );
create policy memberships_write on memberships for all
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));

alter table invitations enable row level security;
alter table invitations force row level security;
create policy invitations_isolation on invitations
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));

alter table audit_events enable row level security;
alter table audit_events force row level security;
create policy audit_events_isolation on audit_events
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));
