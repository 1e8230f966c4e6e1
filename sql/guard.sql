--
-- Guarded DDL: the lock_timeout cap, the slot in shared memory, settings.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;
CREATE TABLE guarded (id int);
INSERT INTO guarded SELECT generate_series(1, 10);

-- A column default computed by current_setting() is evaluated while the
-- ALTER runs, so it shows the lock_timeout the statement ran under.  A
-- statement alone in its transaction that finds the locks of all its
-- relations free (lt1, lt3) has no wait left for the cap to bound: it runs
-- under the session's value.  Inside a transaction block (lt5), and where
-- ALTER goes on to lock inheritors (below), the cap holds.
SHOW lock_timeout;
ALTER TABLE guarded ADD COLUMN lt1 text DEFAULT current_setting('lock_timeout');
SET lock_timeout = '1s';		-- a lower session value wins
ALTER TABLE guarded ADD COLUMN lt2 text DEFAULT current_setting('lock_timeout');
SET lock_timeout = '1min';		-- a higher one is capped
ALTER TABLE guarded ADD COLUMN lt3 text DEFAULT current_setting('lock_timeout');
SET migguard.lock_timeout = 0;	-- 0 leaves it alone
ALTER TABLE guarded ADD COLUMN lt4 text DEFAULT current_setting('lock_timeout');
RESET migguard.lock_timeout;
BEGIN;							-- inside a transaction block too
ALTER TABLE guarded ADD COLUMN lt5 text DEFAULT current_setting('lock_timeout');
SHOW lock_timeout;				-- capped until the transaction ends
COMMIT;
SELECT DISTINCT lt1, lt2, lt3, lt4, lt5 FROM guarded;
SHOW lock_timeout;
CREATE TABLE guarded_parted (id int) PARTITION BY LIST (id);
CREATE TABLE guarded_parted_1 PARTITION OF guarded_parted FOR VALUES IN (1);
INSERT INTO guarded_parted VALUES (1);
ALTER TABLE guarded_parted ADD COLUMN lt6 text DEFAULT current_setting('lock_timeout');
SELECT lt6 FROM guarded_parted;
DROP TABLE guarded_parted;
-- nobody else can wait for a table this transaction created: DDL on it is
-- not guarded (no cap, no registration)
BEGIN;
CREATE TABLE guarded_fresh (id int);
ALTER TABLE guarded_fresh ADD COLUMN lt7 text DEFAULT current_setting('lock_timeout');
INSERT INTO guarded_fresh VALUES (1);
SELECT lt7, (SELECT count(*) FROM migguard.guarded_ddl WHERE pid = pg_backend_pid()) AS registered
  FROM guarded_fresh;
ROLLBACK;
RESET lock_timeout;

-- restored after an error as well
SET lock_timeout = '1min';
ALTER TABLE guarded ADD COLUMN lt1 int;
SHOW lock_timeout;
RESET lock_timeout;

-- statements that are not guarded run under the session's own value
SET lock_timeout = '1min';
CREATE TABLE guarded_new (lt text DEFAULT current_setting('lock_timeout'));
INSERT INTO guarded_new DEFAULT VALUES;
SELECT lt FROM guarded_new;
RESET lock_timeout;

-- statements that commit transactions of their own run, watched, under the
-- session's lock_timeout
SET lock_timeout = '1min';
VACUUM FULL guarded;
CREATE TABLE guarded_parts (id int) PARTITION BY RANGE (id);
CREATE TABLE guarded_p1 PARTITION OF guarded_parts FOR VALUES FROM (0) TO (100);
CREATE INDEX ON guarded_parts (id);
SET client_min_messages = error;  -- PG13 cannot reindex a partitioned table: a warning
REINDEX TABLE guarded_parts;
RESET client_min_messages;
SHOW lock_timeout;
RESET lock_timeout;
SET migguard.rule_levels = 'drop_incompatible:off';
DROP TABLE guarded_parts;
RESET migguard.rule_levels;

-- LOCK TABLE outside a transaction block is still refused as PostgreSQL refuses it
LOCK TABLE guarded;

-- nothing stays registered once the statements are over, however they ended
SELECT count(*) FROM migguard.guarded_ddl;
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        BEGIN
            EXECUTE 'ALTER TABLE guarded ADD COLUMN lt1 int';
        EXCEPTION WHEN duplicate_column THEN
            NULL;
        END;
    END LOOP;
END $$;
SELECT count(*) FROM migguard.guarded_ddl;

-- a guarded statement sees itself in the view while it runs
CREATE FUNCTION guarded_self() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT kind || ' on ' || relation || ' holding ' || lock_mode || ': ' || statement
      FROM migguard.guarded_ddl WHERE pid = pg_backend_pid() $$;
ALTER TABLE guarded ADD COLUMN self text DEFAULT guarded_self();
SELECT DISTINCT self FROM guarded;
SELECT count(*) FROM migguard.guarded_ddl;

-- settings: bad values are refused, and ordinary roles cannot weaken them
-- PG17 added units to the range in this message: compare the SQLSTATE
\set VERBOSITY sqlstate
SET migguard.lock_timeout = -1;
SET migguard.lock_retries = 1000;
SET migguard.retry_delay = 0;
\set VERBOSITY default
SET migguard.watch_interval = '10ms';
CREATE ROLE guard_app;
SET ROLE guard_app;
SET migguard.lock_timeout = '1h';
SET migguard.lock_retries = 0;
SELECT count(*) FROM migguard.guarded_ddl;
RESET ROLE;
DROP ROLE guard_app;

DROP TABLE guarded, guarded_new;
DROP FUNCTION guarded_self();
