-- Deploy migguard_tools_accepted:sq_big_note_index_accepted
-- The bypass is set in this change's transaction, so it covers this change only.
BEGIN;
SET LOCAL migguard.allow = 'index_not_concurrent';
CREATE INDEX sq_big_note ON sq_big (note);
COMMIT;
