-- Most tasks have no create request id, no parent and no pending deletion: index only the
-- rows that have one. Every lookup through these indexes compares the column with a value,
-- which implies it is not null, so the partial indexes serve the same queries, and each task
-- insert maintains three fewer index entries (bulk seeding and create-task both pay for them).
drop index tasks_request;
create unique index tasks_request on tasks (project_id, reporter_user_id, create_request_id)
    where create_request_id is not null;
drop index tasks_by_parent;
create index tasks_by_parent on tasks (parent_task_id) where parent_task_id is not null;
drop index tasks_by_deletion;
create index tasks_by_deletion on tasks (deleted_action_id) where deleted_action_id is not null;
