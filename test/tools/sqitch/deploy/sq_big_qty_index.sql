-- Deploy migguard_tools:sq_big_qty_index
BEGIN;
CREATE INDEX sq_big_qty ON sq_big (qty);
COMMIT;
