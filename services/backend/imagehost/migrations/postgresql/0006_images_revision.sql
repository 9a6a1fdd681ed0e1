-- Each row's revision, moved on by every change to the row (../0006_images_revision.sql
-- says why: a worker keeps rows it has listed, keyed by id and revision).
ALTER TABLE images ADD COLUMN revision bigint NOT NULL DEFAULT 0;
CREATE FUNCTION images_next_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER images_revision BEFORE UPDATE ON images
    FOR EACH ROW EXECUTE FUNCTION images_next_revision();
