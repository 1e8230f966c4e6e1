-- Verify migguard_tools_accepted:sq_big_note_index_accepted
SELECT 1/count(*) FROM pg_class WHERE relname = 'sq_big_note';
