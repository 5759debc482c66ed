-- The transactional outbox and the consumer inbox, in every service's schema.
-- Owned by the events crate; tracked in `_events_migrations`, separate from the service's own
-- migrations. These tables carry no row-level security: the relay and consumers work across
-- tenants by design, and rows are only ever written inside a service's own transaction.
create table event_outbox (
    sequence bigint generated always as identity primary key,
    id text not null unique,
    subject text not null,
    tenant_id text,
    payload bytea not null,
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    attempts integer not null default 0,
    last_error text
);
create index event_outbox_unsent on event_outbox (sequence) where sent_at is null;

create table event_inbox (
    consumer text not null,
    event_id text not null,
    processed_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
