-- links: share links of each organization and their visits. Times are milliseconds since the
-- Unix epoch.
create table links (
    id text primary key,
    organization_id text not null,
    slug text not null,
    -- 'task', 'document' or 'url'
    target_kind text not null,
    -- the task or document id, or the URL
    target_id text not null,
    expires_at bigint,
    -- 0: unlimited
    max_visits bigint not null,
    visit_count bigint not null,
    -- argon2id PHC string; null when the link has no password
    password_hash text,
    note text not null,
    allow_comments boolean not null,
    disabled boolean not null,
    created_by_user_id text not null,
    create_request_id text,
    version bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index links_created on links (organization_id, created_at, id);
create index links_updated on links (organization_id, updated_at, id);
create index links_target on links (organization_id, target_kind, target_id);
create unique index links_request on links (organization_id, created_by_user_id, create_request_id);

-- Slugs are public and looked up before the organization is known: this directory holds
-- only the slug, its organization and link (no row-level security, like tenancy's
-- organization directory); slugs are unique across the deployment.
create table link_slugs (
    slug text primary key,
    organization_id text not null,
    link_id text not null
);

create table link_visits (
    id text primary key,
    organization_id text not null,
    link_id text not null,
    visited_at bigint not null,
    referrer_host text not null,
    browser text not null,
    os text not null,
    device_class text not null,
    bot boolean not null,
    anonymized_address text not null,
    country text not null
);
create index link_visits_link on link_visits (organization_id, link_id, visited_at, id);

-- Wrong passwords per key ('link:<id>' and 'source:<id>:<anonymized address>') in the
-- current window; read before the organization is known, so no row-level security.
create table link_attempts (
    key text primary key,
    window_started_at bigint not null,
    failures bigint not null
);

alter table links enable row level security;
alter table links force row level security;
create policy links_isolation on links
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));

alter table link_visits enable row level security;
alter table link_visits force row level security;
create policy link_visits_isolation on link_visits
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));
