-- Every change to the rows a listing shows notifies the channel imagehost_images, so
-- each node's supervisor (listing_cache.ChangeListener) learns of other nodes' writes
-- and its workers stop answering listings from the pages they keep in memory.
-- Row-level, not statement-level: a statement that changes nothing (the preview queue's
-- claim, every few seconds on every node, mostly claims no row) notifies nothing.
-- Notifications of one transaction with the same channel and payload are delivered as
-- one, so a delete of many rows is one notification. TRUNCATE has no rows: a statement
-- trigger of its own.
CREATE FUNCTION images_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('imagehost_images', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER images_changed AFTER INSERT OR UPDATE OR DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION images_notify_change();
CREATE TRIGGER images_truncated AFTER TRUNCATE ON images
    FOR EACH STATEMENT EXECUTE FUNCTION images_notify_change();
CREATE TRIGGER image_tags_changed AFTER INSERT OR UPDATE OR DELETE ON image_tags
    FOR EACH ROW EXECUTE FUNCTION images_notify_change();
CREATE TRIGGER image_tags_truncated AFTER TRUNCATE ON image_tags
    FOR EACH STATEMENT EXECUTE FUNCTION images_notify_change();
