-- Verify migguard_tools:widgets
SELECT id, name FROM widgets WHERE false;
