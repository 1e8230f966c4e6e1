/* migguard--0.1.sql */

\echo Use "CREATE EXTENSION migguard" to load this file. \quit

CREATE FUNCTION migguard.status(
    OUT preloaded boolean,
    OUT worker_pid integer,
    OUT worker_started timestamptz,
    OUT worker_reloaded timestamptz,
    OUT mode text,
    OUT library_version text)
RETURNS record
AS 'MODULE_PATHNAME', 'migguard_status'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW migguard.status AS
    SELECT s.preloaded, s.worker_pid, s.worker_started, s.worker_reloaded,
           s.mode,
           s.library_version,
           (SELECT e.extversion FROM pg_catalog.pg_extension e
             WHERE e.extname OPERATOR(pg_catalog.=) 'migguard') AS extension_version
      FROM migguard.status() s;

CREATE FUNCTION migguard.events(
    OUT event_time timestamptz,
    OUT pid integer,
    OUT database text,
    OUT username text,
    OUT action text,
    OUT rule text,
    OUT relation text,
    OUT statement text,
    OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_events'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW migguard.events AS
    SELECT * FROM migguard.events();

CREATE FUNCTION migguard.guarded_ddl(
    OUT pid integer,
    OUT database text,
    OUT username text,
    OUT kind text,
    OUT relation text,
    OUT lock_mode text,
    OUT started timestamptz,
    OUT cancel_requested boolean,
    OUT statement text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_guarded_ddl'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW migguard.guarded_ddl AS
    SELECT * FROM migguard.guarded_ddl();

CREATE FUNCTION migguard.check(
    sql text,
    OUT statement_number integer,
    OUT statement text,
    OUT rule text,
    OUT level text,
    OUT relation text,
    OUT message text,
    OUT detail text,
    OUT hint text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_check'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION migguard.rules(
    OUT name text,
    OUT level text,
    OUT default_level text,
    OUT catches text,
    OUT safe_alternative text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_rules'
LANGUAGE C STRICT VOLATILE;

GRANT USAGE ON SCHEMA migguard TO PUBLIC;
REVOKE ALL ON FUNCTION migguard.events() FROM PUBLIC;
REVOKE ALL ON FUNCTION migguard.guarded_ddl() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION migguard.events(), migguard.guarded_ddl() TO pg_monitor;
GRANT SELECT ON migguard.status, migguard.events, migguard.guarded_ddl TO pg_monitor;
