--
-- Upgrades: ALTER EXTENSION migguard UPDATE from 0.1 gives the same objects
-- as a fresh install of the current version, and the updated objects work.
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS migguard;
RESET client_min_messages;

-- Everything that makes up an installed migguard: each member object's
-- description with what a user could tell apart (signature, result,
-- attributes, body, columns, view text, privileges, comment).
CREATE FUNCTION upgrade_objects(OUT object text, OUT details text)
RETURNS SETOF record LANGUAGE sql AS $$
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid),
       CASE d.classid
       WHEN 'pg_catalog.pg_proc'::regclass THEN
           (SELECT pg_catalog.concat_ws(' | ',
                   pg_catalog.pg_get_function_arguments(p.oid),
                   pg_catalog.pg_get_function_result(p.oid),
                   p.prokind, p.provolatile, p.proisstrict, p.prosecdef,
                   p.proparallel, p.proleakproof, p.procost, p.prorows,
                   p.proconfig::text, p.probin, p.prosrc, p.proacl::text)
              FROM pg_catalog.pg_proc p WHERE p.oid = d.objid)
       WHEN 'pg_catalog.pg_class'::regclass THEN
           (SELECT pg_catalog.concat_ws(' | ', c.relkind, c.relacl::text,
                   (SELECT pg_catalog.string_agg(a.attname || ' ' ||
                               pg_catalog.format_type(a.atttypid, a.atttypmod) ||
                               CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                               ', ' ORDER BY a.attnum)
                      FROM pg_catalog.pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0
                       AND NOT a.attisdropped),
                   CASE WHEN c.relkind IN ('v', 'm')
                        THEN pg_catalog.pg_get_viewdef(c.oid) END,
                   (SELECT pg_catalog.string_agg(pg_catalog.pg_get_indexdef(i.indexrelid), '; '
                                                 ORDER BY 1)
                      FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid),
                   (SELECT pg_catalog.string_agg(pg_catalog.pg_get_constraintdef(k.oid), '; '
                                                 ORDER BY 1)
                      FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid))
              FROM pg_catalog.pg_class c WHERE c.oid = d.objid)
       WHEN 'pg_catalog.pg_namespace'::regclass THEN
           (SELECT n.nspacl::text FROM pg_catalog.pg_namespace n WHERE n.oid = d.objid)
       WHEN 'pg_catalog.pg_type'::regclass THEN
           (SELECT t.typtype::text || ' ' || pg_catalog.format_type(t.oid, NULL)
              FROM pg_catalog.pg_type t WHERE t.oid = d.objid)
       END || coalesce(' | comment: ' ||
                       pg_catalog.obj_description(d.objid, d.classid::regclass::name), '')
  FROM pg_catalog.pg_depend d
 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'migguard')
   AND d.deptype = 'e'
UNION ALL
-- the schema is not a member, but its privileges are the script's
SELECT 'schema migguard', n.nspacl::text
  FROM pg_catalog.pg_namespace n WHERE n.nspname = 'migguard'
$$;

-- a fresh install of the default version
CREATE EXTENSION migguard;
SELECT extversion FROM pg_extension WHERE extname = 'migguard';
CREATE TABLE fresh_objects AS SELECT * FROM upgrade_objects();
SELECT count(*) > 10 AS has_objects FROM fresh_objects;
DROP EXTENSION migguard;

-- 0.1, then updated to the default version
CREATE EXTENSION migguard VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'migguard';
ALTER EXTENSION migguard UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'migguard';
CREATE TABLE updated_objects AS SELECT * FROM upgrade_objects();

-- no difference, either way (a row here names what differs)
(SELECT 'only in fresh' AS side, * FROM fresh_objects
 EXCEPT SELECT 'only in fresh', * FROM updated_objects)
UNION ALL
(SELECT 'only in updated', * FROM updated_objects
 EXCEPT SELECT 'only in updated', * FROM fresh_objects)
ORDER BY 2, 1;

-- the update path the server knows: 0.1 leads to the default version
SELECT source, target, path FROM pg_extension_update_paths('migguard')
 WHERE source = '0.1' AND target = (SELECT default_version
                                      FROM pg_available_extensions
                                     WHERE name = 'migguard');

-- the updated objects work: status, the catalog, a dry run, a rejection,
-- a bypass, the counters and preflight
SELECT preloaded, mode, extension_version = library_version AS versions_match
  FROM migguard.status;
SELECT count(*) > 10 AS has_rules,
       bool_or(name = 'index_not_concurrent') AS has_index_rule
  FROM migguard.rules();
SET migguard.large_table_size = '64kB';
SET migguard.lock_retries = 0;
CREATE TABLE upgrade_big (id int, n int);
INSERT INTO upgrade_big SELECT g, g FROM generate_series(1, 5000) g;
ANALYZE upgrade_big;
SELECT statement_number, rule, level, relation
  FROM migguard.check('CREATE INDEX ON upgrade_big (n); CREATE INDEX CONCURRENTLY ON upgrade_big (n)');
\set VERBOSITY sqlstate
CREATE INDEX upgrade_big_n ON upgrade_big (n);
\set VERBOSITY default
BEGIN;
SET LOCAL migguard.allow = 'index_not_concurrent';
CREATE INDEX upgrade_big_n ON upgrade_big (n);
COMMIT;
SELECT rejected > 0 AS rejected, bypassed > 0 AS bypassed FROM migguard.stats;
SELECT count(*) > 0 AS preflight_checks FROM migguard.preflight('upgrade_big');
SELECT action, rule, relation FROM migguard.events
 WHERE relation LIKE '%upgrade_big%' ORDER BY event_time;

SET client_min_messages = error;
DROP TABLE upgrade_big, fresh_objects, updated_objects;
RESET client_min_messages;
DROP FUNCTION upgrade_objects();
