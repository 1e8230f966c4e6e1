-- Revert migguard_tools:sq_big_qty_index
BEGIN;
DROP INDEX sq_big_qty;
COMMIT;
