-- SQLite's 0005 gives FTS5 prefix indexes, which its prefix queries need to be quick.
-- Here the GIN index of 0004 answers a prefix (`word:*`) from the same index already:
-- nothing to change. The file keeps the numbers the same on both engines.
SELECT 1;
