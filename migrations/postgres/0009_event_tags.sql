-- Strata migration 9: event_tags
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

ALTER TABLE strata_events ADD COLUMN tags json;

CREATE TABLE strata_event_tags (
  tag text NOT NULL,
  position bigint NOT NULL,
  type text NOT NULL,
  PRIMARY KEY (tag, position)
);

CREATE FUNCTION strata_dcb_first_match(p_after bigint, p_items json,
  OUT c_position bigint, OUT c_stream text, OUT c_type text, OUT c_tags json)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT e.position, e.stream, e.type, e.tags INTO c_position, c_stream, c_type, c_tags
  FROM strata_events AS e
  WHERE e.position = (
    SELECT min(coalesce(tagged.p, untagged.p))
    FROM json_array_elements(p_items) AS item (v)
    CROSS JOIN LATERAL (SELECT (
      SELECT t.position FROM strata_event_tags AS t
      WHERE json_array_length(coalesce(item.v -> 'tags', '[]')) > 0
        AND t.tag = item.v -> 'tags' ->> 0
        AND t.position > p_after
        AND (item.v -> 'types' IS NULL OR t.type IN (SELECT json_array_elements_text(item.v -> 'types')))
        AND NOT EXISTS (
          SELECT FROM json_array_elements_text(item.v -> 'tags') AS g (tag)
          WHERE NOT EXISTS (SELECT FROM strata_event_tags AS u WHERE u.tag = g.tag AND u.position = t.position))
      ORDER BY t.position LIMIT 1
    ) AS p) AS tagged
    CROSS JOIN LATERAL (SELECT (
      SELECT min(x.position) FROM strata_events AS x
      WHERE json_array_length(coalesce(item.v -> 'tags', '[]')) = 0
        AND x.position > p_after
        AND (item.v -> 'types' IS NULL OR x.type IN (SELECT json_array_elements_text(item.v -> 'types')))
    ) AS p) AS untagged
  );
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (9, 'event_tags', CURRENT_TIMESTAMP);
