\set ECHO all
\set VERBOSITY default
CREATE EXTENSION IF NOT EXISTS migguard;
SELECT * FROM migguard.status;

-- a table of about 15 MB: "large" at the default migguard.large_table_size (10MB)
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (id bigint, customer int, note text);
INSERT INTO orders SELECT g, g % 1000, 'order ' || g FROM generate_series(1, 250000) g;
ANALYZE orders;

-- rejected: it would block every write to orders until the build ends
CREATE INDEX orders_customer_idx ON orders (customer);

-- the safe way, as the hint says
CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer);

SELECT event_time, action, rule, relation, statement FROM migguard.events ORDER BY event_time DESC LIMIT 5;
