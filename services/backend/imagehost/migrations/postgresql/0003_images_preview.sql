-- Where each image's preview stands (../0003_images_preview.sql).
ALTER TABLE images ADD COLUMN preview text NOT NULL DEFAULT 'pending'
    CHECK (preview IN ('pending', 'ready', 'failed'));
CREATE INDEX images_preview_pending ON images (id) WHERE preview = 'pending';
