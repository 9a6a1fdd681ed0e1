-- Issue 13: what people write about an image (title, description, tags), full-text
-- search over it, albums, and expiry.
ALTER TABLE images ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- The image's tags as the API returns them, in their order, separated by spaces (a tag
-- has none); image_tags holds the same for filtering.
ALTER TABLE images ADD COLUMN tags TEXT NOT NULL DEFAULT '';
-- ISO 8601 UTC, like created_at; NULL: never. The supervisor removes what is past it.
ALTER TABLE images ADD COLUMN expires_at TEXT;

-- One row per tag of an image. The primary key walks a tag's images newest first, so a
-- tag filter reads one page's worth of rows, not every image with that tag.
CREATE TABLE image_tags (
    tag      TEXT    NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, image_id)
) WITHOUT ROWID;
CREATE INDEX image_tags_image ON image_tags (image_id);

-- Full-text search (the listing's `q`) over the text of each image, kept in step with
-- the images table by the triggers below (an external-content FTS5 table).
CREATE VIRTUAL TABLE images_search USING fts5 (
    title, description, tags, original_name,
    content = 'images', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER images_search_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_search (rowid, title, description, tags, original_name)
    VALUES (new.id, new.title, new.description, new.tags, new.original_name);
END;
CREATE TRIGGER images_search_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_search (images_search, rowid, title, description, tags, original_name)
    VALUES ('delete', old.id, old.title, old.description, old.tags, old.original_name);
END;
CREATE TRIGGER images_search_update AFTER UPDATE OF title, description, tags, original_name ON images BEGIN
    INSERT INTO images_search (images_search, rowid, title, description, tags, original_name)
    VALUES ('delete', old.id, old.title, old.description, old.tags, old.original_name);
    INSERT INTO images_search (rowid, title, description, tags, original_name)
    VALUES (new.id, new.title, new.description, new.tags, new.original_name);
END;
INSERT INTO images_search (images_search) VALUES ('rebuild');

-- The listing's `type` filter, and its `since`/`until` filters and the owner's
-- uploads-per-day chart.
CREATE INDEX images_type ON images (type, id);
CREATE INDEX images_created ON images (created_at);
-- The expiry sweep: only rows that expire at all.
CREATE INDEX images_expiry ON images (expires_at) WHERE expires_at IS NOT NULL;

-- Albums: several images under one link /a/<public_id>. `token_hash` is the SHA-256 of
-- the album token that edits or deletes it.
CREATE TABLE albums (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id   TEXT    NOT NULL UNIQUE,
    title       TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    token_hash  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
-- An album's images in order. `owned`: whoever added it showed the image's delete
-- token, so deleting the album "with its images" may delete this one.
CREATE TABLE album_images (
    album_id INTEGER NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    owned    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (album_id, position)
);
CREATE INDEX album_images_image ON album_images (image_id)
