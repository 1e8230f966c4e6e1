/* migguard--0.1--0.2.sql */

\echo Use "ALTER EXTENSION migguard UPDATE TO '0.2'" to load this file. \quit

-- Every change here is also in migguard--0.2.sql, so that an updated
-- installation and a fresh one have the same objects.

-- ---- 0.2: the transaction guard ----

-- ---- 0.2: the statement plan and explain() ----
CREATE FUNCTION migguard.explain(
    sql text,
    OUT statement_number integer,
    OUT statement text,
    OUT relation text,
    OUT reached_as text,
    OUT lock_mode text,
    OUT blocks text,
    OUT rewrite boolean,
    OUT scans text,
    OUT index_builds text,
    OUT size_bytes bigint,
    OUT size text,
    OUT estimated_rows double precision,
    OUT rules text,
    OUT notes text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'migguard_explain'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION migguard.explain(text) IS
  'The plan of each statement per relation it reaches: lock, rewrite, scans, index builds, size, the rules that would fire; executes nothing';

-- ---- 0.2: security and robustness ----

-- ---- 0.2: packaging and monitoring ----
