-- Wake-ups across nodes: every INSERT statement on `events` sends one NOTIFY on `layerr_events`
-- when its transaction commits (Postgres delivers notifications only on commit, and folds the
-- identical ones of one transaction into one). Listeners (src/notify.rs) wake their feed
-- consumers early instead of waiting for the next poll. The payload is empty: the feed itself
-- says what is new. Statement-level, so a group commit of thousands of events costs one call.
-- SQLite has no counterpart: it has one writer per file, and other processes are seen by polling.

CREATE FUNCTION layerr_notify_events() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('layerr_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION layerr_notify_events();
