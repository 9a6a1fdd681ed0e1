-- The metadata index. `id` is the listing order (newest first) and the keyset cursor:
-- AUTOINCREMENT never reuses an id, so a cursor stays valid while images come and go.
CREATE TABLE images (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    type              TEXT    NOT NULL,
    size              INTEGER NOT NULL,
    width             INTEGER NOT NULL,
    height            INTEGER NOT NULL,
    sha256            TEXT    NOT NULL,
    original_name     TEXT    NOT NULL DEFAULT '',
    created_at        TEXT    NOT NULL,
    -- sha256 of the delete token; NULL for files found on disk at start-up, which only
    -- the admin can delete.
    delete_token_hash TEXT
);
