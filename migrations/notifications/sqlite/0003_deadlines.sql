-- What the due-reminder scheduler needs of each task, kept from projects' task events: its
-- due time, whether it is still open, who is assigned, and for which due time each reminder
-- was already sent. Read across organizations by the scheduler (like the event outbox), so
-- without row-level security; every other read names the organization.
create table task_deadlines (
    task_id text primary key,
    organization_id text not null,
    project_id text not null,
    task_key text not null,
    title text not null,
    due_at bigint,
    open boolean not null,
    assignee_user_ids text not null,
    soon_reminded_due_at bigint,
    overdue_reminded_due_at bigint,
    updated_at bigint not null
);
-- Open tasks by due time: the scheduler's scan.
create index task_deadlines_due on task_deadlines (due_at) where open and due_at is not null;
