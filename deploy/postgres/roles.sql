-- taskmesh on PostgreSQL: roles, database, schemas and privileges.
--
-- Two roles, never one:
--   taskmesh_owner  owns the schemas and every table in them; used only by `taskmesh migrate`
--                   (database.migration_url).
--   taskmesh_app    what services connect as at runtime (database.url): owns nothing, is not
--                   superuser, has no BYPASSRLS, cannot create databases, roles or tables.
--                   It reads and writes rows, and row-level security decides which rows.
--
-- Run as a superuser with psql 15 or newer (it uses \getenv), passwords from the environment:
--
--   TASKMESH_OWNER_PASSWORD='...' TASKMESH_APP_PASSWORD='...' \
--     psql -v ON_ERROR_STOP=1 -h HOST -U postgres -d postgres -f deploy/postgres/roles.sql
--
-- deploy/compose.yaml mounts this file into /docker-entrypoint-initdb.d/, where the postgres
-- image runs it once, on the first start with an empty data directory.
--
-- Idempotent: re-running it re-asserts role attributes, sets the passwords again (rotation),
-- creates missing schemas and re-grants on tables that already exist. Re-run it after adding
-- a service to the list below.
--
-- Managed PostgreSQL (RDS, Cloud SQL, ...) has no real superuser: run it as the admin role
-- after `grant taskmesh_owner to <admin role>` (needed for CREATE SCHEMA ... AUTHORIZATION and
-- ALTER DEFAULT PRIVILEGES FOR ROLE taskmesh_owner).

\set ON_ERROR_STOP on

-- Keep the passwords out of the server log even if log_statement = 'all' (needs superuser
-- or a granted SET privilege; without it the script goes on, with a notice).
do $$
begin
    perform set_config('log_statement', 'none', false);
    perform set_config('log_min_duration_statement', '-1', false);
exception when insufficient_privilege then
    raise notice 'cannot turn statement logging off: passwords may reach the server log';
end $$;

\getenv owner_password TASKMESH_OWNER_PASSWORD
\getenv app_password TASKMESH_APP_PASSWORD
\if :{?owner_password}
\else
  do $$ begin raise exception 'TASKMESH_OWNER_PASSWORD is not set'; end $$;
\endif
\if :{?app_password}
\else
  do $$ begin raise exception 'TASKMESH_APP_PASSWORD is not set'; end $$;
\endif

-- ---------------------------------------------------------------------------------------
-- Roles. CREATE ROLE has no IF NOT EXISTS, hence \gexec; ALTER ROLE then (re)asserts every
-- attribute, so a role created by hand with too much power is corrected.

select format('create role taskmesh_owner login password %L', :'owner_password')
where not exists (select from pg_roles where rolname = 'taskmesh_owner')
\gexec

select format('create role taskmesh_app login password %L', :'app_password')
where not exists (select from pg_roles where rolname = 'taskmesh_app')
\gexec

alter role taskmesh_owner
    login nosuperuser nocreatedb nocreaterole noreplication nobypassrls
    password :'owner_password';

alter role taskmesh_app
    login nosuperuser nocreatedb nocreaterole noreplication nobypassrls
    password :'app_password';

-- The runtime role must not inherit the owner's rights (an owner is exempt from row-level
-- security unless the table FORCEs it, and may ALTER or DROP the tables).
do $$
begin
    if exists (
        select from pg_auth_members m
        join pg_roles r on r.oid = m.roleid
        join pg_roles u on u.oid = m.member
        where r.rolname = 'taskmesh_owner' and u.rolname = 'taskmesh_app'
    ) then
        revoke taskmesh_owner from taskmesh_app;
    end if;
end $$;

-- A transaction left open by a bug must not hold locks (and a pooled connection) forever.
-- Role-level, not a session SET on a pooled connection.
alter role taskmesh_app set idle_in_transaction_session_timeout = '60s';

-- ---------------------------------------------------------------------------------------
-- Database, owned by the bootstrap superuser (so that neither taskmesh role can drop it).

select 'create database taskmesh'
where not exists (select from pg_database where datname = 'taskmesh')
\gexec

revoke all on database taskmesh from public;
-- The owner creates one schema per service (`taskmesh migrate` runs CREATE SCHEMA IF NOT
-- EXISTS, which PostgreSQL checks against CREATE on the database even when the schema
-- exists).
grant connect, create, temporary on database taskmesh to taskmesh_owner;
grant connect on database taskmesh to taskmesh_app;

\connect taskmesh

-- Nobody creates objects in public (PostgreSQL 15+ already revokes this; older do not).
revoke create on schema public from public;

-- ---------------------------------------------------------------------------------------
-- Schemas: one per service, `taskmesh_<service>`, owned by taskmesh_owner. Created here so
-- that the runtime role's privileges exist before the first migration; `taskmesh migrate`
-- then finds them and creates the tables.
--
-- Default privileges: every table and sequence taskmesh_owner creates later in these
-- schemas (i.e. every migration) is usable by taskmesh_app at once, with DML only: no
-- TRUNCATE, REFERENCES, TRIGGER or DDL. USAGE on sequences covers nextval() behind identity
-- and serial columns. The GRANT ... ON ALL TABLES lines catch up on tables that existed
-- before this script ran (or before a default privilege was added).
--
-- `taskmesh migrate` with database.runtime_role = "taskmesh_app" issues the same grants per
-- schema after migrating (mesh::db::Database::grant_runtime_role); doing it here as well
-- means the runtime role works even if that setting is missing.
--
-- The migration bookkeeping tables (_events_migrations and each service's own) get the same
-- DML grants; the runtime never touches them. Revoke per table after migrating if desired.

do $$
declare
    service text;
    schema_name text;
begin
    foreach service in array array[
        'identity', 'tenancy', 'projects', 'documents', 'notifications', 'links', 'analytics'
    ] loop
        schema_name := 'taskmesh_' || service;
        execute format('create schema if not exists %I authorization taskmesh_owner', schema_name);
        execute format('alter schema %I owner to taskmesh_owner', schema_name);
        execute format('revoke all on schema %I from public', schema_name);
        execute format('grant usage on schema %I to taskmesh_app', schema_name);

        execute format(
            'alter default privileges for role taskmesh_owner in schema %I '
            'grant select, insert, update, delete on tables to taskmesh_app', schema_name);
        execute format(
            'alter default privileges for role taskmesh_owner in schema %I '
            'grant usage on sequences to taskmesh_app', schema_name);

        execute format(
            'grant select, insert, update, delete on all tables in schema %I to taskmesh_app',
            schema_name);
        execute format(
            'grant usage on all sequences in schema %I to taskmesh_app', schema_name);
    end loop;
end $$;

-- ---------------------------------------------------------------------------------------
-- Row-level security (RLS): how tenant isolation works with these roles.
--
-- Every tenant-scoped table carries the organization id and is created by its migration
-- with (the column type and cast follow the table):
--
--   alter table tasks enable row level security;
--   alter table tasks force row level security;      -- the owner is subject to it too
--   create policy tenant_isolation on tasks
--       using      (tenant_id = nullif(current_setting('app.tenant_id', true), ''))
--       with check (tenant_id = nullif(current_setting('app.tenant_id', true), ''));
--
-- Services open every tenant transaction with
--   select set_config('app.tenant_id', $1, true)     -- true: local to this transaction
-- (mesh::db::begin_tenant), so a pooled connection never carries one tenant's context into
-- the next call. Outside such a transaction:
--   - current_setting('app.tenant_id', true) returns NULL if the setting was never defined
--     in the session (missing_ok = true, instead of an error), and '' once a
--     transaction-local value has been discarded;
--   - NULLIF(..., '') turns both into NULL, and `tenant_id = NULL` is never true;
-- so a query that forgot to set the tenant sees no rows and can write none: it fails
-- closed instead of seeing every tenant.
--
-- Policies bind only roles that are not superuser, have no BYPASSRLS and do not own the
-- table (FORCE ROW LEVEL SECURITY extends them to the owner): exactly taskmesh_app.
-- Never point database.url at taskmesh_owner or postgres.
--
-- event_outbox and event_inbox (migrations/events) carry no RLS by design: the outbox relay
-- and consumers work across tenants, and rows are only written inside a service's own
-- transaction.
--
-- Connection poolers: services set search_path once per connection (session level), so a
-- pooler in front of PostgreSQL must use session pooling; transaction pooling would mix
-- schemas. app.tenant_id is transaction-local and safe either way.

-- ---------------------------------------------------------------------------------------
-- Check the result; fails (and stops psql) if the runtime role could bypass RLS.
do $$
declare
    app record;
begin
    select rolsuper, rolbypassrls, rolcreatedb, rolcreaterole
      into app from pg_roles where rolname = 'taskmesh_app';
    if app.rolsuper or app.rolbypassrls or app.rolcreatedb or app.rolcreaterole then
        raise exception 'taskmesh_app has superuser, BYPASSRLS, CREATEDB or CREATEROLE';
    end if;
    if exists (
        select from pg_class c join pg_roles r on r.oid = c.relowner
        where r.rolname = 'taskmesh_app'
    ) or exists (
        select from pg_namespace n join pg_roles r on r.oid = n.nspowner
        where r.rolname = 'taskmesh_app'
    ) then
        raise exception 'taskmesh_app owns tables or schemas in database taskmesh';
    end if;
    if has_database_privilege('taskmesh_app', 'taskmesh', 'CREATE') then
        raise exception 'taskmesh_app may create schemas in database taskmesh';
    end if;
end $$;
