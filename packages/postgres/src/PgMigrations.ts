/**
 * The PostgreSQL schema as migrations, including the announcement/horizon functions of the gap-free
 * global order (see `PgHorizon`).
 *
 * @since 0.1.0
 */
import type { Migration } from "@strata/sql/Migrator"
import { firstUnissued } from "./PgHorizon.ts"

// Whether the stream row `t` accepts p_expected (ExpectedVersion's rules in SQL).
const streamAccepts = `NOT t.tombstoned AND (
      p_expected = 'any'
      OR (p_expected = 'no_stream' AND (t.deleted OR t.last_version < 0))
      OR (p_expected = 'stream_exists' AND NOT t.deleted AND t.last_version >= 0)
      OR (NOT t.deleted AND t.last_version >= 0 AND p_expected = t.last_version::text)
    )`

// The append function's text, shared by migration 2 (which created it) and migration 3 (which
// replaced its ordering and wake-up); applied migrations never change, so both texts are kept.
const appendFunction = (options: {
  readonly create: string
  readonly move: string
  readonly order: string
  readonly wake: string
}): string => {
  const { create, move, order, wake } = options
  return `${create} strata_append(
  p_stream text,
  p_category text,
  p_expected text,
  p_ids uuid[],
  p_types text[],
  p_data json[],
  p_metadata json[],
  p_created_at timestamptz
) RETURNS TABLE (outcome text, actual bigint, last_version bigint, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  s strata_streams%ROWTYPE;
  base bigint;
  current_version bigint;
  event_count bigint := cardinality(p_ids);
  position_reached bigint;
BEGIN
  LOOP
${move}    EXIT WHEN FOUND;
    SELECT * INTO s FROM strata_streams WHERE stream = p_stream;
    IF FOUND THEN
      IF s.tombstoned THEN
        RETURN QUERY SELECT 'tombstoned'::text, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
      END IF;
      current_version := CASE WHEN s.deleted OR s.last_version < 0 THEN NULL ELSE s.last_version END;
      -- The row may have been created by another append since the UPDATE looked: if it passes the
      -- check now, go round and move it; only a row that fails the check is a conflict.
      CONTINUE WHEN p_expected = 'any'
        OR (p_expected = 'no_stream' AND current_version IS NULL)
        OR (p_expected = 'stream_exists' AND current_version IS NOT NULL)
        OR p_expected = current_version::text;
      RETURN QUERY SELECT 'conflict'::text, current_version, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    -- A new stream: only 'any' and 'no_stream' accept one.
    IF p_expected NOT IN ('any', 'no_stream') THEN
      RETURN QUERY SELECT 'conflict'::text, NULL::bigint, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    INSERT INTO strata_streams (stream, last_version) VALUES (p_stream, event_count - 1)
    ON CONFLICT (stream) DO NOTHING;
    IF FOUND THEN
      base := -1;
      EXIT;
    END IF;
    -- Another append created the stream meanwhile: its row exists now, so go round once more.
  END LOOP;
${order}
  WITH inserted AS (
    INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
    -- Arrays, not one JSON document: json_array_elements would reject \\u0000 in the data.
    SELECT e.id, p_stream, base + e.ordinality, p_category, e.type, e.data, e.metadata, p_created_at
    FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS e (id, type, data, metadata, ordinality)
    RETURNING position
  )
  SELECT max(position) INTO position_reached FROM inserted;
${wake}  RETURN QUERY SELECT 'ok'::text, NULL::bigint, base + event_count, position_reached;
END
$$`
}

// strata_announce's text: migration 3 created it with the last value as key, migration 4 tightened it.
const announceFunction = (options: { readonly create: string; readonly below: string }): string =>
  `${options.create} strata_announce() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  below bigint;
BEGIN
  SELECT ${options.below} INTO below FROM strata_events_position_seq;
  IF below >= 281474976710655 THEN
    RAISE EXCEPTION 'strata: the global position space (2^48) is exhausted';
  END IF;
  PERFORM pg_advisory_xact_lock_shared((strata_lock_space() << 48) | below);
END
$$`

/**
 * PostgreSQL: events in `json` (exact text, including \u0000), documents in `jsonb`.
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_event_store",
    statements: [
      `CREATE TABLE strata_streams (
  stream text PRIMARY KEY,
  last_version bigint NOT NULL DEFAULT -1,
  deleted boolean NOT NULL DEFAULT false,
  tombstoned boolean NOT NULL DEFAULT false,
  truncate_before bigint,
  max_count bigint,
  max_age_ms bigint
)`,
      `CREATE TABLE strata_events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  stream text NOT NULL,
  version bigint NOT NULL,
  category text NOT NULL,
  type text NOT NULL,
  data json NOT NULL,
  metadata json NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (stream, version)
)`,
      "CREATE INDEX strata_events_type_position ON strata_events (type, position)",
      "CREATE INDEX strata_events_category_position ON strata_events (category, position)",
      `CREATE TABLE strata_snapshots (
  stream text PRIMARY KEY,
  version bigint NOT NULL,
  state json NOT NULL,
  schema_version integer NOT NULL,
  created_at timestamptz NOT NULL
)`,
      `CREATE TABLE strata_checkpoints (
  name text PRIMARY KEY,
  position bigint NOT NULL
)`,
      `CREATE TABLE strata_documents (
  collection text NOT NULL,
  id text NOT NULL,
  version bigint NOT NULL,
  data jsonb NOT NULL,
  PRIMARY KEY (collection, id)
)`
    ]
  },
  {
    id: 2,
    name: "append_function",
    statements: [
      // One round trip per append: the same checks SqlStore runs in a transaction (ExpectedVersion
      // rules, tombstones), the commit-order lock, the insert, the stream row and the wake-up.
      appendFunction({
        create: "CREATE FUNCTION",
        move: `    -- The common case in one write: check and move an existing stream row (which also locks it).
    UPDATE strata_streams AS t SET last_version = t.last_version + event_count, deleted = false
    WHERE t.stream = p_stream AND ${streamAccepts}
    RETURNING t.last_version - event_count INTO base;
`,
        order: `  PERFORM pg_advisory_xact_lock(${0x737472617461});`,
        wake: "  PERFORM pg_notify('strata_events', '');\n"
      })
    ]
  },
  {
    id: 3,
    name: "concurrent_appends",
    statements: [
      // Appends no longer commit one at a time. An appender announces itself before it takes a
      // position: a shared advisory lock whose key is (lock space << 48 | the position sequence's
      // last value), held until it commits, so every position it takes is above its key. A reader's
      // horizon is min(last value handed out + 1, smallest announced key), read in that order; every
      // position below it is committed or abandoned, and the reader reads below it in a later
      // statement (a later snapshot). Only appenders in flight hold readers back. See PgDialect.
      `CREATE FUNCTION strata_lock_space() RETURNS bigint LANGUAGE sql STABLE AS $$
  -- 15 bits from the events table's oid, so two schemas in one database rarely share a space
  -- (sharing one only makes each wait for the other's appends in flight, never skip).
  SELECT ('strata_events'::regclass::oid::bigint % 32767) + 1
$$`,
      announceFunction({ create: "CREATE FUNCTION", below: "last_value" }),
      `CREATE FUNCTION strata_horizon(OUT settled bigint, OUT pending boolean) LANGUAGE plpgsql AS $$
DECLARE
  issued bigint;
  lowest bigint;
  space bigint := strata_lock_space();
BEGIN
  -- The sequence first, then the locks: an appender that announces after the sequence was read
  -- takes a position above it.
  SELECT ${firstUnissued} INTO issued
  FROM strata_events_position_seq;
  SELECT min(((l.classid::bigint << 32) | l.objid::bigint) & 281474976710655) INTO lowest
  FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND (l.classid::bigint >> 16) = space;
  settled := least(issued, lowest);
  pending := lowest IS NOT NULL AND lowest < issued;
END
$$`,
      appendFunction({
        create: "CREATE OR REPLACE FUNCTION",
        // Where a new stream is acceptable, create or move the row in one statement (migration 2
        // needed three for a new stream: UPDATE, SELECT, INSERT).
        move: `    IF p_expected IN ('any', 'no_stream') THEN
      INSERT INTO strata_streams AS t (stream, last_version) VALUES (p_stream, event_count - 1)
      ON CONFLICT (stream) DO UPDATE SET last_version = t.last_version + event_count, deleted = false
      WHERE ${streamAccepts}
      RETURNING t.last_version - event_count INTO base;
    ELSE
      UPDATE strata_streams AS t SET last_version = t.last_version + event_count, deleted = false
      WHERE t.stream = p_stream AND ${streamAccepts}
      RETURNING t.last_version - event_count INTO base;
    END IF;
`,
        order: "  PERFORM strata_announce();",
        wake: ""
      })
    ]
  },
  {
    id: 4,
    name: "tight_announcement",
    statements: [
      // Migration 3's key was the last position handed out, one below the first the appender can
      // take: a horizon read while any append was in flight also held back the newest committed
      // event (a subscription "from the end" then replayed it). Now the key is the first position
      // not yet handed out, the same rule the horizon uses for what is issued.
      announceFunction({ create: "CREATE OR REPLACE FUNCTION", below: firstUnissued }),
      // Appends now announce inline (a plpgsql call costs the server ~12% per append) and skip the
      // function's exhaustion check, so the sequence itself stops below 2^48. ALTER SEQUENCE locks
      // only the sequence; ALTER TABLE would hold an exclusive lock on strata_events.
      "ALTER SEQUENCE strata_events_position_seq MAXVALUE 281474976710655"
    ]
  },
  {
    id: 5,
    name: "parked_events",
    statements: [
      // Poison events a supervised consumer set aside (Consumer parkAfter), until replayed or discarded.
      // The event's data stays in strata_events; a replay reads it back by position.
      `CREATE TABLE strata_parked_events (
  consumer text NOT NULL,
  position bigint NOT NULL,
  stream text NOT NULL,
  version bigint NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  parked_at timestamptz NOT NULL,
  PRIMARY KEY (consumer, position)
)`
    ]
  },
  {
    id: 6,
    name: "leases",
    statements: [
      // One row per lease name, never deleted (a released lease has expires_at = 0), so the fencing
      // token only grows. Times are epoch milliseconds. A row lease rather than an advisory lock:
      // the token lives in the row, and the fence's UPDATE takes the row lock a takeover waits for.
      `CREATE TABLE strata_leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  token bigint NOT NULL,
  expires_at bigint NOT NULL
)`
    ]
  },
  {
    id: 7,
    name: "conflict_answer",
    statements: [
      // The stream row and whether any of the given ids is stored, read with a snapshot taken when it
      // runs. A failed one-statement append calls it for its conflict answer: the statement's own
      // snapshot predates an append it waited for, so a plain read there would show the row it lost
      // to as still passing, and cost a second round trip. VOLATILE is what gives each call (and its
      // one query) a fresh snapshot under READ COMMITTED; plpgsql keeps the plan per session.
      `CREATE FUNCTION strata_stream_state(p_stream text, p_ids uuid[],
  OUT last_version bigint, OUT deleted boolean, OUT tombstoned boolean, OUT stored boolean)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT s.last_version, s.deleted, s.tombstoned,
    EXISTS (SELECT FROM strata_events e WHERE e.event_id = ANY(p_ids))
  INTO last_version, deleted, tombstoned, stored
  FROM (SELECT) AS one LEFT JOIN strata_streams s ON s.stream = p_stream;
END
$$`
    ]
  },
  {
    id: 8,
    name: "stream_hash",
    statements: [
      // The stream name's FNV-1a hash (Inputs.streamHash: 32 bits over its UTF-8 bytes) with each
      // event, so a partition filter (consumer groups) runs in the database. A stored generated
      // column: every append path (the SQL functions included) fills it unchanged, and adding it
      // backfills existing events (rewriting the table under an exclusive lock). Products stay
      // below 2^57, inside bigint.
      `CREATE FUNCTION strata_stream_hash(p_stream text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  bytes bytea := convert_to(p_stream, 'UTF8');
  h bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(bytes) - 1 LOOP
    h := ((h # get_byte(bytes, i)) * 16777619) & 4294967295;
  END LOOP;
  RETURN h;
END
$$`,
      `ALTER TABLE strata_events ADD COLUMN stream_hash bigint GENERATED ALWAYS AS (strata_stream_hash(stream)) STORED`
    ]
  },
  {
    id: 9,
    name: "event_tags",
    statements: [
      // Dynamic consistency boundaries: an event's tags as appended (read back with it; NULL when it has
      // none, so adding the column rewrites nothing), and one row per tag and event for query reads and
      // append conditions: (tag, position) in order, with the type to filter an item's types on.
      "ALTER TABLE strata_events ADD COLUMN tags json",
      `CREATE TABLE strata_event_tags (
  tag text NOT NULL,
  position bigint NOT NULL,
  type text NOT NULL,
  PRIMARY KEY (tag, position)
)`,
      // The first event matching a DCB query (items as JSON: [{ types?, tags? }]) after p_after, for a
      // conditional append's one statement (PgDialect): VOLATILE, so it reads with a snapshot of its
      // own, taken after the statement has taken its tag locks (see migration 7 for the same reason).
      `CREATE FUNCTION strata_dcb_first_match(p_after bigint, p_items json,
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
$$`
    ]
  },
  {
    id: 10,
    name: "settled_position",
    statements: [
      // Replica reads (PgReplica): a hot standby sees neither the primary's advisory locks nor its
      // sequence state, so the primary publishes its horizon in a row that replicates in WAL order.
      // Every position below `position` was committed or abandoned before the row's update committed
      // (a transaction's commit record is written before its announcement lock is released), so a
      // standby that has replayed the row has replayed every commit below it. One row: id is true.
      `CREATE TABLE strata_settled (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  position bigint NOT NULL,
  published_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`,
      "INSERT INTO strata_settled (position) SELECT settled FROM strata_horizon()",
      // Reads the horizon and advances the row to it (never back: concurrent publishers serialise on
      // the row, and the loser's WHERE sees the winner's value). Writes nothing when the row is current.
      `CREATE FUNCTION strata_publish_settled(OUT settled bigint, OUT pending boolean, OUT published bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT h.settled, h.pending INTO settled, pending FROM strata_horizon() h;
  UPDATE strata_settled AS s SET position = settled, published_at = clock_timestamp()
  WHERE s.position < settled
  RETURNING s.position INTO published;
  IF published IS NULL THEN
    SELECT s.position INTO published FROM strata_settled AS s;
  END IF;
END
$$`
    ]
  },
  {
    id: 11,
    name: "binary_events",
    statements: [
      // Binary events: their bytes (bytea, byte for byte) and media type. Nullable with no default, so
      // adding them rewrites nothing and every existing row stays a JSON event; a binary row's data
      // column holds JSON null.
      "ALTER TABLE strata_events ADD COLUMN content_type text",
      "ALTER TABLE strata_events ADD COLUMN data_bytes bytea"
    ]
  },
  {
    id: 12,
    name: "dcb_check",
    statements: [
      // A cheaper check for a conditional append's one statement (PgDialect) than strata_dcb_first_match
      // (kept: a process on an older version may still call it). Same answer: the first event after
      // p_after that matches an item (every item has tags here). The items come as arrays, not JSON:
      // item i probes the tag index by its first tag p_first[i], keeps types p_types[from:p_type_ends[i]]
      // (none: any type) and needs the other tags p_rest[from:p_rest_ends[i]] at the same position.
      // Each item shape has a query of its own with no OR over parameters, so its generic plan is the
      // one a custom plan would be and the plan cache keeps it (one JSON query parsed its items on every
      // call and cost the server ~40 us more per append). A later item only looks below an earlier
      // match. VOLATILE plpgsql: every query takes a snapshot of its own, after the statement's tag locks.
      `CREATE FUNCTION strata_dcb_conflict(p_after bigint, p_first text[], p_types text[], p_type_ends int[],
  p_rest text[], p_rest_ends int[], OUT c_position bigint, OUT c_stream text, OUT c_type text, OUT c_tags json)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  found_at bigint;
  first_at bigint := 9223372036854775807;
  types text[];
  rest text[];
BEGIN
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
  IF first_at < 9223372036854775807 THEN
    SELECT e.position, e.stream, e.type, e.tags INTO c_position, c_stream, c_type, c_tags
    FROM strata_events AS e WHERE e.position = first_at;
  END IF;
END
$$`
    ]
  },
  {
    id: 13,
    name: "dcb_check_position",
    statements: [
      // Migration 12's check answering only the position (NULL: the condition holds), and the answer's
      // columns from a function of their own, which the statement (PgDialect) calls only when the check
      // failed. Four OUT columns cost the server ~15-20 us more per call than one bigint (the result
      // row is built on every call), paid on every append for a row only a failed condition needs.
      // One item with one tag and no types (a condition on the append's own tag: "this name is free")
      // is one query, without the loop's slices. Both VOLATILE, as 12's: each query takes a snapshot of
      // its own, after the statement's tag locks. Only adds functions: strata_dcb_conflict stays for
      // processes on the previous version.
      `CREATE FUNCTION strata_dcb_conflict_at(p_after bigint, p_first text[], p_types text[], p_type_ends int[],
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
$$`,
      // The conflicting event's columns for AppendConditionFailed: VOLATILE, so it sees the event the
      // check found (committed after the statement's own snapshot was taken, while it waited for a lock).
      `CREATE FUNCTION strata_dcb_event(p_position bigint,
  OUT c_position bigint, OUT c_stream text, OUT c_type text, OUT c_tags json)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT e.position, e.stream, e.type, e.tags INTO c_position, c_stream, c_type, c_tags
  FROM strata_events AS e WHERE e.position = p_position;
END
$$`
    ]
  }
]
