--
-- preflight(), assert_preflight(), the monitoring views and their permissions.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;
CREATE TABLE pf (id int);
INSERT INTO pf SELECT generate_series(1, 100);

-- a quiet server: everything ok, the target is small
SELECT check_name, status FROM migguard.preflight('pf');
SELECT migguard.assert_preflight('pf');
SELECT check_name FROM migguard.preflight() ORDER BY 1;   -- without a target, fewer checks
SELECT check_name, status, regexp_replace(observed, '\d+', 'N') AS observed, threshold
  FROM migguard.preflight('pf')
 WHERE check_name IN ('target_size', 'migguard_health')
 ORDER BY check_name;
SELECT status, observed = current_setting('server_version') AS observed_version
  FROM migguard.preflight() WHERE check_name = 'server_version';
SET migguard.large_table_size = '1kB';
SELECT status, detail FROM migguard.preflight('pf') WHERE check_name = 'target_size';
RESET migguard.large_table_size;

-- a prepared transaction holding a lock on the target: any DDL would queue
BEGIN;
LOCK TABLE pf IN ROW EXCLUSIVE MODE;
PREPARE TRANSACTION 'pf_holder';
SELECT check_name, status, observed, detail FROM migguard.preflight('pf')
 WHERE status <> 'ok' ORDER BY 1;
SELECT migguard.assert_preflight('pf');
SELECT migguard.assert_preflight();                      -- no target: only a warning
COMMIT PREPARED 'pf_holder';

-- an invalid index
CREATE TABLE pf_dup (id int);
INSERT INTO pf_dup VALUES (1), (1);
CREATE UNIQUE INDEX CONCURRENTLY pf_dup_key ON pf_dup (id);
-- the cleanup worker drops that one within moments
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM pg_class WHERE relname = 'pf_dup_key');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SET migguard.cic_cleanup = off;
CREATE UNIQUE INDEX CONCURRENTLY pf_dup_key2 ON pf_dup (id);
RESET migguard.cic_cleanup;
SELECT status, observed, detail FROM migguard.preflight('pf_dup')
 WHERE check_name = 'invalid_indexes';
SELECT status FROM migguard.preflight('pf') WHERE check_name = 'invalid_indexes';
DROP TABLE pf_dup;

-- thresholds are settings
SET migguard.preflight_min_free_connections = 100000;
SELECT status FROM migguard.preflight() WHERE check_name = 'connection_headroom';
RESET migguard.preflight_min_free_connections;

-- stats and relation facts
SELECT statements_checked > 0 AS checked, rejected >= 0 AS rejected
  FROM migguard.stats;
SELECT size_bytes > 0 AS has_size, is_large, created_in_transaction, exempt
  FROM migguard.relation_facts('pf');
SELECT * FROM migguard.relation_facts(0);
SELECT count(*) FROM migguard.lock_queue;

-- permissions: a plain role sees nothing, a pg_monitor member may look
CREATE ROLE pf_plain;
CREATE ROLE pf_monitor IN ROLE pg_monitor;
SET ROLE pf_plain;
SELECT * FROM migguard.preflight('pf');
SELECT * FROM migguard.lock_queue;
SELECT * FROM migguard.stats;
RESET ROLE;
SET ROLE pf_monitor;
SELECT count(*) > 0 AS checks FROM migguard.preflight('pf');
SELECT count(*) >= 0 AS ok FROM migguard.lock_queue;
SELECT statements_checked >= 0 AS ok FROM migguard.stats;
SET migguard.mode = off;                                 -- still cannot weaken anything
RESET ROLE;
DROP ROLE pf_plain, pf_monitor;
SET migguard.rule_levels = 'drop_incompatible:off';
DROP TABLE pf;
RESET migguard.rule_levels;
