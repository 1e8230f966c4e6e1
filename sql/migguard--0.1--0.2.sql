/* migguard--0.1--0.2.sql */

\echo Use "ALTER EXTENSION migguard UPDATE TO '0.2'" to load this file. \quit

-- Every change here is also in migguard--0.2.sql, so that an updated
-- installation and a fresh one have the same objects.

-- ---- 0.2: the transaction guard ----

-- guarded_ddl shows registered transactions: state, since when, relations
DROP VIEW migguard.guarded_ddl;
DROP FUNCTION migguard.guarded_ddl();
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
REVOKE ALL ON FUNCTION migguard.guarded_ddl() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION migguard.guarded_ddl() TO pg_monitor;
GRANT SELECT ON migguard.guarded_ddl TO pg_monitor;

-- stats counts waits outside the queue and the transaction guard's actions
DROP VIEW migguard.stats;
DROP FUNCTION migguard.stats();
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
REVOKE ALL ON FUNCTION migguard.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION migguard.stats() TO pg_monitor;
GRANT SELECT ON migguard.stats TO pg_monitor;

-- ---- 0.2: the statement plan and explain() ----

-- ---- 0.2: security and robustness ----

-- ---- 0.2: packaging and monitoring ----
