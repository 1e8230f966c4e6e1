/* migguard--0.2.sql */

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
    OUT statement text,
    OUT state text,
    OUT registered_since timestamptz,
    OUT relations text[])
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

-- Monitoring: the lock queue, the counters, what the rules know of a
-- relation, and preflight checks.

CREATE FUNCTION migguard.lock_queue(
    OUT waiting_pid integer,
    OUT waiting_query text,
    OUT relation_oid oid,
    OUT relation text,
    OUT requested_mode text,
    OUT wait_time interval,
    OUT blocking_pids integer[],
    OUT blocker_is_guarded_ddl boolean,
    OUT waiter_is_guarded_ddl boolean,
    OUT blocking_query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_lock_queue'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW migguard.lock_queue AS
    SELECT * FROM migguard.lock_queue();

CREATE FUNCTION migguard.stats(
    OUT statements_checked bigint,
    OUT rejected bigint,
    OUT warned bigint,
    OUT bypassed bigint,
    OUT cancelled bigint,
    OUT retried bigint,
    OUT cic_waits bigint,
    OUT cleanups bigint,
    OUT terminations bigint,
    OUT outside_queue_waits bigint,
    OUT transaction_cancels bigint,
    OUT transaction_terminations bigint,
    OUT autovacuum_cancels bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'migguard_stats'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW migguard.stats AS
    SELECT * FROM migguard.stats();

CREATE FUNCTION migguard.relation_facts(
    target regclass,
    OUT size_bytes bigint,
    OUT estimated_rows double precision,
    OUT is_large boolean,
    OUT created_in_transaction boolean,
    OUT is_temporary boolean,
    OUT exempt boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'migguard_relation_facts'
LANGUAGE C STRICT STABLE;

CREATE FUNCTION migguard.preflight(
    target regclass DEFAULT NULL,
    OUT check_name text,
    OUT status text,
    OUT observed text,
    OUT threshold text,
    OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_preflight'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION migguard.assert_preflight(target regclass DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'migguard_assert_preflight'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

REVOKE ALL ON FUNCTION migguard.lock_queue(), migguard.stats(),
    migguard.preflight(regclass), migguard.assert_preflight(regclass)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION migguard.lock_queue(), migguard.stats(),
    migguard.preflight(regclass), migguard.assert_preflight(regclass)
    TO pg_monitor;
GRANT SELECT ON migguard.lock_queue, migguard.stats TO pg_monitor;

-- ---- 0.2: the transaction guard ----

-- ---- 0.2: the statement plan and explain() ----

-- ---- 0.2: security and robustness ----

-- ---- 0.2: packaging and monitoring ----
