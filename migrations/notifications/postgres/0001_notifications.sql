-- notifications: each user's inbox within an organization, filled from other services'
-- events. Times are milliseconds since the Unix epoch.
create table notifications (
    id text primary key,
    organization_id text not null,
    recipient_user_id text not null,
    kind text not null,
    title text not null,
    body text not null,
    project_id text,
    task_id text,
    document_id text,
    link_id text,
    actor_user_id text,
    source_event_id text not null,
    read_at bigint,
    archived_at bigint,
    created_at bigint not null
);
-- One notification per event, recipient and kind: replaying an event adds nothing.
create unique index notifications_once on notifications (source_event_id, recipient_user_id, kind);
-- The inbox, newest first.
create index notifications_inbox on notifications (organization_id, recipient_user_id, created_at, id);
-- The badge: unread and not archived.
create index notifications_unread on notifications (organization_id, recipient_user_id)
    where read_at is null and archived_at is null;

-- Row-level security: the second wall behind the `organization_id = $tenant` every query
-- already has. Enabled and forced; a transaction without `app.tenant_id` sees no rows.
alter table notifications enable row level security;
alter table notifications force row level security;
create policy notifications_isolation on notifications
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));

-- Preferences: only what a user changed from the defaults (one row per kind), and a version
-- per user and organization for etags.
create table notification_preferences (
    organization_id text not null,
    user_id text not null,
    kind text not null,
    in_app boolean not null,
    email boolean not null,
    primary key (organization_id, user_id, kind)
);
create table preference_versions (
    organization_id text not null,
    user_id text not null,
    version bigint not null,
    updated_at bigint not null,
    primary key (organization_id, user_id)
);
alter table notification_preferences enable row level security;
alter table notification_preferences force row level security;
create policy notification_preferences_isolation on notification_preferences
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));
alter table preference_versions enable row level security;
alter table preference_versions force row level security;
create policy preference_versions_isolation on preference_versions
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));
