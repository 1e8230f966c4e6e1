-- Revert migguard_tools_accepted:sq_big_note_index_accepted
BEGIN;
SET LOCAL migguard.allow = 'drop_index_not_concurrent';
DROP INDEX sq_big_note;
COMMIT;
