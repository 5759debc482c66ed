-- documents: what happens after a delete. Both tables hold ids and hashes only and are read
-- across organizations by the service's background worker (like the outbox), so they have
-- no row-level security; every change they lead to runs in its organization's scope.

-- Contents no version used any more when a document was deleted. The worker deletes the
-- blob once the row is older than a grace period and still unused; an upload of the same
-- bytes deletes the row before placing its blob, so the two never cross.
create table blob_garbage (
    organization_id text not null,
    sha256 text not null,
    since bigint not null,
    primary key (organization_id, sha256)
);
create index blob_garbage_since on blob_garbage (since);

-- Documents to delete for good: those of a deleted task once its undo window ends
-- (scope 'task'), those of a deleted project at once (scope 'project').
create table purges (
    organization_id text not null,
    scope text not null,
    target_id text not null,
    purge_after bigint not null,
    primary key (organization_id, scope, target_id)
);
create index purges_due on purges (purge_after);

-- The orders of ListDocuments.
create index documents_updated on documents (organization_id, updated_at, id);
create index documents_created on documents (organization_id, created_at, id);
create index documents_title on documents (organization_id, title, id);
