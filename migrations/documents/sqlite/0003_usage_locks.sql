-- documents: one row per organization that has stored content, taken (updated) by every
-- transaction that adds a version before it sums the organization's usage, so concurrent
-- uploads of one organization check the quota one after the other (PostgreSQL's row lock;
-- SQLite has one writer anyway). Ids only, no row-level security.
create table usage_locks (
    organization_id text primary key
);
