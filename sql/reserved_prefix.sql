--
-- A misspelt migguard setting.  From PG15 on the prefix is reserved
-- (MarkGUCPrefixReserved) and the typo is an error; before, PostgreSQL
-- keeps it as a placeholder, as for any unknown extension prefix
-- (expected/reserved_prefix_1.out).  Kept apart because it is the only
-- output here that differs that way between majors.
--
SET migguard.no_such_setting = 1;
SHOW migguard.no_such_setting;
