/**
 * The PostgreSQL dialect: json for events (stored byte for byte), jsonb with expression indexes for
 * documents, row locks on stream rows, and a read horizon that keeps the global log gap-free while
 * appends commit concurrently.
 *
 * Why a horizon: a position from a sequence is taken at INSERT but becomes visible at COMMIT, so
 * concurrent appenders commit out of position order, and a reader paging by `position > cursor`
 * would skip the late committer forever. So before it takes a position, an append announces itself:
 * a transaction-scoped shared advisory lock whose key carries the sequence's last value (a lower
 * bound of every position the append will take), held until it commits or rolls back. A reader
 * reads the sequence, then the announced keys in `pg_locks`, in that order (`strata_horizon`):
 * every position below min(last value + 1, smallest key) is committed or abandoned, and it reads
 * only those, in a later statement. An append that announces after the sequence was read takes a
 * position above it; one that announced before is either still in `pg_locks` or already visible.
 *
 * Only appends in flight hold readers back: a transaction that never appends (any other work on
 * the server, however long) takes no such lock. A transaction that wrote elsewhere before it
 * appends is no different, since positions come from the sequence after the announcement, not from
 * transaction ids. Appends take no exclusive lock, so their commits share WAL flushes.
 *
 * NOTIFY is not sent from the append transaction (a transaction that notifies holds a
 * database-wide lock through its commit, which would serialise appends again); PgStore sends one
 * coalesced NOTIFY after commits instead.
 *
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import type { AppendOneOutcome, Dialect, FieldExpressions, Horizon, StreamRow } from "./Dialect.ts"
import * as Migrations from "./Migrations.ts"

/**
 * The advisory lock key that serialises migration runs.
 *
 * @category constants
 * @since 0.1.0
 */
export const migrationLockKey = 0x737472617462

/**
 * The NOTIFY channel that wakes subscribers after appends commit.
 *
 * @category constants
 * @since 0.1.0
 */
export const channel = "strata_events"

const field = (path: ReadonlyArray<string>): FieldExpressions => {
  // Paths are validated identifiers (DocumentQuery.fieldPathPattern), so inlining them is safe and
  // lets the planner match declared expression indexes.
  const x = `(data #> '{${path.join(",")}}')`
  const type = `jsonb_typeof${x}`
  return {
    rank:
      `(CASE ${type} WHEN 'boolean' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN 3 WHEN 'object' THEN 4 WHEN 'array' THEN 4 ELSE 0 END)`,
    num:
      `(CASE ${type} WHEN 'number' THEN ${x}::numeric WHEN 'boolean' THEN (CASE WHEN ${x}::boolean THEN 1 ELSE 0 END) ELSE 0 END)`,
    str: `((CASE ${type} WHEN 'string' THEN ${x} #>> '{}' ELSE '' END) COLLATE "C")`,
    indexed: [x],
    equals: (sql, value) =>
      value === null
        ? sql.literal(`(${x} IS NULL OR ${x} = 'null'::jsonb)`)
        : sql`${sql.literal(x)} = ${JSON.stringify(value)}::jsonb`,
    compare: (sql, op, value) => {
      const operator = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op]
      return typeof value === "number"
        ? sql`(${sql.literal(`${type} = 'number' AND ${x} ${operator}`)} ${JSON.stringify(value)}::jsonb)`
        : sql`(${sql.literal(`${type} = 'string' AND (${x} #>> '{}') COLLATE "C" ${operator}`)} ${value})`
    }
  }
}

// Connection exceptions (08xxx), admin/crash shutdown (57P01-57P03), cannot connect now, and the
// retryable transaction failures (40001 serialization, 40P01 deadlock, 55P03 lock not available).
const transientCodes = /^(08...|57P0[123]|40001|40P01|55P03|53300)$/
const lostConnection =
  /terminating connection|connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|Connection ended/i

const sqlState = (error: SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  const code = typeof cause === "object" && cause !== null ? (cause as { readonly code?: unknown }).code : undefined
  return typeof code === "string" ? code : ""
}

const errorText = (error: SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  return `${error.reason.message ?? ""} ${error.message} ${cause instanceof Error ? cause.message : String(cause)}`
}

/**
 * @category dialects
 * @since 0.1.0
 */
export const dialect: Dialect = {
  name: "postgres",
  migrations: Migrations.postgres,
  // A Date binds as a binary timestamptz (same instant, ms precision): no ISO formatting here, no parsing on the server.
  time: (millis) => new Date(millis),
  decodeTime: (value) => value instanceof Date ? value : new Date(String(value)),
  json: (sql, text) => sql`${text}::json`,
  document: (sql, text) => sql`${text}::jsonb`,
  // The driver parses json and jsonb columns itself.
  decodeJson: (value) => value,
  lockStreams: (sql, streams) =>
    // Sorted, so two multi-stream appends lock rows in the same order and cannot deadlock.
    sql<StreamRow>`INSERT INTO strata_streams ${
      sql.insert(
        [...streams].sort().map((stream) => ({ stream })) as unknown as NonEmptyReadonlyArray<{ stream: string }>
      )
    } ON CONFLICT (stream) DO UPDATE SET stream = excluded.stream RETURNING *`,
  appendOne: (sql, input) => {
    const expected = input.expected._tag === "Any"
      ? "any"
      : input.expected._tag === "NoStream"
      ? "no_stream"
      : input.expected._tag === "StreamExists"
      ? "stream_exists"
      : String(input.expected.version)
    return Effect.map(
      sql<
        { outcome: string; actual: unknown; last_version: unknown; last_position: unknown }
      >`SELECT * FROM strata_append(${input.stream}, ${input.category}, ${expected}, ${
        input.events.map((event) => event.id)
      }::uuid[], ${input.events.map((event) => event.type)}::text[], ${
        input.events.map((event) => event.data)
      }::json[], ${input.events.map((event) => event.metadata)}::json[], ${input.createdAt}::timestamptz)`,
      ([row]): AppendOneOutcome =>
        row.outcome === "ok"
          ? {
            _tag: "Ok",
            lastVersion: BigInt(row.last_version as bigint),
            position: BigInt(row.last_position as bigint)
          }
          : row.outcome === "conflict"
          ? { _tag: "Conflict", actual: row.actual === null ? undefined : BigInt(row.actual as bigint) }
          : { _tag: "Tombstoned" }
    )
  },
  beforeInsert: (sql) => Effect.asVoid(sql`SELECT strata_announce()`),
  horizon: (sql) =>
    Effect.map(
      sql<{ settled: unknown; pending: boolean }>`SELECT settled, pending FROM strata_horizon()`,
      ([row]): Horizon => ({ settled: BigInt(row.settled as bigint), pending: row.pending })
    ),
  lockMigrations: (sql) => Effect.asVoid(sql`SELECT pg_advisory_xact_lock(${migrationLockKey})`),
  binary: " COLLATE \"C\"",
  maxInteger: 9_223_372_036_854_775_807n,
  maxParams: 65_535,
  isTransient: (error) =>
    error.isRetryable || transientCodes.test(sqlState(error)) || lostConnection.test(errorText(error)),
  isUniqueViolation: (error) => error.reason._tag === "UniqueViolation",
  forUpdate: "FOR UPDATE",
  field,
  createIndex: (collection, name, expressions) =>
    `CREATE INDEX IF NOT EXISTS ${name} ON strata_documents (${
      expressions.join(", ")
    }) WHERE collection = '${collection}'`
}
