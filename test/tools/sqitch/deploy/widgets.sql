-- Deploy migguard_tools:widgets
BEGIN;
CREATE TABLE widgets (id int PRIMARY KEY, name text);
COMMIT;
