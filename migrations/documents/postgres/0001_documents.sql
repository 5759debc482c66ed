-- documents: each organization's documents (per project, optionally attached to a task) and
-- their immutable versions. Contents live in blob storage under their SHA-256; rows only
-- name them. Times are milliseconds since the Unix epoch.
create table documents (
    id text primary key,
    organization_id text not null,
    project_id text not null,
    task_id text,
    title text not null,
    visibility text not null,
    created_by_user_id text not null,
    current_version bigint not null,
    -- Its task was deleted and may still come back (undo): hidden from every read.
    hidden boolean not null,
    create_request_id text,
    version bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index documents_project on documents (organization_id, project_id, updated_at, id);
create index documents_task on documents (organization_id, task_id);
create unique index documents_request on documents (organization_id, created_by_user_id, create_request_id);

create table document_versions (
    organization_id text not null,
    document_id text not null references documents (id) on delete cascade,
    version bigint not null,
    sha256 text not null,
    size_bytes bigint not null,
    content_type text not null,
    declared_content_type text not null,
    file_name text not null,
    created_by_user_id text not null,
    restored_from_version bigint not null,
    request_id text,
    created_at bigint not null,
    primary key (document_id, version)
);
-- Storage use counts each distinct content once per organization.
create index document_versions_content on document_versions (organization_id, sha256);
create unique index document_versions_request on document_versions (organization_id, created_by_user_id, request_id);

alter table documents enable row level security;
alter table documents force row level security;
create policy documents_isolation on documents
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));

alter table document_versions enable row level security;
alter table document_versions force row level security;
create policy document_versions_isolation on document_versions
    using (organization_id = nullif(current_setting('app.tenant_id', true), ''))
    with check (organization_id = nullif(current_setting('app.tenant_id', true), ''));
