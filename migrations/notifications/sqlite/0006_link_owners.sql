-- Who created each share link (the actor of link.created) and when they were last told of a
-- visit (LINK_VISITED at most once per link per hour).
create table link_owners (
    link_id text primary key,
    organization_id text not null,
    owner_user_id text not null,
    last_notified_at bigint not null
);
