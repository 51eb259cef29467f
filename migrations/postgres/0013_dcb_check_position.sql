-- Strata migration 13: dcb_check_position
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE FUNCTION strata_dcb_conflict_at(p_after bigint, p_first text[], p_types text[], p_type_ends int[],
  p_rest text[], p_rest_ends int[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  found_at bigint;
  first_at bigint;
  types text[];
  rest text[];
BEGIN
  IF cardinality(p_first) = 1 AND p_type_ends[1] = 0 AND p_rest_ends[1] = 0 THEN
    RETURN (SELECT t.position FROM strata_event_tags AS t WHERE t.tag = p_first[1] AND t.position > p_after
      ORDER BY t.position LIMIT 1);
  END IF;
  first_at := 9223372036854775807;
  FOR i IN 1 .. coalesce(cardinality(p_first), 0) LOOP
    types := p_types[coalesce(p_type_ends[i - 1], 0) + 1 : p_type_ends[i]];
    rest := p_rest[coalesce(p_rest_ends[i - 1], 0) + 1 : p_rest_ends[i]];
    IF coalesce(cardinality(rest), 0) = 0 AND coalesce(cardinality(types), 0) = 0 THEN
      SELECT t.position INTO found_at FROM strata_event_tags AS t
      WHERE t.tag = p_first[i] AND t.position > p_after AND t.position < first_at
      ORDER BY t.position LIMIT 1;
    ELSIF coalesce(cardinality(rest), 0) = 0 THEN
      SELECT t.position INTO found_at FROM strata_event_tags AS t
      WHERE t.tag = p_first[i] AND t.position > p_after AND t.position < first_at AND t.type = ANY (types)
      ORDER BY t.position LIMIT 1;
    ELSE
      SELECT t.position INTO found_at FROM strata_event_tags AS t
      WHERE t.tag = p_first[i] AND t.position > p_after AND t.position < first_at
        AND (coalesce(cardinality(types), 0) = 0 OR t.type = ANY (types))
        AND NOT EXISTS (
          SELECT FROM unnest(rest) AS g (tag)
          WHERE NOT EXISTS (SELECT FROM strata_event_tags AS u WHERE u.tag = g.tag AND u.position = t.position))
      ORDER BY t.position LIMIT 1;
    END IF;
    IF found_at IS NOT NULL THEN
      first_at := found_at;
    END IF;
  END LOOP;
  RETURN nullif(first_at, 9223372036854775807);
END
$$;

CREATE FUNCTION strata_dcb_event(p_position bigint,
  OUT c_position bigint, OUT c_stream text, OUT c_type text, OUT c_tags json)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT e.position, e.stream, e.type, e.tags INTO c_position, c_stream, c_type, c_tags
  FROM strata_events AS e WHERE e.position = p_position;
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (13, 'dcb_check_position', CURRENT_TIMESTAMP);
