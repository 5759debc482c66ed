-- The transactional outbox and the consumer inbox, in every service's database.
-- Owned by the events crate; tracked in `_events_migrations`, separate from the service's own
-- migrations, so both can live in one SQLite file / PostgreSQL schema.
create table event_outbox (
    sequence integer primary key autoincrement,
    id text not null unique,
    subject text not null,
    tenant_id text,
    payload blob not null,
    created_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at text,
    attempts integer not null default 0,
    last_error text
);
create index event_outbox_unsent on event_outbox (sequence) where sent_at is null;

create table event_inbox (
    consumer text not null,
    event_id text not null,
    processed_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    primary key (consumer, event_id)
);
