-- A user's security log: the audit entries of their own account (sign-ins, sign-outs,
-- revocations, refresh-token reuse, password changes and resets, personal access tokens),
-- written in the same transaction as what they record and listed by ListSecurityEvents.
-- The columns are kit::AuditEntry's; organization_id is empty (an account spans
-- organizations).
create table audit_events (
    id text primary key,
    organization_id text,
    actor_user_id text not null,
    action text not null,
    resource text not null,
    details text not null,
    request_id text not null,
    created_at bigint not null
);

create index audit_events_by_actor on audit_events (actor_user_id, created_at, id);
