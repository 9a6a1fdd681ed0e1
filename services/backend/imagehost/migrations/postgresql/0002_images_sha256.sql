-- Uploads look for an image with the same bytes to share its file (storage.publish):
-- by sha256, on every upload, so it must not scan the table.
CREATE INDEX images_sha256 ON images (sha256);
