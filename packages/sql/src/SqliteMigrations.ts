/**
 * The SQLite schema, shared by the embedded backend and D1 (and by `migrations/sqlite/` for
 * `wrangler d1 migrations apply`).
 *
 * @since 0.1.0
 */
import type { Migration } from "./Migrator.ts"

// One UTF-8 byte of the hex string `bytes` at index `i`, as an integer (the stream_hash backfill).
const byte =
  "(instr('0123456789ABCDEF', substr(bytes, 2 * i + 1, 1)) - 1) * 16 + instr('0123456789ABCDEF', substr(bytes, 2 * i + 2, 1)) - 1"

/**
 * SQLite and D1: JSON as text, times as epoch milliseconds, AUTOINCREMENT so positions are never reused.
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
  stream TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL DEFAULT -1,
  deleted INTEGER NOT NULL DEFAULT 0,
  tombstoned INTEGER NOT NULL DEFAULT 0,
  truncate_before INTEGER,
  max_count INTEGER,
  max_age_ms INTEGER
)`,
      `CREATE TABLE strata_events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  version INTEGER NOT NULL,
  category TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (stream, version)
)`,
      "CREATE INDEX strata_events_type_position ON strata_events (type, position)",
      "CREATE INDEX strata_events_category_position ON strata_events (category, position)",
      `CREATE TABLE strata_snapshots (
  stream TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  created_at INTEGER NOT NULL
)`,
      `CREATE TABLE strata_checkpoints (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
)`,
      `CREATE TABLE strata_documents (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (collection, id)
)`
    ]
  },
  {
    id: 2,
    name: "guard_table",
    statements: [
      // For databases without transactions (D1): a batch inserts 0 here when a check fails, the CHECK
      // aborts the whole batch, and a successful batch deletes its 1s again. Always empty at rest.
      "CREATE TABLE strata_guard (ok INTEGER NOT NULL CHECK (ok = 1))"
    ]
  },
  {
    id: 3,
    name: "parked_events",
    statements: [
      // Poison events a supervised consumer set aside (Consumer parkAfter), until replayed or discarded.
      // The event's data stays in strata_events; a replay reads it back by position.
      `CREATE TABLE strata_parked_events (
  consumer TEXT NOT NULL,
  position INTEGER NOT NULL,
  stream TEXT NOT NULL,
  version INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  parked_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, position)
)`
    ]
  },
  {
    id: 4,
    name: "leases",
    statements: [
      // One row per lease name, never deleted (a released lease has expires_at = 0), so the fencing
      // token only grows. Times are epoch milliseconds.
      `CREATE TABLE strata_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
)`
    ]
  },
  {
    id: 5,
    name: "stream_hash",
    statements: [
      // The stream name's FNV-1a hash (Inputs.streamHash) with each event, so a partition filter
      // (consumer groups) runs in the database. Appends fill it; existing events are backfilled here
      // in plain SQL (D1 runs this file as is): the hash over the name's UTF-8 bytes (its hex), with
      // XOR as (a | b) - (a & b) and every product below 2^57.
      "ALTER TABLE strata_events ADD COLUMN stream_hash INTEGER",
      "CREATE TABLE strata_stream_hash_backfill (stream TEXT PRIMARY KEY, hash INTEGER NOT NULL)",
      `WITH RECURSIVE h (stream, bytes, i, hash) AS (
  SELECT stream, hex(CAST(stream AS BLOB)), 0, 2166136261 FROM (SELECT DISTINCT stream FROM strata_events)
  UNION ALL
  SELECT stream, bytes, i + 1, (((hash | BYTE) - (hash & BYTE)) * 16777619) & 4294967295
  FROM h WHERE 2 * i < length(bytes)
)
INSERT INTO strata_stream_hash_backfill (stream, hash) SELECT stream, hash FROM h WHERE 2 * i = length(bytes)`
        .replaceAll("BYTE", `(${byte})`),
      `UPDATE strata_events SET stream_hash =
  (SELECT hash FROM strata_stream_hash_backfill AS b WHERE b.stream = strata_events.stream)`,
      "DROP TABLE strata_stream_hash_backfill"
    ]
  },
  {
    id: 6,
    name: "event_tags",
    statements: [
      // Dynamic consistency boundaries: an event's tags as appended (JSON text, read back with it; NULL
      // when it has none), and one row per tag and event for query reads and append conditions:
      // (tag, position) in order, with the type to filter an item's types on.
      "ALTER TABLE strata_events ADD COLUMN tags TEXT",
      `CREATE TABLE strata_event_tags (
  tag TEXT NOT NULL,
  position INTEGER NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (tag, position)
) WITHOUT ROWID`
    ]
  },
  {
    id: 7,
    name: "binary_events",
    statements: [
      // Binary events: their bytes (a BLOB, byte for byte) and media type. NULL on JSON events, so
      // every existing row stays a JSON event; a binary row's data column holds JSON null.
      "ALTER TABLE strata_events ADD COLUMN content_type TEXT",
      "ALTER TABLE strata_events ADD COLUMN data_bytes BLOB"
    ]
  }
]
