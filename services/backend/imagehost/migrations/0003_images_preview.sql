-- Where each image's preview stands (previews.py): 'pending' until a preview maker has
-- made it ('ready') or given up on it ('failed'). Rows from before previews start
-- 'pending', so the supervisor makes theirs too.
ALTER TABLE images ADD COLUMN preview TEXT NOT NULL DEFAULT 'pending'
    CHECK (preview IN ('pending', 'ready', 'failed'));
-- The supervisor asks for the newest pending previews after every upload: it must
-- not scan the table, and the index holds only the few rows still waiting.
CREATE INDEX images_preview_pending ON images (id) WHERE preview = 'pending'
