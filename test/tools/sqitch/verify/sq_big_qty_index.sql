-- Verify migguard_tools:sq_big_qty_index
SELECT 1/count(*) FROM pg_class WHERE relname = 'sq_big_qty';
