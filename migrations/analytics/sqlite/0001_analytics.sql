-- analytics: projections of other services' events and rollups of task flow and link
-- traffic. Times are milliseconds since the Unix epoch; every row names its organization.

-- Task flow per organization, project and quarter hour (slot = start of the UTC quarter
-- hour). Quarter hours, because every IANA zone's offset is a multiple of 15 minutes: days
-- and weeks in any zone are exact sums of slots.
create table task_slots (
    organization_id text not null,
    project_id text not null,
    slot bigint not null,
    created bigint not null,
    completed bigint not null,
    reopened bigint not null,
    comments bigint not null,
    work_logged_ms bigint not null,
    uploads bigint not null,
    -- Changes to the number of open tasks by status category (their sums up to a time are
    -- the counts at that time).
    backlog_delta bigint not null,
    todo_delta bigint not null,
    in_progress_delta bigint not null,
    primary key (organization_id, project_id, slot)
);
create index task_slots_range on task_slots (organization_id, slot);

-- One row per completion: medians and percentiles need the values.
create table task_completions (
    source_event_id text primary key,
    organization_id text not null,
    project_id text not null,
    task_id text not null,
    completed_at bigint not null,
    lead_ms bigint not null,
    cycle_ms bigint
);
create index task_completions_range on task_completions (organization_id, completed_at);

-- What analytics knows of each task now.
create table tasks (
    task_id text primary key,
    organization_id text not null,
    project_id text not null,
    category text not null,
    created_at bigint not null,
    first_in_progress_at bigint,
    due_at bigint,
    deleted boolean not null
);
create index tasks_organization on tasks (organization_id, category);

create table projects (
    project_id text primary key,
    organization_id text not null,
    archived boolean not null,
    deleted boolean not null
);
create index projects_organization on projects (organization_id);

create table project_members (
    organization_id text not null,
    project_id text not null,
    user_id text not null,
    primary key (project_id, user_id)
);
create index project_members_user on project_members (organization_id, user_id);

create table members (
    organization_id text not null,
    user_id text not null,
    primary key (organization_id, user_id)
);

create table documents (
    document_id text primary key,
    organization_id text not null,
    project_id text not null,
    deleted boolean not null
);
create index documents_organization on documents (organization_id);

create table document_versions (
    organization_id text not null,
    document_id text not null,
    version bigint not null,
    sha256 text not null,
    size_bytes bigint not null,
    primary key (document_id, version)
);
create index document_versions_organization on document_versions (organization_id, sha256);

create table links (
    link_id text primary key,
    organization_id text not null,
    slug text not null,
    deleted boolean not null
);
create index links_organization on links (organization_id);

-- One row per visit (bots included, flagged): unique visitors per day and per breakdown
-- value are distinct (day, visitor_hash) pairs. visitor_hash is the links service's
-- daily-rotating keyed hash; raw addresses never reach analytics.
create table link_visits (
    source_event_id text primary key,
    organization_id text not null,
    link_id text not null,
    day bigint not null,
    visitor_hash text not null,
    referrer_host text not null,
    browser text not null,
    os text not null,
    device_class text not null,
    country text not null,
    bot boolean not null
);
create index link_visits_range on link_visits (organization_id, day);
create index link_visits_link on link_visits (organization_id, link_id, day);

-- Up to when events have been applied, per organization (the newest event time applied).
create table progress (
    organization_id text primary key,
    applied_until bigint not null
);
