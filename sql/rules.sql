--
-- The rule catalog: every rule rejects on a large table, passes on a small
-- one, and its safe alternative passes.  "Large" is 64 kB here.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;
SET migguard.large_table_size = '64kB';
SET migguard.lock_retries = 0;

CREATE TABLE big (id int NOT NULL, n int, s varchar(10), v varchar(20),
                  num numeric(10,2), t text, ts timestamp, note text);
INSERT INTO big SELECT g, g, 'x', 'y', g, 't' || g, '2020-01-01', NULL
  FROM generate_series(1, 3000) g;
CREATE TABLE small (id int NOT NULL, n int, s varchar(10), t text, note text);
INSERT INTO small VALUES (1, 1, 'x', 't', NULL);
CREATE TABLE empty_t (id int);
ANALYZE big, small;

SELECT name, level, default_level FROM migguard.rules() ORDER BY name;

-- index_not_concurrent, drop_index_not_concurrent, reindex_not_concurrent
CREATE INDEX big_n_idx ON big (n);
CREATE INDEX small_n_idx ON small (n);
CREATE INDEX CONCURRENTLY big_n_idx ON big (n);
DROP INDEX big_n_idx;
DROP INDEX CONCURRENTLY big_n_idx;
DROP INDEX small_n_idx;
CREATE INDEX big_n_idx ON big (n) WHERE false;   -- still rejected: the lock is the same
CREATE INDEX CONCURRENTLY big_n_idx ON big (n);
REINDEX TABLE big;
REINDEX INDEX big_n_idx;
REINDEX TABLE CONCURRENTLY big;
REINDEX TABLE small;

\set VERBOSITY terse
-- add_column_rewrite: decided from the transformed default
ALTER TABLE big ADD COLUMN c1 timestamptz DEFAULT now();          -- stable: no rewrite
ALTER TABLE big ADD COLUMN c2 int DEFAULT 42;                     -- constant: no rewrite
ALTER TABLE big ADD COLUMN c3 float8 DEFAULT random();            -- volatile
ALTER TABLE big ADD COLUMN c3 timestamptz DEFAULT clock_timestamp();
ALTER TABLE big ADD COLUMN c3 uuid DEFAULT gen_random_uuid();
ALTER TABLE big ADD COLUMN c3 bigserial;
ALTER TABLE big ADD COLUMN c3 int GENERATED ALWAYS AS IDENTITY;
ALTER TABLE big ADD COLUMN c3 int GENERATED ALWAYS AS (n * 2) STORED;
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
ALTER TABLE big ADD COLUMN c3 positive;
ALTER TABLE small ADD COLUMN c3 float8 DEFAULT random();          -- small: fine
ALTER TABLE empty_t ADD COLUMN c3 bigserial;                      -- empty: fine
BEGIN;
CREATE TABLE fresh AS SELECT * FROM big;
ALTER TABLE fresh ADD COLUMN c3 float8 DEFAULT random();          -- created here: fine
ROLLBACK;
ALTER TABLE big ADD COLUMN c3 float8;                             -- the safe way
ALTER TABLE big ALTER COLUMN c3 SET DEFAULT random();

-- alter_type_rewrite: decided as ALTER TABLE decides
ALTER TABLE big ALTER COLUMN s TYPE varchar(20);                  -- safe
ALTER TABLE big ALTER COLUMN v TYPE text;                         -- safe
ALTER TABLE big ALTER COLUMN num TYPE numeric(12,2);              -- safe
ALTER TABLE big ALTER COLUMN t TYPE varchar;                      -- safe
ALTER TABLE big ALTER COLUMN n TYPE bigint;                       -- rewrite
ALTER TABLE big ALTER COLUMN s TYPE varchar(5);                   -- rewrite
ALTER TABLE big ALTER COLUMN t TYPE int USING length(t);          -- rewrite
ALTER TABLE big ALTER COLUMN note TYPE varchar(30) USING note::varchar(30);  -- text to varchar(30): rewrite
SET timezone = 'UTC';
ALTER TABLE big ALTER COLUMN ts TYPE timestamptz;                 -- free in UTC
ALTER TABLE big ALTER COLUMN ts TYPE timestamp;
SET timezone = 'Europe/Paris';
ALTER TABLE big ALTER COLUMN ts TYPE timestamptz;                 -- a rewrite elsewhere
RESET timezone;
ALTER TABLE small ALTER COLUMN n TYPE bigint;                     -- small: fine

-- set_not_null_scan
ALTER TABLE big ALTER COLUMN n SET NOT NULL;
ALTER TABLE big ALTER COLUMN id SET NOT NULL;                     -- already: no-op
ALTER TABLE big ADD CONSTRAINT big_n_not_null CHECK (n IS NOT NULL) NOT VALID;
ALTER TABLE big VALIDATE CONSTRAINT big_n_not_null;
ALTER TABLE big ALTER COLUMN n SET NOT NULL;                      -- proven: no scan
ALTER TABLE small ALTER COLUMN n SET NOT NULL;

-- constraint_validating, validate_in_locking_transaction
CREATE TABLE parent_t (id int PRIMARY KEY);
INSERT INTO parent_t SELECT generate_series(1, 3000);
ALTER TABLE big ADD CONSTRAINT big_id_fk FOREIGN KEY (id) REFERENCES parent_t;
ALTER TABLE big ADD CHECK (n > 0);
ALTER TABLE big ADD CONSTRAINT big_id_fk FOREIGN KEY (id) REFERENCES parent_t NOT VALID;
BEGIN;
ALTER TABLE big ADD CONSTRAINT big_n_pos CHECK (n > 0) NOT VALID;
ALTER TABLE big VALIDATE CONSTRAINT big_n_pos;                    -- same transaction
ROLLBACK;
BEGIN;
LOCK TABLE big IN SHARE MODE;
ALTER TABLE big VALIDATE CONSTRAINT big_id_fk;                    -- writes already blocked
ROLLBACK;
ALTER TABLE big VALIDATE CONSTRAINT big_id_fk;                    -- the safe way
ALTER TABLE small ADD CHECK (n > 0);

-- unique_without_index, exclusion_constraint
ALTER TABLE big ADD PRIMARY KEY (id);
ALTER TABLE big ADD CONSTRAINT big_n_key UNIQUE (n);
CREATE UNIQUE INDEX CONCURRENTLY big_pkey ON big (id);
ALTER TABLE big ADD CONSTRAINT big_pkey PRIMARY KEY USING INDEX big_pkey;
ALTER TABLE big ADD EXCLUDE USING btree (n WITH =);
ALTER TABLE small ADD PRIMARY KEY (id);
ALTER TABLE small ADD EXCLUDE USING btree (id WITH =);           -- small: fine

-- vacuum_full, cluster, set_persistence_rewrite
VACUUM FULL big;
VACUUM FULL;
VACUUM FULL small;
VACUUM big;
CLUSTER big USING big_pkey;
CLUSTER small USING small_pkey;
ALTER TABLE big SET UNLOGGED;
ALTER TABLE small SET UNLOGGED;

-- refresh_matview_blocking
CREATE MATERIALIZED VIEW big_mv AS SELECT * FROM big;
CREATE UNIQUE INDEX CONCURRENTLY big_mv_id ON big_mv (id);
-- (the size its query reads differs between majors' heap layouts)
DO $$ BEGIN REFRESH MATERIALIZED VIEW big_mv;
EXCEPTION WHEN others THEN RAISE NOTICE '%', regexp_replace(SQLERRM, '\d+ kB', 'N kB'); END $$;
REFRESH MATERIALIZED VIEW CONCURRENTLY big_mv;
CREATE MATERIALIZED VIEW small_mv AS SELECT * FROM small;
REFRESH MATERIALIZED VIEW small_mv;                               -- small: fine
DROP MATERIALIZED VIEW small_mv;
DROP MATERIALIZED VIEW big_mv;

-- attach_partition_scan, detach_partition_blocking
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2020 (id int, at date);
INSERT INTO events_2020 SELECT g, '2020-06-01' FROM generate_series(1, 3000) g;
ALTER TABLE events ATTACH PARTITION events_2020 FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
ALTER TABLE events_2020 ADD CONSTRAINT events_2020_bound
  CHECK (at IS NOT NULL AND at >= '2020-01-01' AND at < '2021-01-01') NOT VALID;
ALTER TABLE events_2020 VALIDATE CONSTRAINT events_2020_bound;
ALTER TABLE events ATTACH PARTITION events_2020 FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE INDEX events_id_idx ON events (id);                        -- partitioned: the hint lists partitions
ALTER TABLE events DETACH PARTITION events_2020;
CREATE TABLE events_2019 (id int, at date);
INSERT INTO events_2019 VALUES (1, '2019-06-01');
ALTER TABLE events ATTACH PARTITION events_2019 FOR VALUES FROM ('2019-01-01') TO ('2020-01-01');  -- small: fine
ALTER TABLE events DETACH PARTITION events_2019;                  -- small: fine
BEGIN;
CREATE TABLE events_2022 AS SELECT g AS id, '2022-06-01'::date AS at FROM generate_series(1, 3000) g;
ALTER TABLE events ATTACH PARTITION events_2022 FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');  -- created here: fine
ROLLBACK;

-- domain_check_validating
CREATE DOMAIN code AS text;
ALTER TABLE big ADD COLUMN code code;
ALTER DOMAIN code ADD CONSTRAINT code_len CHECK (length(VALUE) < 10);
ALTER DOMAIN code ADD CONSTRAINT code_len CHECK (length(VALUE) < 10) NOT VALID;
ALTER DOMAIN code VALIDATE CONSTRAINT code_len;
CREATE DOMAIN small_code AS text;
ALTER TABLE small ADD COLUMN sc small_code;
ALTER DOMAIN small_code ADD CONSTRAINT small_code_len CHECK (length(VALUE) < 10);  -- only small tables use it: fine

-- warnings: add_column_json, rename_incompatible, drop_incompatible,
-- truncate_cascade, drop_database
ALTER TABLE small ADD COLUMN payload json;
ALTER TABLE small ADD COLUMN payload2 jsonb;
ALTER TABLE small RENAME COLUMN note TO remark;
ALTER TABLE small RENAME TO tiny;
ALTER TABLE tiny RENAME TO small;
CREATE TYPE mood AS ENUM ('sad', 'happy');
ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';
CREATE SCHEMA old_ns;
ALTER SCHEMA old_ns RENAME TO new_ns;
ALTER TABLE small DROP COLUMN payload;
CREATE TABLE doomed (id int);
DROP TABLE doomed;
TRUNCATE small CASCADE;
CREATE DATABASE migguard_doomed;
DROP DATABASE migguard_doomed;
BEGIN;
CREATE TABLE scratch (id int);
ALTER TABLE scratch RENAME TO scratch2;                           -- created here: no warning
DROP TABLE scratch2;
COMMIT;

\set VERBOSITY default
-- full messages for a few: what would happen, the facts, copyable SQL
ALTER TABLE big ADD CONSTRAINT big_n_ref FOREIGN KEY (n) REFERENCES parent_t;
ALTER TABLE big ADD FOREIGN KEY (n) REFERENCES parent_t;
ALTER TABLE big ALTER COLUMN n TYPE bigint;
ALTER TABLE big ALTER COLUMN note SET NOT NULL;
ALTER TABLE big ADD CONSTRAINT big_n_uniq UNIQUE (n);
CREATE TABLE events_2021 (id int, at date);
INSERT INTO events_2021 SELECT g, '2021-06-01' FROM generate_series(1, 3000) g;
ALTER TABLE events ATTACH PARTITION events_2021 FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE INDEX events_at_idx ON events (at);
\set VERBOSITY terse

-- levels: per rule, superuser only, bad input refused
SET migguard.rule_levels = 'index_not_concurrent:warning, rename_incompatible:off';
CREATE INDEX big_s_idx ON big (s);
ALTER TABLE small RENAME COLUMN remark TO note;
SELECT name, level FROM migguard.rules()
 WHERE name IN ('index_not_concurrent', 'rename_incompatible') ORDER BY name;
SET migguard.rule_levels = 'no_such_rule:error';
SET migguard.rule_levels = 'index_not_concurrent:fatal';
SET migguard.rule_levels = 'index_not_concurrent';
RESET migguard.rule_levels;

-- mode caps every rule
SET migguard.mode = warn;
CREATE INDEX big_t_idx ON big (t);
SET migguard.mode = log;
DROP INDEX big_t_idx;
RESET migguard.mode;

-- the bypass: see bypass.sql

-- check(): many statements, nothing executed, nothing locked beyond ACCESS SHARE
SELECT statement_number, rule, level, relation
  FROM migguard.check($$
    CREATE INDEX ON big (t);
    SELECT 1;
    ALTER TABLE big ALTER COLUMN s TYPE varchar(100), ADD COLUMN j json;
    ALTER TABLE small RENAME TO tiny;
    VACUUM FULL big;
  $$) ORDER BY 1, 2;
BEGIN;
SELECT count(*) FROM migguard.check('ALTER TABLE big ALTER COLUMN t TYPE int USING length(t)');
SELECT DISTINCT mode FROM pg_locks
 WHERE locktype = 'relation' AND pid = pg_backend_pid()
   AND relation = 'big'::regclass;
COMMIT;
SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'big_t%';
SELECT * FROM migguard.check(NULL);
SELECT * FROM migguard.check('');
SELECT * FROM migguard.check('SELECT 1; INSERT INTO small VALUES (2)');
SELECT * FROM migguard.check('CREATE INDEX ON');
SELECT * FROM migguard.check('ALTER TABLE no_such_table ADD COLUMN x int');

SET migguard.rule_levels = 'drop_incompatible:off';
DROP TABLE big, small, empty_t, parent_t, events, events_2019 CASCADE;
RESET migguard.rule_levels;
DROP DOMAIN positive, code, small_code CASCADE;
DROP TYPE mood;
DROP SCHEMA new_ns;
