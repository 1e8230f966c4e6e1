--
-- The bypass, migguard.allow: honoured only in the transaction that set it,
-- and only for the role that set it, when that role is a superuser or a
-- member of migguard.allow_role.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;
SET migguard.large_table_size = '64kB';
SET migguard.lock_retries = 0;
\set VERBOSITY terse

CREATE TABLE bp_big (id int, n int, v varchar(20));
INSERT INTO bp_big SELECT g, g, 'v' FROM generate_series(1, 3000) g;
ANALYZE bp_big;

SET migguard.allow = 'no_such_rule';                    -- unknown: refused

-- a session-level SET is ignored in later transactions, with a warning
SET migguard.allow = 'index_not_concurrent';
\set VERBOSITY default
CREATE INDEX bp_big_n_idx ON bp_big (n);                -- its own transaction: ignored
\set VERBOSITY terse
BEGIN;
CREATE INDEX bp_big_n_idx ON bp_big (n);                -- still not this one's
ROLLBACK;
RESET migguard.allow;

-- set in this transaction: honoured, also by a plain SET, but not after it
BEGIN;
SET migguard.allow = 'index_not_concurrent';
CREATE INDEX bp_big_n_idx ON bp_big (n);
COMMIT;
CREATE INDEX bp_big_v_idx ON bp_big (v);                -- the next transaction: ignored
RESET migguard.allow;

-- SET LOCAL: the way to do it
BEGIN;
SET LOCAL migguard.allow = 'index_not_concurrent, vacuum_full';
CREATE INDEX bp_big_v_idx ON bp_big (v);
COMMIT;
SHOW migguard.allow;
DROP INDEX CONCURRENTLY bp_big_v_idx;

-- other roles: only members of migguard.allow_role
CREATE ROLE bp_dev;
CREATE ROLE bp_migrator;
CREATE ROLE bp_owners;
GRANT bp_owners TO bp_dev, bp_migrator;
ALTER TABLE bp_big OWNER TO bp_owners;                  -- both may ALTER it
SET ROLE bp_dev;
SET migguard.allow_role = 'bp_migrator';                -- superuser only
SET migguard.rule_levels = '';                          -- superuser only
RESET ROLE;
SET migguard.allow_role = 'bp_migrator';
SET ROLE bp_dev;
BEGIN;
SET LOCAL migguard.allow = 'alter_type_rewrite';
ALTER TABLE bp_big ALTER COLUMN n TYPE bigint;          -- refused: not trusted
ROLLBACK;
RESET ROLE;
SET ROLE bp_migrator;
BEGIN;
SET LOCAL migguard.allow = 'alter_type_rewrite';
ALTER TABLE bp_big ALTER COLUMN n TYPE bigint;          -- a member: bypassed
COMMIT;
RESET ROLE;

-- SECURITY DEFINER: the caller's bypass never becomes the owner's
CREATE FUNCTION bp_build_index() RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public
  AS $$ BEGIN CREATE INDEX bp_big_id_idx ON public.bp_big (id); END $$;
GRANT EXECUTE ON FUNCTION bp_build_index() TO bp_dev;
SET ROLE bp_dev;
BEGIN;
SET LOCAL migguard.allow = 'index_not_concurrent';
SELECT bp_build_index();                                -- bp_dev set it: refused
ROLLBACK;
SELECT bp_build_index();                                -- no bypass: the rule's error
RESET ROLE;
-- a bypass the owner wrote into the function is the owner's own
CREATE FUNCTION bp_build_index_allowed() RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public
  SET migguard.allow = 'index_not_concurrent'
  AS $$ BEGIN CREATE INDEX bp_big_id_idx ON public.bp_big (id); END $$;
GRANT EXECUTE ON FUNCTION bp_build_index_allowed() TO bp_dev;
SET ROLE bp_dev;
SELECT bp_build_index_allowed();
SHOW migguard.allow;
RESET ROLE;
RESET migguard.allow_role;

-- ALTER ROLE ... SET: set before any transaction of the session, never honoured
SELECT current_user AS bp_me \gset
CREATE ROLE bp_super SUPERUSER LOGIN;
ALTER ROLE bp_super SET migguard.allow = 'index_not_concurrent';
\c - bp_super
SET migguard.large_table_size = '64kB';
\set VERBOSITY terse
SHOW migguard.allow;
CREATE INDEX bp_big_n2_idx ON bp_big (n);               -- ignored, with the warning
\c - :bp_me
\set VERBOSITY terse

-- every bypass is an event
SELECT action, rule, relation FROM migguard.events
 WHERE action = 'bypass' AND relation = 'public.bp_big' ORDER BY event_time;

DROP TABLE bp_big;
DROP FUNCTION bp_build_index(), bp_build_index_allowed();
DROP ROLE bp_dev, bp_migrator, bp_owners, bp_super;
