-- Placeholder: number 005 is taken by a migration developed alongside
-- 006 on another branch; tern needs contiguous numbers, so this no-op
-- holds the place until that branch merges and replaces this file.
SELECT 1;
