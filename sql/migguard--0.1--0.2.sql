/* migguard--0.1--0.2.sql */

\echo Use "ALTER EXTENSION migguard UPDATE TO '0.2'" to load this file. \quit

-- Every change here is also in migguard--0.2.sql, so that an updated
-- installation and a fresh one have the same objects.

-- ---- 0.2: the transaction guard ----

-- ---- 0.2: the statement plan and explain() ----

-- ---- 0.2: security and robustness ----

-- ---- 0.2: packaging and monitoring ----
