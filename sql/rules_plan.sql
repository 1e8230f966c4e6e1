--
-- The statement plan: hazards the server does as side effects, on a large
-- table (rejected, with the rule and a hint that works when copied) and on
-- a small or new one (passes); PostgreSQL's own errors first; the analysis
-- runs no user code; the safety net after the lock; explain().
-- "Large" is 64 kB here.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;
SET migguard.large_table_size = '64kB';
SET migguard.lock_retries = 0;
\set VERBOSITY terse

CREATE TABLE pl_big (id int NOT NULL, n int, t text, c text);
INSERT INTO pl_big SELECT g, g, 't' || g, 'c' FROM generate_series(1, 3000) g;
CREATE TABLE pl_other (id int PRIMARY KEY);
INSERT INTO pl_other SELECT generate_series(1, 3000);
CREATE TABLE pl_small (id int NOT NULL, n int, t text, c text);
INSERT INTO pl_small VALUES (1, 1, 't', 'c');
ANALYZE pl_big, pl_other, pl_small;

-- constraints written inside ADD COLUMN
ALTER TABLE pl_big ADD COLUMN u int UNIQUE;                         -- index build
ALTER TABLE pl_big ADD COLUMN k int CHECK (k > 0);                  -- verification scan
ALTER TABLE pl_big ADD COLUMN k int CHECK (k > n);                  -- naming another column
ALTER TABLE pl_big ADD COLUMN r int DEFAULT 1 REFERENCES pl_other;  -- validation scan
ALTER TABLE pl_big ADD COLUMN d int DEFAULT 0, ALTER COLUMN d SET NOT NULL;  -- NOT NULL scan
ALTER TABLE pl_small ADD COLUMN u int UNIQUE;                       -- small: fine
ALTER TABLE pl_small ADD COLUMN k int CHECK (k > 0);
ALTER TABLE pl_small ADD COLUMN r int DEFAULT 1 REFERENCES pl_other;
ALTER TABLE pl_small ADD COLUMN d int DEFAULT 0, ALTER COLUMN d SET NOT NULL;
BEGIN;
CREATE TABLE pl_fresh AS SELECT * FROM pl_big;
ALTER TABLE pl_fresh ADD COLUMN u int UNIQUE;                       -- created here: fine
ROLLBACK;
ALTER TABLE pl_big ADD COLUMN d int NOT NULL DEFAULT 0;             -- stored once: no scan
-- the hints, copied
\set VERBOSITY default
ALTER TABLE pl_big ADD COLUMN u int UNIQUE;
ALTER TABLE pl_big ADD COLUMN k int CHECK (k > n);
ALTER TABLE pl_big ADD COLUMN r int DEFAULT 1 REFERENCES pl_other;
\set VERBOSITY terse
ALTER TABLE public.pl_big ADD COLUMN u int;
CREATE UNIQUE INDEX CONCURRENTLY pl_big_u_key ON public.pl_big (u);
ALTER TABLE public.pl_big ADD CONSTRAINT pl_big_u_key UNIQUE USING INDEX pl_big_u_key;
ALTER TABLE public.pl_big ADD COLUMN k int;
ALTER TABLE public.pl_big ADD CONSTRAINT pl_big_k_check CHECK (k > n) NOT VALID;
ALTER TABLE public.pl_big VALIDATE CONSTRAINT pl_big_k_check;
ALTER TABLE public.pl_big ADD COLUMN r int DEFAULT 1;
ALTER TABLE public.pl_big ADD CONSTRAINT pl_big_r_fkey FOREIGN KEY (r) REFERENCES public.pl_other NOT VALID;
ALTER TABLE public.pl_big VALIDATE CONSTRAINT pl_big_r_fkey;

-- ALTER COLUMN TYPE without a rewrite, with side effects
CREATE INDEX CONCURRENTLY pl_big_t_idx ON pl_big (t);
ALTER TABLE pl_big ALTER COLUMN t TYPE text COLLATE "C";            -- index rebuilt: collation
ALTER TABLE pl_big ADD CONSTRAINT pl_big_c_len CHECK (length(c) < 100) NOT VALID;
ALTER TABLE pl_big VALIDATE CONSTRAINT pl_big_c_len;
ALTER TABLE pl_big ALTER COLUMN c TYPE varchar;                     -- CHECK verified again
ALTER TABLE pl_big ALTER COLUMN t TYPE varchar;                     -- same opclass: nothing
ALTER TABLE pl_small ALTER COLUMN c TYPE varchar;                   -- small: fine
\set VERBOSITY default
ALTER TABLE pl_big ALTER COLUMN t TYPE varchar COLLATE "C";
\set VERBOSITY terse
DROP INDEX CONCURRENTLY public.pl_big_t_idx;
ALTER TABLE pl_big ALTER COLUMN t TYPE varchar COLLATE "C";
CREATE INDEX CONCURRENTLY pl_big_t_idx ON public.pl_big USING btree (t);

-- ADD PRIMARY KEY on a nullable column, also USING INDEX
CREATE UNIQUE INDEX CONCURRENTLY pl_big_n_key ON pl_big (n);
ALTER TABLE pl_big ADD PRIMARY KEY USING INDEX pl_big_n_key;        -- NOT NULL scan
\set VERBOSITY default
ALTER TABLE pl_big ADD CONSTRAINT pl_big_pk PRIMARY KEY USING INDEX pl_big_n_key;
\set VERBOSITY terse
ALTER TABLE public.pl_big ADD CONSTRAINT pl_big_n_not_null CHECK (n IS NOT NULL) NOT VALID;
ALTER TABLE public.pl_big VALIDATE CONSTRAINT pl_big_n_not_null;
ALTER TABLE public.pl_big ALTER COLUMN n SET NOT NULL;
ALTER TABLE pl_big ADD CONSTRAINT pl_big_pk PRIMARY KEY USING INDEX pl_big_n_key;  -- now instant

-- legacy inheritance: an empty parent, a large child; ONLY respected
CREATE TABLE pl_parent (id int, n int);
CREATE TABLE pl_child () INHERITS (pl_parent);
INSERT INTO pl_child SELECT g, g FROM generate_series(1, 3000) g;
ALTER TABLE pl_parent ALTER COLUMN n TYPE bigint;                   -- the child is rewritten
ALTER TABLE pl_parent ADD CONSTRAINT pl_parent_pos CHECK (n > 0);   -- the child is scanned
ALTER TABLE ONLY pl_parent ADD CONSTRAINT pl_parent_pos CHECK (n > 0) NO INHERIT;  -- parent only: fine

-- REFRESH MATERIALIZED VIEW: a small view over a large table
CREATE MATERIALIZED VIEW pl_mv AS SELECT count(*) AS n FROM pl_big;
REFRESH MATERIALIZED VIEW pl_mv;
CREATE MATERIALIZED VIEW pl_mv_small AS SELECT count(*) AS n FROM pl_small;
REFRESH MATERIALIZED VIEW pl_mv_small;                              -- small: fine

-- ATTACH PARTITION: indexes the partition lacks, the default partition
CREATE TABLE pl_parted (id int, at int) PARTITION BY RANGE (at);
CREATE INDEX pl_parted_id_idx ON pl_parted (id);
CREATE TABLE pl_p1 (id int, at int);
INSERT INTO pl_p1 SELECT g, g FROM generate_series(1, 3000) g;
ALTER TABLE pl_p1 ADD CONSTRAINT pl_p1_bound
  CHECK (at IS NOT NULL AND at >= 0 AND at < 10000) NOT VALID;
ALTER TABLE pl_p1 VALIDATE CONSTRAINT pl_p1_bound;
\set VERBOSITY default
ALTER TABLE pl_parted ATTACH PARTITION pl_p1 FOR VALUES FROM (0) TO (10000);   -- builds the index
\set VERBOSITY terse
CREATE INDEX CONCURRENTLY ON public.pl_p1 USING btree (id);
ALTER TABLE pl_parted ATTACH PARTITION pl_p1 FOR VALUES FROM (0) TO (10000);   -- now instant
CREATE TABLE pl_pdef PARTITION OF pl_parted DEFAULT;
INSERT INTO pl_parted SELECT g, 20000 + g FROM generate_series(1, 3000) g;
CREATE TABLE pl_p2 (id int, at int);
CREATE INDEX ON pl_p2 (id);
ALTER TABLE pl_parted ATTACH PARTITION pl_p2 FOR VALUES FROM (10000) TO (20000);  -- default scanned
-- CREATE INDEX ON ONLY a partitioned table is instant, as the hint says
CREATE INDEX pl_parted_at_idx ON ONLY pl_parted (at);
CREATE INDEX pl_parted_at2_idx ON pl_parted (at);                  -- all partitions: rejected

-- SET TABLESPACE, SET ACCESS METHOD, ALTER DOMAIN ... SET NOT NULL
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE pl_space LOCATION '';
ALTER TABLE pl_big SET TABLESPACE pl_space;
ALTER TABLE pl_big SET TABLESPACE pg_default;                       -- already there: fine
ALTER TABLE pl_small SET TABLESPACE pl_space;                       -- small: fine
ALTER TABLE pl_small SET TABLESPACE pg_default;
CREATE ACCESS METHOD pl_heap2 TYPE TABLE HANDLER heap_tableam_handler;
ALTER TABLE pl_big SET ACCESS METHOD pl_heap2;
ALTER TABLE pl_small SET ACCESS METHOD pl_heap2;                    -- small: fine
CREATE DOMAIN pl_dom AS int;
ALTER TABLE pl_big ADD COLUMN dm pl_dom DEFAULT 1;
ALTER DOMAIN pl_dom SET NOT NULL;
CREATE DOMAIN pl_dom_small AS int;
ALTER TABLE pl_small ADD COLUMN dm pl_dom_small DEFAULT 1;
ALTER DOMAIN pl_dom_small SET NOT NULL;                             -- small tables only: fine
ALTER DOMAIN pl_dom ADD CONSTRAINT pl_dom_not_null CHECK (VALUE IS NOT NULL) NOT VALID;
ALTER DOMAIN pl_dom VALIDATE CONSTRAINT pl_dom_not_null;

-- PostgreSQL's own errors come first
CREATE ROLE pl_stranger;
GRANT CREATE, USAGE ON SCHEMA public TO pl_stranger;
SET ROLE pl_stranger;
CREATE INDEX ON pl_big (c);                                         -- must be owner
ALTER TABLE pl_big ALTER COLUMN id TYPE bigint;                     -- must be owner
REINDEX TABLE pl_big;                                               -- must be owner
CLUSTER pl_big USING pl_big_pk;                                     -- must be owner
REINDEX SCHEMA public;                                              -- must be owner of schema
BEGIN;                                                              -- a dry run: nothing judged, nothing locked
SELECT count(*) AS violations FROM migguard.check('ALTER TABLE pl_big ALTER COLUMN id TYPE bigint; CREATE INDEX ON pl_big (c)');
SELECT count(*) AS locks FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = 'pl_big'::regclass;
COMMIT;
RESET ROLE;
REINDEX SCHEMA no_such_schema;
BEGIN;
REINDEX SCHEMA public;                                              -- not in a transaction block
ROLLBACK;
BEGIN;
CLUSTER;                                                            -- not in a transaction block
ROLLBACK;
BEGIN;
VACUUM FULL pl_big;                                                 -- not in a transaction block
ROLLBACK;
CREATE INDEX ON no_such_table (x);
\set VERBOSITY default
ALTER TABLE pl_big ADD COLUMN z int DEFAULT no_such_function();     -- the server's error, with its position
\set VERBOSITY terse
ALTER TABLE pl_big ALTER COLUMN n TYPE no_such_type;
ALTER TABLE pl_parted ATTACH PARTITION pl_p2 FOR VALUES FROM ('x') TO ('y');
REINDEX INDEX pl_big;                                               -- not an index
REINDEX TABLE pl_big_pk;                                            -- not a table
SELECT rule FROM migguard.check(format('REINDEX DATABASE %I', current_database()));
SELECT count(*) FROM migguard.check('REINDEX DATABASE no_such_database');  -- refused first
-- REINDEX SCHEMA / DATABASE and a bare CLUSTER judge what they reach
CREATE SCHEMA pl_quiet;
CREATE TABLE pl_quiet.t (id int PRIMARY KEY);
REINDEX SCHEMA pl_quiet;                                            -- only small tables: fine
CREATE SCHEMA pl_loud;
CREATE TABLE pl_loud.t (id int PRIMARY KEY);
INSERT INTO pl_loud.t SELECT generate_series(1, 3000);
REINDEX SCHEMA pl_loud;                                             -- reaches a large table
CLUSTER pl_small USING pl_small_u_key;
CLUSTER;                                                            -- clustered tables are small: fine
ALTER TABLE pl_big CLUSTER ON pl_big_pk;
CLUSTER;                                                            -- reaches pl_big
ALTER TABLE pl_big SET WITHOUT CLUSTER;

-- the analysis runs no user code: a function with a side effect, named in
-- a default, a USING clause, a partition bound and a CHECK constraint
CREATE SEQUENCE pl_calls;
CREATE FUNCTION pl_side(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN PERFORM nextval('pl_calls'); RETURN $1; END $$;
CREATE FUNCTION pl_side_volatile(int) RETURNS int LANGUAGE plpgsql VOLATILE
  AS $$ BEGIN PERFORM nextval('pl_calls'); RETURN $1; END $$;
CREATE TABLE pl_chk (n int, CONSTRAINT pl_chk_c CHECK (pl_side(7) > 0 OR n IS NOT NULL));
SELECT nextval('pl_calls') AS calls_before;
SELECT count(*) FROM migguard.check($$
  ALTER TABLE pl_big ADD COLUMN f1 int DEFAULT pl_side(1);
  ALTER TABLE pl_big ALTER COLUMN n TYPE int USING pl_side(1);
  ALTER TABLE pl_parted ATTACH PARTITION pl_p2 FOR VALUES FROM (pl_side(10000)) TO (pl_side_volatile(20000));
  ALTER TABLE pl_chk ALTER COLUMN n SET NOT NULL;
$$);
SELECT count(*) > 0 AS explained FROM migguard.explain($$
  ALTER TABLE pl_big ADD COLUMN f1 int DEFAULT pl_side(1);
  ALTER TABLE pl_big ALTER COLUMN n TYPE int USING pl_side(1);
  ALTER TABLE pl_parted ATTACH PARTITION pl_p2 FOR VALUES FROM (pl_side(10000)) TO (pl_side_volatile(20000));
  ALTER TABLE pl_chk ALTER COLUMN n SET NOT NULL;
$$);
SELECT nextval('pl_calls') AS calls_after;                          -- one more than before
-- the live hook: as many calls as without migguard
CREATE TABLE pl_live_a (n int);
INSERT INTO pl_live_a SELECT generate_series(1, 5);
CREATE TABLE pl_live_b (n int);
INSERT INTO pl_live_b SELECT generate_series(1, 5);
SELECT setval('pl_calls', 1, false);
SET migguard.mode = off;
ALTER TABLE pl_live_a ALTER COLUMN n TYPE bigint USING pl_side(n), ADD COLUMN f int DEFAULT pl_side(1);
RESET migguard.mode;
SELECT nextval('pl_calls') AS calls_without_migguard;
SELECT setval('pl_calls', 1, false);
ALTER TABLE pl_live_b ALTER COLUMN n TYPE bigint USING pl_side(n), ADD COLUMN f int DEFAULT pl_side(1);
SELECT nextval('pl_calls') AS calls_with_migguard;

-- the safety net: a rewrite the plan does not model (ALTER TYPE ... CASCADE
-- rewriting a typed table) is stopped after the lock, before the copy
CREATE TYPE pl_comp AS (a int, b text);
CREATE TABLE pl_typed OF pl_comp;
INSERT INTO pl_typed SELECT g, 'x' FROM generate_series(1, 3000) g;
\set VERBOSITY default
ALTER TYPE pl_comp ALTER ATTRIBUTE a TYPE bigint CASCADE;
\set VERBOSITY terse
SELECT action, rule, relation FROM migguard.events
 WHERE rule = 'table_rewrite' ORDER BY event_time DESC LIMIT 1;
BEGIN;
SET LOCAL migguard.allow = 'table_rewrite';
ALTER TYPE pl_comp ALTER ATTRIBUTE a TYPE bigint CASCADE;           -- bypassed
ROLLBACK;
SET migguard.mode = log;
ALTER TYPE pl_comp ALTER ATTRIBUTE b TYPE varchar(5) CASCADE;       -- log mode: observed only
RESET migguard.mode;
CREATE TYPE pl_comp_small AS (a int);
CREATE TABLE pl_typed_small OF pl_comp_small;
INSERT INTO pl_typed_small VALUES (1);
ALTER TYPE pl_comp_small ALTER ATTRIBUTE a TYPE bigint CASCADE;     -- small: fine
-- a rewrite the plan foresaw and a rule allowed is not stopped again
BEGIN;
SET LOCAL migguard.allow = 'alter_type_rewrite';
ALTER TABLE pl_big ALTER COLUMN id TYPE bigint;
ROLLBACK;

-- explain(): the plan of a small migration, nothing executed
SELECT statement_number AS n, relation, reached_as, lock_mode, blocks,
       rewrite, scans, index_builds, rules, notes
  FROM migguard.explain($$
    ALTER TABLE pl_big ADD COLUMN note text, ADD COLUMN v int DEFAULT 0;
    ALTER TABLE pl_big ADD COLUMN w int CHECK (w > 0);
    ALTER TABLE pl_parent ALTER COLUMN n TYPE int;
    CREATE INDEX CONCURRENTLY ON pl_big (c);
    ALTER TABLE pl_parted ATTACH PARTITION pl_p2 FOR VALUES FROM (10000) TO (20000);
    REFRESH MATERIALIZED VIEW pl_mv;
    REINDEX SCHEMA no_such_schema;
  $$) ORDER BY 1, 2;
SELECT * FROM migguard.explain('');
SELECT count(*) FROM pg_attribute WHERE attrelid = 'pl_big'::regclass AND attname = 'note';

SET migguard.rule_levels = 'drop_incompatible:off';
DROP MATERIALIZED VIEW pl_mv, pl_mv_small;
DROP TABLE pl_big, pl_other, pl_small, pl_parent, pl_child, pl_parted, pl_p2,
  pl_chk, pl_live_a, pl_live_b, pl_typed, pl_typed_small CASCADE;
RESET migguard.rule_levels;
DROP SCHEMA pl_quiet, pl_loud CASCADE;
DROP TYPE pl_comp, pl_comp_small;
DROP DOMAIN pl_dom, pl_dom_small;
DROP FUNCTION pl_side(int), pl_side_volatile(int);
DROP SEQUENCE pl_calls;
DROP TABLESPACE pl_space;
DROP ACCESS METHOD pl_heap2;
REVOKE CREATE, USAGE ON SCHEMA public FROM pl_stranger;
DROP ROLE pl_stranger;
