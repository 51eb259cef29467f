-- Strata migration 7: conflict_answer
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE FUNCTION strata_stream_state(p_stream text, p_ids uuid[],
  OUT last_version bigint, OUT deleted boolean, OUT tombstoned boolean, OUT stored boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT s.last_version, s.deleted, s.tombstoned,
    EXISTS (SELECT FROM strata_events e WHERE e.event_id = ANY(p_ids))
  INTO last_version, deleted, tombstoned, stored
  FROM (SELECT) AS one LEFT JOIN strata_streams s ON s.stream = p_stream;
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (7, 'conflict_answer', CURRENT_TIMESTAMP);
