-- The metadata index in PostgreSQL: the same tables, columns and indexes as the SQLite
-- migrations of the same number (../0001_images.sql says why each is there).
-- `id` is the listing order (newest first) and the keyset cursor: an identity never
-- hands out an id twice, so a cursor stays valid while images come and go.
CREATE TABLE images (
    id                bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text    NOT NULL UNIQUE,
    type              text    NOT NULL,
    size              bigint  NOT NULL,
    width             integer NOT NULL,
    height            integer NOT NULL,
    sha256            text    NOT NULL,
    original_name     text    NOT NULL DEFAULT '',
    -- ISO 8601 UTC text, as in SQLite: compared and grouped by day the same way.
    created_at        text    NOT NULL,
    delete_token_hash text
);
