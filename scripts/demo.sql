\set ECHO all
\set VERBOSITY default
-- a fresh install of the extension's SQL objects, for a demo run again after an upgrade
DROP EXTENSION IF EXISTS migguard;
CREATE EXTENSION migguard;
SELECT * FROM migguard.status;

-- a table of about 15 MB: "large" at the default migguard.large_table_size (10MB)
SET migguard.rule_levels = 'drop_incompatible:off';   -- the demo starts afresh
DROP TABLE IF EXISTS orders;
RESET migguard.rule_levels;
CREATE TABLE orders (id bigint, customer int, note text);
INSERT INTO orders SELECT g, g % 1000, 'order ' || g FROM generate_series(1, 250000) g;
ANALYZE orders;

-- rejected: it would block every write to orders until the build ends
CREATE INDEX orders_customer_idx ON orders (customer);

-- the safe way, as the hint says
CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer);

SELECT event_time, action, rule, relation, statement FROM migguard.events ORDER BY event_time DESC LIMIT 5;

-- decided as ALTER TABLE decides: text -> varchar is free, int -> bigint rewrites
ALTER TABLE orders ALTER COLUMN note TYPE varchar;
ALTER TABLE orders ALTER COLUMN customer TYPE bigint;

-- a dry run of a whole migration, executing nothing
SELECT statement_number, rule, level, message
  FROM migguard.check($$
    ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now();
    ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();
    ALTER TABLE orders ADD CONSTRAINT orders_customer_positive CHECK (customer > 0);
    ALTER TABLE orders RENAME COLUMN note TO remark;
  $$);

-- is now a good moment?
SELECT check_name, status, observed FROM migguard.preflight('orders');
