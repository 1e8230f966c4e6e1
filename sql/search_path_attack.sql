--
-- A role that may create objects in public, or a schema named like the
-- superuser ("$user" in the default search_path), shadows every function
-- and operator migguard's own SQL uses.  A superuser then calls every
-- migguard function and view: nothing of the attacker's may run.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS migguard;
RESET client_min_messages;

CREATE TABLE esc_target (id int);
CREATE TABLE public.esc_pwned (who text, what text);
CREATE ROLE esc_attacker;
GRANT CREATE ON SCHEMA public TO esc_attacker;
GRANT INSERT ON public.esc_pwned TO PUBLIC;
SELECT format('CREATE SCHEMA %I AUTHORIZATION esc_attacker', current_user) \gexec

SET ROLE esc_attacker;
-- Every shadow records that it ran, with the rights of whoever called it.
DO $$
DECLARE
	s text;
	sig text;
	sigs text[] := ARRAY[
		'format(text, integer, name, text, numeric)',
		'format(text, integer, name, name, numeric)',
		'format(text, text, numeric, name, name)',
		'format(text, text, text, numeric)',
		'format(text, integer, text, double precision, integer[])',
		'format(text, integer, text, text, numeric)',
		'format(text, name, text, text)',
		'format(text, integer)',
		'round(double precision)', 'round(numeric)', 'round(numeric, integer)',
		'round(double precision, integer)',
		'string_agg(text, unknown)',
		'current_setting(text)',
		'pg_size_pretty(numeric)', 'pg_size_pretty(bigint)',
		'pg_size_bytes(text)', 'host(inet)', 'now()',
		'pg_backend_pid()', 'pg_is_in_recovery()', 'current_database()'];
BEGIN
	FOREACH s IN ARRAY ARRAY['public', session_user::text]
	LOOP
		FOREACH sig IN ARRAY sigs
		LOOP
			CONTINUE WHEN sig LIKE 'string_agg%';
			EXECUTE pg_catalog.format($f$CREATE FUNCTION %I.%s RETURNS text LANGUAGE plpgsql AS
				$b$BEGIN INSERT INTO public.esc_pwned VALUES (current_user, %L); RETURN NULL; END $b$ $f$,
				s, pg_catalog.regexp_replace(sig, '\(.*', '') || '(' ||
				   (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format('a%s %s', n, t), ', '), '')
				      FROM pg_catalog.unnest(pg_catalog.string_to_array(nullif(pg_catalog.regexp_replace(sig, '^[^(]*\(|\)$', '', 'g'), ''), ', '))
				           WITH ORDINALITY AS u(t, n)) || ')',
				s || '.' || sig);
		END LOOP;
	END LOOP;
END
$$;
RESET ROLE;
SELECT count(*) > 40 AS shadows_created FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE pg_get_userbyid(p.proowner) = 'esc_attacker';

-- operators for every pair of types migguard's SQL combines, in public and
-- in the schema named like the superuser
SET ROLE esc_attacker;
DO $$
DECLARE
	s text;
	t text;
	op text;
	fn text;
BEGIN
	FOREACH s IN ARRAY ARRAY['public', session_user::text]
	LOOP
		FOREACH t IN ARRAY ARRAY['integer', 'numeric', 'bigint', 'oid', 'name',
								  'interval', 'double precision', 'boolean']
		LOOP
			fn := pg_catalog.format('%I.%I', s, 'esc_cat_' || pg_catalog.md5(t));
			EXECUTE pg_catalog.format($f$CREATE FUNCTION %s(text, %s) RETURNS text LANGUAGE plpgsql AS
				$b$BEGIN INSERT INTO public.esc_pwned VALUES (current_user, 'text || %s'); RETURN NULL; END $b$ $f$,
				fn, t, t);
			EXECUTE pg_catalog.format('CREATE OPERATOR %I.|| (LEFTARG = text, RIGHTARG = %s, FUNCTION = %s)', s, t, fn);
		END LOOP;
		FOREACH t IN ARRAY ARRAY['integer', 'oid', 'interval', 'bigint', 'text', 'name',
								  'regclass', 'numeric', 'double precision']
		LOOP
			fn := pg_catalog.format('%I.%I', s, 'esc_cmp_' || pg_catalog.md5(t));
			EXECUTE pg_catalog.format($f$CREATE FUNCTION %s(%s, %s) RETURNS boolean LANGUAGE plpgsql AS
				$b$BEGIN INSERT INTO public.esc_pwned VALUES (current_user, 'comparison of %s'); RETURN false; END $b$ $f$,
				fn, t, t, t);
			FOREACH op IN ARRAY ARRAY['=', '<>', '>', '<', '<=', '>=', '~~']
			LOOP
				EXECUTE pg_catalog.format('CREATE OPERATOR %I.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)',
							   s, op, t, t, fn);
			END LOOP;
		END LOOP;
	END LOOP;
END
$$;
SELECT count(*) > 100 AS operators_created FROM pg_operator o
 WHERE pg_get_userbyid(o.oprowner) = 'esc_attacker';
RESET ROLE;

-- the superuser, with the default search_path, uses everything migguard has
SHOW search_path;
SELECT count(*) >= 0 FROM migguard.preflight();
SELECT count(*) >= 0 FROM migguard.preflight('esc_target');
DO $$ BEGIN PERFORM migguard.assert_preflight('esc_target'); EXCEPTION WHEN others THEN NULL; END $$;
DO $$ BEGIN PERFORM migguard.assert_preflight(); EXCEPTION WHEN others THEN NULL; END $$;
SELECT count(*) >= 0 FROM migguard.status;
SELECT count(*) >= 0 FROM migguard.events;
SELECT count(*) >= 0 FROM migguard.guarded_ddl;
SELECT count(*) >= 0 FROM migguard.lock_queue;
SELECT count(*) >= 0 FROM migguard.stats;
SELECT count(*) >= 0 FROM migguard.rules();
SELECT count(*) >= 0 FROM migguard.relation_facts('esc_target');
SELECT count(*) >= 0 FROM migguard.check('ALTER TABLE esc_target ADD COLUMN x int; CREATE INDEX ON esc_target (id)');
DO $$
DECLARE
	f regprocedure;
BEGIN
	-- functions added later (explain() and the like) are called too
	FOR f IN SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			  WHERE n.nspname = 'migguard' AND p.pronargs = 0 AND p.proretset
	LOOP
		EXECUTE format('SELECT count(*) FROM %s', f);
	END LOOP;
END
$$;
ALTER TABLE esc_target ADD COLUMN y int;
CREATE INDEX ON esc_target (id);

-- nothing of the attacker's ran
SELECT * FROM public.esc_pwned;

-- clean up
SET client_min_messages = error;
DROP OWNED BY esc_attacker CASCADE;
DROP TABLE esc_target, public.esc_pwned;
RESET client_min_messages;
DROP ROLE esc_attacker;
