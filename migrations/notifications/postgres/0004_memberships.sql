-- Organization memberships as tenancy publishes them (member.added / member.removed): the
-- organizations whose inboxes a user-level security alert goes to, and who left (their open
-- notification streams end). Read per user across organizations, so without row-level
-- security; they hold ids only.
create table memberships (
    organization_id text not null,
    user_id text not null,
    primary key (user_id, organization_id)
);
create table departures (
    organization_id text not null,
    user_id text not null,
    departed_at bigint not null,
    primary key (organization_id, user_id)
);
