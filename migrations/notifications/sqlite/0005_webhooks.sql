-- Webhooks: each organization's endpoints, the deliveries of events to them with every
-- attempt, and the schedule the delivery workers claim from. Times are milliseconds since
-- the Unix epoch.
create table webhook_endpoints (
    id text primary key,
    organization_id text not null,
    project_id text,
    url text not null,
    description text not null,
    -- Subscribed event types, one per line.
    event_types text not null,
    state text not null,
    -- Signing secrets sealed with the service's webhook key (never in clear text).
    secret_sealed text not null,
    previous_secret_sealed text,
    previous_secret_expires_at bigint,
    created_by_user_id text not null,
    -- When the run of failed deliveries began (none since the last success).
    failing_since bigint,
    create_request_id text,
    version bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_endpoints_list on webhook_endpoints (organization_id, created_at, id);
create unique index webhook_endpoints_request on webhook_endpoints (organization_id, created_by_user_id, create_request_id);

create table webhook_deliveries (
    id text primary key,
    organization_id text not null,
    endpoint_id text not null references webhook_endpoints (id) on delete cascade,
    event_id text not null,
    event_type text not null,
    -- The exact bytes every attempt sends.
    body text not null,
    status text not null,
    attempt_count bigint not null,
    response_status_code bigint not null,
    latency_ms bigint not null,
    next_attempt_at bigint,
    last_attempt_at bigint,
    error text not null,
    -- A redelivery's idempotency key.
    request_id text,
    created_by_user_id text,
    created_at bigint not null
);
create index webhook_deliveries_log on webhook_deliveries (endpoint_id, created_at, id);
create index webhook_deliveries_age on webhook_deliveries (created_at);
create unique index webhook_deliveries_request on webhook_deliveries (organization_id, created_by_user_id, request_id);

create table webhook_attempts (
    delivery_id text not null references webhook_deliveries (id) on delete cascade,
    organization_id text not null,
    number bigint not null,
    attempted_at bigint not null,
    response_status_code bigint not null,
    latency_ms bigint not null,
    error text not null,
    primary key (delivery_id, number)
);

-- Every delivery's organization and times, for the workers across organizations: ids and
-- times only (no tenant data), so no row-level security. next_attempt_at is null once the
-- delivery is final. A worker claims a row by moving claimed_until forward, so only one
-- replica holds a delivery at a time; old rows tell the purge what to delete.
create table webhook_schedule (
    delivery_id text primary key references webhook_deliveries (id) on delete cascade,
    organization_id text not null,
    next_attempt_at bigint,
    claimed_until bigint not null,
    created_at bigint not null
);
create index webhook_schedule_due on webhook_schedule (next_attempt_at);
create index webhook_schedule_age on webhook_schedule (created_at);

-- Members' roles, so that owners and admins hear when an endpoint is switched off.
alter table memberships add column role text;
