-- Deleted comments stay for the undo window (24 hours) as tombstones, so UndoLastAction can
-- restore them; reads skip them and later deletes in the project purge the expired ones.
alter table comments add column deleted_at bigint;
create index comments_deleted on comments (project_id, deleted_at) where deleted_at is not null;
