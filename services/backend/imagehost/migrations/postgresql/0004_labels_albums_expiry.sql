-- Issue 13: title, description, tags, full-text search, albums and expiry
-- (../0004_labels_albums_expiry.sql says why each index is there).
ALTER TABLE images ADD COLUMN title text NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN tags text NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN expires_at text;

CREATE TABLE image_tags (
    tag      text   NOT NULL,
    image_id bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, image_id)
);
CREATE INDEX image_tags_image ON image_tags (image_id);

-- Full-text search (the listing's `q`). `search_text` is the words of the title,
-- description, tags and original name, lower-cased, accents removed and every other
-- character a space, written by the application (index_postgres.searchable_text) as
-- SQLite's unicode61 tokenizer would cut and fold them: PostgreSQL's own parser would
-- keep `cat.png` as one token, and its unaccent is not immutable, so no generated
-- column could use it. The `simple` configuration then neither stems nor drops words.
ALTER TABLE images ADD COLUMN search_text text NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED;
CREATE INDEX images_search ON images USING gin (search);

CREATE INDEX images_type ON images (type, id);
CREATE INDEX images_created ON images (created_at);
CREATE INDEX images_expiry ON images (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE albums (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id   text   NOT NULL UNIQUE,
    title       text   NOT NULL DEFAULT '',
    description text   NOT NULL DEFAULT '',
    token_hash  text   NOT NULL,
    created_at  text   NOT NULL
);
CREATE TABLE album_images (
    album_id bigint  NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    position integer NOT NULL,
    image_id bigint  NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    owned    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (album_id, position)
);
CREATE INDEX album_images_image ON album_images (image_id);
