-- What notifications keeps of each task, from projects' task events: its watchers (reporter
-- and assignees), its due time, whether it is still open, and for which due time each
-- reminder was already sent. Read across organizations by the reminder scan (like the event
-- outbox), so without row-level security; every other read names the task.
create table tracked_tasks (
    task_id text primary key,
    organization_id text not null,
    project_id text not null,
    task_key text not null,
    title text not null,
    due_at bigint,
    open boolean not null,
    reporter_user_id text not null,
    assignee_user_ids text not null,
    soon_reminded_due_at bigint,
    overdue_reminded_due_at bigint,
    updated_at bigint not null
);
-- Open tasks by due time: the scheduler's scan.
create index tracked_tasks_due on tracked_tasks (due_at) where open and due_at is not null;
