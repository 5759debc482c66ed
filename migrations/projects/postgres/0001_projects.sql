-- projects: projects and their members, labels, boards and columns, tasks (with assignees,
-- labels, comments, work logs, field-level activity), per-user undo/redo stacks, and the
-- per-board change feed WatchBoard replays. Times are milliseconds since the Unix epoch.
-- Every table carries organization_id; on PostgreSQL row-level security enforces it.
create table projects (
    id text primary key,
    organization_id text not null,
    key text not null,
    name text not null,
    description text not null,
    lead_user_id text,
    state text not null,
    default_board_id text not null,
    creator_user_id text not null,
    create_request_id text,
    task_seq bigint not null,
    archived_at bigint,
    deleted_at bigint,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
-- A key stays reserved while a deleted project waits for its purge.
create unique index projects_key on projects (organization_id, key);
create unique index projects_request on projects (organization_id, creator_user_id, create_request_id);
create index projects_by_name on projects (organization_id, name, id);

create table project_members (
    organization_id text not null,
    project_id text not null references projects (id) on delete cascade,
    user_id text not null,
    role text not null,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    primary key (project_id, user_id)
);
create index project_members_by_user on project_members (organization_id, user_id);

create table labels (
    id text primary key,
    organization_id text not null,
    project_id text not null references projects (id) on delete cascade,
    name text not null,
    name_key text not null,
    description text not null,
    color text not null,
    creator_user_id text not null,
    request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
create unique index labels_name on labels (project_id, name_key);
create unique index labels_request on labels (project_id, creator_user_id, request_id);

create table boards (
    id text primary key,
    organization_id text not null,
    project_id text not null references projects (id) on delete cascade,
    name text not null,
    description text not null,
    workflow text not null,
    feed_seq bigint not null,
    creator_user_id text not null,
    request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
create index boards_by_project on boards (project_id, created_at, id);
create unique index boards_request on boards (project_id, creator_user_id, request_id);

create table board_columns (
    id text primary key,
    organization_id text not null,
    project_id text not null,
    board_id text not null references boards (id) on delete cascade,
    name text not null,
    name_key text not null,
    position bigint not null,
    wip_limit bigint not null,
    status_category text not null,
    creator_user_id text not null,
    request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
create unique index board_columns_name on board_columns (board_id, name_key);
create unique index board_columns_request on board_columns (board_id, creator_user_id, request_id);

create table tasks (
    id text primary key,
    organization_id text not null,
    project_id text not null references projects (id) on delete cascade,
    number bigint not null,
    key text not null,
    title text not null,
    description text not null,
    board_id text not null,
    column_id text not null,
    column_position bigint not null,
    status_category text not null,
    rank text not null,
    priority bigint not null,
    reporter_user_id text not null,
    parent_task_id text,
    start_at bigint,
    due_at bigint,
    estimate_ms bigint,
    completed_at bigint,
    create_request_id text,
    deleted_at bigint,
    deleted_action_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    -- Sort keys that put tasks without the time last in both directions.
    start_asc bigint generated always as (coalesce(start_at, 9223372036854775807)) stored,
    start_desc bigint generated always as (coalesce(start_at, -9223372036854775807)) stored,
    due_asc bigint generated always as (coalesce(due_at, 9223372036854775807)) stored,
    due_desc bigint generated always as (coalesce(due_at, -9223372036854775807)) stored
);
create unique index tasks_number on tasks (project_id, number);
create unique index tasks_request on tasks (project_id, reporter_user_id, create_request_id);
-- One index per ListTasks order, over live tasks only: a page reads its rows in index order
-- whatever the project holds.
create index tasks_by_created on tasks (project_id, created_at, id) where deleted_at is null;
create index tasks_by_updated on tasks (project_id, updated_at, id) where deleted_at is null;
create index tasks_by_rank on tasks (project_id, board_id, column_position, rank, id) where deleted_at is null;
create index tasks_by_priority on tasks (project_id, priority, id) where deleted_at is null;
create index tasks_by_due_asc on tasks (project_id, due_asc, id) where deleted_at is null;
create index tasks_by_due_desc on tasks (project_id, due_desc, id) where deleted_at is null;
create index tasks_by_start_asc on tasks (project_id, start_asc, id) where deleted_at is null;
create index tasks_by_start_desc on tasks (project_id, start_desc, id) where deleted_at is null;
create index tasks_in_column on tasks (column_id, rank) where deleted_at is null;
-- Subtask counts, comment counts and time spent are computed on read from these indexes.
create index tasks_by_parent on tasks (parent_task_id);
create index tasks_by_deletion on tasks (deleted_action_id);

create table task_assignees (
    organization_id text not null,
    task_id text not null references tasks (id) on delete cascade,
    user_id text not null,
    position bigint not null,
    primary key (task_id, user_id)
);
create index task_assignees_by_user on task_assignees (user_id, task_id);

create table task_labels (
    organization_id text not null,
    task_id text not null references tasks (id) on delete cascade,
    label_id text not null references labels (id) on delete cascade,
    primary key (task_id, label_id)
);
create index task_labels_by_label on task_labels (label_id, task_id);

create table comments (
    id text primary key,
    organization_id text not null,
    project_id text not null,
    task_id text not null references tasks (id) on delete cascade,
    author_user_id text not null,
    body text not null,
    mentioned_user_ids text not null,
    request_id text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null
);
create index comments_by_task on comments (task_id, created_at, id);
create unique index comments_request on comments (task_id, author_user_id, request_id);

create table work_logs (
    id text primary key,
    organization_id text not null,
    project_id text not null,
    task_id text not null references tasks (id) on delete cascade,
    task_key text not null,
    user_id text not null,
    duration_ms bigint not null,
    started_at bigint not null,
    description text not null,
    request_id text,
    created_at bigint not null
);
create index work_logs_by_task on work_logs (task_id, started_at, id);
create index work_logs_by_project on work_logs (project_id, started_at, id);
create index work_logs_by_user on work_logs (organization_id, user_id, started_at, id);
create unique index work_logs_request on work_logs (task_id, user_id, request_id);

create table task_activity (
    id text primary key,
    organization_id text not null,
    project_id text not null,
    task_id text not null,
    task_key text not null,
    actor_user_id text not null,
    kind text not null,
    field_changes text not null,
    comment_id text,
    work_log_id text,
    undo_of_activity_id text,
    redo_of_activity_id text,
    request_id text,
    created_at bigint not null
);
create index task_activity_by_task on task_activity (task_id, created_at, id);
create index task_activity_by_project on task_activity (project_id, created_at, id);
create unique index task_activity_request on task_activity (project_id, actor_user_id, request_id);

-- Undo and redo stacks: one row per undoable action of a user in a project; `stack` says
-- which stack it is on, `seq` its height.
create table undo_actions (
    activity_id text primary key,
    organization_id text not null,
    project_id text not null,
    user_id text not null,
    stack text not null,
    kind text not null,
    task_id text not null,
    payload text not null,
    seq bigint not null,
    created_at bigint not null,
    expires_at bigint not null
);
create index undo_actions_top on undo_actions (project_id, user_id, stack, seq);

-- Each board's committed changes in commit order (WatchBoard replays them on resume).
create table board_changes (
    organization_id text not null,
    board_id text not null,
    seq bigint not null,
    actor_user_id text not null,
    payload bytea not null,
    created_at bigint not null,
    primary key (board_id, seq)
);

-- Row-level security: the second wall behind the `organization_id = $tenant` every query
-- already has. Enabled and forced; a transaction without `app.tenant_id` sees no rows.
do $$
declare
    name text;
begin
    foreach name in array array['projects', 'project_members', 'labels', 'boards',
        'board_columns', 'tasks', 'task_assignees', 'task_labels', 'comments', 'work_logs',
        'task_activity', 'undo_actions', 'board_changes']
    loop
        execute format('alter table %I enable row level security', name);
        execute format('alter table %I force row level security', name);
        execute format('create policy %I on %I using (organization_id = nullif(current_setting(''app.tenant_id'', true), '''')) with check (organization_id = nullif(current_setting(''app.tenant_id'', true), ''''))', name || '_isolation', name);
    end loop;
end
$$;
