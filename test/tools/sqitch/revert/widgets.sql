-- Revert migguard_tools:widgets
BEGIN;
DROP TABLE widgets;
COMMIT;
