-- The search box searches while people type: the last word of `q` is a prefix
-- (search.py). FTS5 answers a prefix with no index of its own by first reading the
-- whole list of rows of every word it begins, a fifth of the table for a common word
-- (1.5 ms at 100,000 images, against 0.3 ms for the whole word). Prefix indexes of 1 to
-- 10 characters make those prefixes as quick as whole words, for about 15% more index;
-- a longer prefix takes the slow path, and it rarely begins a common word
-- (docs/performance.md, "The listing's CPU"). An FTS5 table cannot be altered: it is
-- made again (the triggers of 0004 name it and go on working) and filled from images.
DROP TABLE images_search;
CREATE VIRTUAL TABLE images_search USING fts5 (
    title, description, tags, original_name,
    content = 'images', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4 5 6 7 8 9 10'
);
INSERT INTO images_search (images_search) VALUES ('rebuild');
