-- Emails waiting to be sent (invitations, password resets). A row holds its mail until it is
-- sent or given up, and is then deleted: the links inside carry single-use secrets. Not
-- tenant data (a password reset belongs to no organization), so no row-level security.
create table mail_queue (
    id text primary key,
    recipient text not null,
    subject text not null,
    body text not null,
    source_event_id text not null,
    attempts bigint not null,
    next_attempt_at bigint not null,
    claimed_until bigint not null,
    last_error text not null,
    created_at bigint not null
);
-- One mail per event and recipient (a comment may mention several people).
create unique index mail_queue_once on mail_queue (source_event_id, recipient);
create index mail_queue_due on mail_queue (next_attempt_at);

-- Users' email addresses, from identity's user.created, for the email channel of inbox kinds
-- and for security alerts. Not tenant data (a user spans organizations).
create table recipients (
    user_id text primary key,
    email text not null,
    updated_at bigint not null
);
