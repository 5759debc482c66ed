-- Brute-force throttle state, shared by every identity replica (one row per throttled key:
-- an account, a client address). Rows idle for longer than the longest delay are purged,
-- so the table holds only keys that failed recently; nothing refuses everyone when it grows.
create table throttle (
    key text primary key,
    failures bigint not null,
    blocked_until bigint,
    updated_at bigint not null
);

create index throttle_updated_at on throttle (updated_at);
