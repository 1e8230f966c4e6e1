--
-- The foundation: status, the hook's first rule end to end, migguard.mode.
--
CREATE EXTENSION migguard;

-- the watcher may still be starting
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT worker_pid IS NOT NULL FROM migguard.status);
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;

SELECT preloaded, worker_pid > 0 AS worker_running,
       worker_started <= now() AS started_before_now,
       mode, library_version, extension_version
  FROM migguard.status;

SELECT backend_type FROM pg_stat_activity
 WHERE pid = (SELECT worker_pid FROM migguard.status);

-- a large table (for this test, large means 1 MB) and a small one
SET migguard.large_table_size = '1MB';
CREATE TABLE orders (id int, note text);
INSERT INTO orders SELECT g, repeat('x', 40) FROM generate_series(1, 40000) g;
ANALYZE orders;
CREATE TABLE colours (id int, name text);
INSERT INTO colours VALUES (1, 'red'), (2, 'green');

-- rejected before any lock is taken, with the safe statement in the hint
CREATE INDEX orders_id_idx ON orders (id);
SELECT count(*) FROM pg_indexes WHERE tablename = 'orders';

-- the safe alternatives pass
CREATE INDEX CONCURRENTLY orders_id_idx ON orders (id);
CREATE INDEX colours_id_idx ON colours (id);

-- a table created in this transaction is exempt, however large
BEGIN;
CREATE TABLE orders_copy AS SELECT * FROM orders;
CREATE INDEX ON orders_copy (id);
COMMIT;

-- the same statement inside a DO block is a migration too
DO $$ BEGIN CREATE INDEX orders_note_idx ON orders (note); END $$;

-- multi-statement query strings: the hint quotes the statement that failed
SET application_name = 'multi' \; CREATE UNIQUE INDEX orders_uniq ON orders (id, note);

-- warn: the statement runs, with a warning
SET migguard.mode = warn;
CREATE INDEX orders_note_idx ON orders (note);
-- log: only the server log hears of it
SET migguard.mode = log;
DROP INDEX orders_note_idx;
CREATE INDEX orders_note_idx ON orders (note);
-- off: nothing is checked
SET migguard.mode = off;
DROP INDEX orders_note_idx;
CREATE INDEX orders_note_idx ON orders (note);
RESET migguard.mode;

-- rejections and warnings are events
SELECT action, rule, relation, statement FROM migguard.events ORDER BY event_time;

-- bad values and the permissions of the settings
SET migguard.mode = strict;
-- PG17 added units to the range in this message: compare the SQLSTATE
\set VERBOSITY sqlstate
SET migguard.large_table_size = -1;
\set VERBOSITY default
CREATE ROLE migguard_app;
SET ROLE migguard_app;
SET migguard.mode = off;
SET migguard.large_table_size = '1GB';
SELECT count(*) FROM migguard.events;
RESET ROLE;
DROP ROLE migguard_app;

DROP TABLE orders, orders_copy, colours;
