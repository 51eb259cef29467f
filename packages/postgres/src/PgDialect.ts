/**
 * The PostgreSQL dialect: json for events (stored byte for byte), jsonb with expression indexes for
 * documents, row locks on stream rows, single-stream appends as one statement, and the read horizon
 * of `PgHorizon` that keeps the global log gap-free while appends commit concurrently.
 *
 * NOTIFY is not sent from the append transaction (a transaction that notifies holds a
 * database-wide lock through its commit, which would serialise appends again); `PgNotifier` sends
 * one coalesced NOTIFY after commits instead.
 *
 * @since 0.1.0
 */
import { type EventStore, ExpectedVersion } from "@strata/core"
import { DcbSql, Rows, SqlErrorText, Startup, StreamGuard } from "@strata/sql"
import type { AppendOneInput, AppendOneOutcome, Dialect, FieldExpressions } from "@strata/sql/Dialect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as PgHorizon from "./PgHorizon.ts"
import * as PgMigrations from "./PgMigrations.ts"
import * as PgSchema from "./PgSchema.ts"

/**
 * The advisory lock key that serialises migration runs of a store without a schema (`PgSchema.keys`
 * gives a named schema's).
 *
 * @category constants
 * @since 0.1.0
 */
export const migrationLockKey = PgSchema.keys(undefined).migrationLock

/**
 * The first key of the two-key advisory locks DCB appends take per tag (the second is the tag's
 * `hashtext`): a key space of its own, apart from the one-key locks of migrations and of the read
 * horizon's announcements.
 *
 * @category constants
 * @since 0.1.0
 */
export const dcbLockClass = PgSchema.keys(undefined).dcbLockClass

// DCB appends (tags or a condition): exclusive transaction-scoped advisory locks, one per tag of the
// append's events and of its conditions' items, taken in one statement in key order (so two appends
// never wait for each other in a cycle). Two appends that could conflict share a tag: an event that
// fails a condition's item carries every tag of that item, and its append locked them. The second
// to lock waits until the first commits, and its check (a later statement, so a fresh snapshot under
// READ COMMITTED) sees the first's events. Appends whose tags are disjoint take different locks (a
// 32-bit hash: a collision only makes two appends wait for each other) and never wait. An item with
// no tags can be matched by any append, plain ones included, which take no tag lock: such a condition
// takes SHARE ROW EXCLUSIVE on strata_events, which waits for every append in flight and holds off new
// ones until it commits (documented as the costly form).
const lockForDcb = (lockClass: number) =>
(
  sql: SqlClient.SqlClient,
  keys: { readonly tags: ReadonlyArray<string>; readonly everything: boolean }
): Effect.Effect<void, SqlError> => {
  const table: Effect.Effect<unknown, SqlError> = keys.everything
    ? sql`LOCK TABLE strata_events IN SHARE ROW EXCLUSIVE MODE`
    : Effect.void
  const tags: Effect.Effect<unknown, SqlError> = keys.tags.length === 0 ?
    Effect.void :
    sql`SELECT count(pg_advisory_xact_lock(${lockClass}, k))
    FROM (SELECT DISTINCT hashtext(t) AS k FROM unnest(${keys.tags}::text[]) AS t ORDER BY 1) AS keys`
  return Effect.asVoid(Effect.andThen(table, tags))
}

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
// 25006: a read-only transaction (a standby, or a primary being demoted in a switchover): the
// statement wrote nothing, and the cluster's new primary takes it on retry.
const transientCodes = /^(08...|57P0[123]|40001|40P01|55P03|53300|25006)$/
const lostConnection =
  /terminating connection|connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|Connection ended/i

const sqlState = (error: SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  const code = typeof cause === "object" && cause !== null ? (cause as { readonly code?: unknown }).code : undefined
  return typeof code === "string" ? code : ""
}

// A single-stream append as ONE plain-SQL statement (no plpgsql: the strata_append function, kept for
// processes on older versions, cost the server more per append). The CTEs run in data order: move the
// stream row (upsert for modes that accept a new stream, else UPDATE; either locks it), announce
// (before any position is drawn: each event row needs a row of `announced`), insert. A failed check
// moves nothing, so nothing is inserted and `base` is NULL.
// Events travel as arrays, not one JSON document: json_array_elements would reject \u0000 in data.
//
// A failed check also answers why, in the same round trip: `seen` is the stream row and whether any
// of the append's ids is stored, read by `strata_stream_state` (migration 7) only when nothing moved.
// That function is VOLATILE, so it reads with a snapshot of its own, taken after the guarded move
// finished: when the move waited for a concurrent append and then failed on the row it left, the
// answer shows that row (the statement's own snapshot would still show the older one, which passes).
// A row that fails the check is the conflict, and with none of the ids stored it cannot be a replay.
// A row that passes (it changed again since the move) is read once more (see `appendOne`). No row
// lock is taken for the answer: a lock is a WAL record, and a failed attempt would then wait for a
// WAL flush at commit.
// The statement is made once per shape (how the stream row moves, and whether the events carry
// bytes) as template strings and parameter slots, not built from fragments per append: building and
// compiling those was ~25 us of client CPU per append (W1_c8, a busy machine). It is still run
// through the client's template tag (what a proxy of the client sees), and written compactly: the
// driver hashes the whole text again per execution (its prepared-statement cache key).
const Slot = {
  stream: 0,
  count: 1,
  lastIndex: 2,
  category: 3,
  createdAt: 4,
  ids: 5,
  types: 6,
  data: 7,
  metadata: 8,
  contentTypes: 9,
  bytes: 10,
  version: 11
} as const

interface Shape {
  readonly strings: TemplateStringsArray
  readonly slots: ReadonlyArray<number>
}

// Text and slots (numbers) in order, as the template strings and the slot of each parameter.
const shape = (parts: ReadonlyArray<string | number>): Shape => {
  const strings = [""]
  const slots: Array<number> = []
  for (const part of parts) {
    if (typeof part === "string") strings[strings.length - 1] += part
    else {
      slots.push(part)
      strings.push("")
    }
  }
  return { strings: Object.assign(strings, { raw: strings }) as unknown as TemplateStringsArray, slots }
}

const plainShape = (expected: ExpectedVersion.ExpectedVersion["_tag"], binary: boolean): Shape => {
  const { count, stream } = Slot
  const move = expected === "Any" || expected === "NoStream"
    ? [
      "INSERT INTO strata_streams AS t (stream, last_version) VALUES (",
      stream,
      ", ",
      Slot.lastIndex,
      ") ON CONFLICT (stream) DO UPDATE SET last_version = t.last_version + ",
      count,
      ", deleted = false WHERE NOT t.tombstoned",
      expected === "NoStream" ? " AND (t.deleted OR t.last_version < 0)" : ""
    ]
    : [
      "UPDATE strata_streams AS t SET last_version = t.last_version + ",
      count,
      ", deleted = false WHERE t.stream = ",
      stream,
      " AND NOT t.tombstoned AND NOT t.deleted AND t.last_version ",
      ...(expected === "Exact" ? ["= ", Slot.version] : [">= 0"])
    ]
  return shape([
    "WITH moved AS (",
    ...move,
    " RETURNING t.last_version - ",
    count,
    ` AS base), announced AS (SELECT moved.base, ${PgHorizon.announcement} AS announced FROM moved), `,
    "inserted AS (INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at",
    binary ? ", content_type, data_bytes" : "",
    ") SELECT e.id, ",
    stream,
    ", announced.base + e.ordinality, ",
    Slot.category,
    ", e.type, e.data, e.metadata, ",
    Slot.createdAt,
    "::timestamptz",
    binary ? ", e.content_type, e.data_bytes" : "",
    " FROM announced, unnest(",
    Slot.ids,
    "::uuid[], ",
    Slot.types,
    "::text[], ",
    Slot.data,
    "::json[], ",
    Slot.metadata,
    "::json[]",
    ...(binary ? [", ", Slot.contentTypes, "::text[], ", Slot.bytes, "::bytea[]"] : []),
    ") WITH ORDINALITY AS e (id, type, data, metadata",
    binary ? ", content_type, data_bytes" : "",
    ", ordinality) RETURNING position), seen AS (SELECT f.last_version, f.deleted, f.tombstoned, f.stored ",
    "FROM strata_stream_state(",
    stream,
    ", ",
    Slot.ids,
    "::uuid[]) AS f WHERE NOT EXISTS (SELECT FROM announced)) SELECT (SELECT base FROM announced) AS base, ",
    "(SELECT max(position) FROM inserted) AS last_position, seen.last_version, seen.deleted, seen.tombstoned, ",
    "seen.stored FROM (SELECT) AS one LEFT JOIN seen ON true"
  ])
}

const plainShapes = Object.fromEntries(
  (["Any", "NoStream", "StreamExists", "Exact"] as const).map((tag) => [tag, {
    json: plainShape(tag, false),
    binary: plainShape(tag, true)
  }])
) as Record<ExpectedVersion.ExpectedVersion["_tag"], { readonly json: Shape; readonly binary: Shape }>

// What the one-statement append answers (the plain and the DCB statements; the DCB one adds the
// conflicting event's columns).
interface AnswerRow {
  readonly base: unknown
  readonly last_position: unknown
  readonly last_version: unknown
  readonly deleted: unknown
  readonly tombstoned: unknown
  readonly stored: unknown
}

const appendStatement = (sql: SqlClient.SqlClient, input: AppendOneInput) => {
  const { events, expected } = input
  const count = events.length
  const ids = new Array<string>(count)
  const types = new Array<string>(count)
  const data = new Array<string>(count)
  const metadata = new Array<string>(count)
  let binary = false
  for (let i = 0; i < count; i++) {
    const event = events[i]
    ids[i] = event.id
    types[i] = event.type
    data[i] = event.data
    metadata[i] = event.metadata
    if (event.bytes !== undefined) binary = true
  }
  const values: Array<unknown> = [
    input.stream,
    count,
    count - 1,
    input.category,
    input.createdAt,
    ids,
    types,
    data,
    metadata,
    binary ? events.map((event) => event.contentType ?? null) : undefined,
    binary ? events.map((event) => event.bytes ?? null) : undefined,
    expected._tag === "Exact" ? expected.version : undefined
  ]
  const { slots, strings } = binary ? plainShapes[expected._tag].binary : plainShapes[expected._tag].json
  const params = new Array<unknown>(slots.length)
  for (let i = 0; i < slots.length; i++) params[i] = values[slots[i]]
  return sql<AnswerRow>(strings, ...params)
}

// The condition's check in the DCB statement: strata_dcb_conflict_at (migration 13) over its items as
// arrays (see migrations 12 and 13), called after `locked` (the CASE makes the call wait for the locks:
// the argument is `locked`'s). It answers the first matching position only. Every item has tags here.
const checkStatement = (sql: SqlClient.SqlClient, after: bigint, items: EventStore.Query) => {
  const first: Array<string> = []
  const types: Array<string> = []
  const typeEnds: Array<number> = []
  const rest: Array<string> = []
  const restEnds: Array<number> = []
  for (const item of items) {
    const [tag, ...others] = item.tags ?? []
    first.push(tag)
    for (const type of item.types ?? []) types.push(type)
    typeEnds.push(types.length)
    for (const other of others) rest.push(other)
    restEnds.push(rest.length)
  }
  return sql`SELECT strata_dcb_conflict_at(
        CASE WHEN locked.n >= 0 THEN ${after}::bigint END, ${first}::text[], ${types}::text[], ${typeEnds}::int[],
        ${rest}::text[], ${restEnds}::int[]) AS at FROM locked`
}

// A single-stream append with tags or a DCB condition (tagged query items only: an item without
// tags needs the table lock, which needs a transaction) as ONE statement too, the plain statement's
// shape with three more steps in data order: `locked` takes the append's tag locks (as
// `lockForDcb`, sorted; one tag's lock without the sort), `checked` then calls
// strata_dcb_conflict_at (migration 13), which is VOLATILE and so reads with a snapshot taken after
// the locks were granted (it sees every append that held one of them and committed), and the stream
// row moves only when the check passed (an InitPlan on `checked`). `tagged` writes the tag rows of
// the events inserted. A failed condition moves nothing and answers with the first matching event
// (`c_*`): `answer` reads its columns (strata_dcb_event, VOLATILE too: the statement's own snapshot
// may predate that event) only when the check found one.
const dcbAppendStatement = (sql: SqlClient.SqlClient, input: AppendOneInput, lockClass: number) => {
  const announce = sql.literal(PgHorizon.announcement)
  const { events, stream } = input
  const count = events.length
  const ids = events.map((event) => event.id)
  const accepts = StreamGuard.accepts(sql, input.expected, "t.")
  const conditions = input.conditions ?? []
  const { tags } = DcbSql.lockKeys(events.map((event) => event.tags), conditions)
  const condition = conditions[0]
  const items = condition?.failIfEventsMatch.filter((item) => item.types === undefined || item.types.length > 0)
  const tagsOfEvents = events.some((event) => event.tags !== undefined)
  const checks = condition !== undefined && items !== undefined && items.length > 0
  const check = checks
    ? checkStatement(sql, condition.after ?? -1n, items)
    // From `locked` even without a condition: an unreferenced CTE is never run, and the event tags'
    // locks must be taken.
    : sql`SELECT NULL::bigint AS at FROM locked WHERE locked.n >= 0`
  // Nothing to answer without a check: no function scan to set up.
  const answer = checks
    ? sql`SELECT f.* FROM checked CROSS JOIN LATERAL strata_dcb_event(checked.at) AS f WHERE checked.at IS NOT NULL`
    : sql`SELECT NULL::bigint AS c_position, NULL::text AS c_stream, NULL::text AS c_type, NULL::json AS c_tags
        WHERE false`
  const pass = sql.literal("(SELECT at IS NULL FROM checked)")
  // Events without tags (a condition alone) leave strata_event_tags out of the plan: an INSERT that
  // writes no row still opens the table and its index on every execution.
  const tagRows = tagsOfEvents
    ? sql`, tagged AS (
      INSERT INTO strata_event_tags (tag, position, type)
      SELECT g.tag, i.position, i.type FROM inserted AS i CROSS JOIN LATERAL json_array_elements_text(i.tags) AS g (tag)
      WHERE i.tags IS NOT NULL
    )`
    : sql.literal("")
  // One tag (an event's own, the common case) locks without unnest, DISTINCT and the sort.
  const lock = tags.length === 1
    ? sql`SELECT count(pg_advisory_xact_lock(${lockClass}, hashtext(${tags[0]}))) AS n`
    : sql`SELECT count(pg_advisory_xact_lock(${lockClass}, k)) AS n
      FROM (SELECT DISTINCT hashtext(t) AS k FROM unnest(${tags}::text[]) AS t ORDER BY 1) AS keys`
  const move = input.expected._tag === "Any" || input.expected._tag === "NoStream"
    ? sql`INSERT INTO strata_streams AS t (stream, last_version) SELECT ${stream}, ${count - 1} WHERE ${pass}
        ON CONFLICT (stream) DO UPDATE SET last_version = t.last_version + ${count}, deleted = false
        WHERE NOT t.tombstoned AND ${accepts}`
    : sql`UPDATE strata_streams AS t SET last_version = t.last_version + ${count}, deleted = false
        WHERE t.stream = ${stream} AND NOT t.tombstoned AND ${accepts} AND ${pass}`
  return sql<
    AnswerRow & {
      c_position: unknown
      c_stream: string | null
      c_type: string | null
      c_tags: unknown
    }
  >`WITH locked AS (
      ${lock}
    ), checked AS (
      ${check}
    ), answer AS (
      ${answer}
    ), moved AS (
      ${move} RETURNING t.last_version - ${count} AS base
    ), announced AS (
      SELECT moved.base, ${announce} AS announced FROM moved
    ), inserted AS (
      INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, tags)
      SELECT e.id, ${stream}, announced.base + e.ordinality, ${input.category}, e.type, e.data, e.metadata, ${input.createdAt}::timestamptz, e.tags
      FROM announced, unnest(${ids}::uuid[], ${events.map((event) => event.type)}::text[], ${
    events.map((event) => event.data)
  }::json[], ${events.map((event) => event.metadata)}::json[], ${
    // The driver cannot type an array of nulls only: untagged events (a condition alone) bind none.
    tagsOfEvents
      ? sql`${events.map((event) => event.tags === undefined ? null : JSON.stringify(event.tags))}::json[]`
      : sql.literal("NULL::json[]")}) WITH ORDINALITY AS e (id, type, data, metadata, tags, ordinality)
      RETURNING position, type, tags
    )${tagRows}, seen AS (
      SELECT f.last_version, f.deleted, f.tombstoned, f.stored
      FROM strata_stream_state(${stream}, ${ids}::uuid[]) AS f
      WHERE NOT EXISTS (SELECT FROM announced) AND ${pass}
    )
    SELECT (SELECT base FROM announced) AS base, (SELECT max(position) FROM inserted) AS last_position,
      seen.last_version, seen.deleted, seen.tombstoned, seen.stored,
      coalesce(answer.c_position, checked.at) AS c_position, answer.c_stream, answer.c_type, answer.c_tags
    FROM checked LEFT JOIN answer ON true LEFT JOIN seen ON true`
}

const explainStartup = (error: SqlError): Startup.Explanation => {
  const code = sqlState(error)
  const text = SqlErrorText.errorText(error)
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) {
    return { problem: "the host name does not resolve", hint: "Check the host in the URL (or PGHOST)." }
  }
  if (/ECONNREFUSED/.test(text)) {
    return {
      problem: "nothing accepts connections at that host and port",
      hint:
        "Check the host and port, and that PostgreSQL is running; if it is still starting, set startupRetry (or STRATA_STARTUP_RETRY)."
    }
  }
  if (code === "28P01") return { problem: "password authentication failed", hint: "Check the user and password." }
  if (code === "28000") {
    return {
      problem: "the server refused the user (the role does not exist, or pg_hba.conf does not let it in)",
      hint: "Check the user name and the server's pg_hba.conf."
    }
  }
  if (code === "3D000") {
    return {
      problem: "the database does not exist",
      hint: "Create it (createdb NAME) or fix the database name in the URL."
    }
  }
  if (code === "42501") {
    return {
      problem: "the user may not create the store's schema or tables (permission denied)",
      hint:
        "Grant it CREATE on the database (for a store in a schema of its own, which its first start creates) or on the schema, or run the first start (strata migrate) as the owner."
    }
  }
  if (code === "57P03") {
    return { problem: "the server is starting up", hint: "Set startupRetry (or STRATA_STARTUP_RETRY) to wait for it." }
  }
  if (/Invalid connection URL|Unsupported connection URL/.test(text)) {
    return {
      problem: "the connection URL is malformed",
      hint: "Use postgres://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode special characters)."
    }
  }
  if (/timeout|timed out/i.test(text)) {
    return { problem: "connecting timed out", hint: "Check the host, port and any firewall between." }
  }
  return { problem: Startup.describe(error), hint: "Check the server's log." }
}

const decodeStream = Rows.decodeFirst(Rows.StreamRow)
const flag = Schema.decodeUnknownSync(Rows.Flag)

// The conflict answer's columns, when the statement found a stream row.
const answered = (row: {
  readonly last_version: unknown
  readonly deleted: unknown
  readonly tombstoned: unknown
}): { readonly tombstoned: boolean; readonly state: ExpectedVersion.StreamState } => {
  if (row.last_version === null || row.last_version === undefined) {
    return { tombstoned: false, state: StreamGuard.state(undefined) }
  }
  const last = BigInt(row.last_version as bigint)
  return {
    tombstoned: flag(row.tombstoned),
    state: { lastVersion: last < 0n ? undefined : last, deleted: flag(row.deleted) }
  }
}

const usesDcb = (input: AppendOneInput) =>
  input.conditions !== undefined || input.events.some((event) => event.tags !== undefined)

// Conditions whose every item has tags (or matches nothing) run in the one statement; an item
// without tags needs the table lock of the transactional path.
const inOneStatement = (condition: EventStore.AppendCondition | undefined) =>
  condition === undefined || !DcbSql.lockKeys([], [condition]).everything

const appendOne = (
  sql: SqlClient.SqlClient,
  input: AppendOneInput,
  retry: boolean,
  lockClass: number
): Effect.Effect<AppendOneOutcome, SqlError> =>
  Effect.flatMap(usesDcb(input) ? dcbAppendStatement(sql, input, lockClass) : appendStatement(sql, input), ([row]) => {
    const conflict = row as { readonly c_position?: unknown; readonly c_stream?: unknown }
    if (conflict.c_position !== null && conflict.c_position !== undefined && input.conditions !== undefined) {
      const found = row as unknown as { c_position: unknown; c_stream: string; c_type: string; c_tags: unknown }
      return Effect.succeed<AppendOneOutcome>({
        _tag: "ConditionFailed",
        condition: input.conditions[0],
        row: { position: found.c_position, stream: found.c_stream, type: found.c_type, tags: found.c_tags }
      })
    }
    if (row.base !== null) {
      return Effect.succeed<AppendOneOutcome>({
        _tag: "Ok",
        lastVersion: BigInt(row.base as bigint) + BigInt(input.events.length),
        position: BigInt(row.last_position as bigint)
      })
    }
    // The statement's own answer, when it names a state that fails the check.
    const answer = answered(row)
    if (answer.tombstoned) return Effect.succeed<AppendOneOutcome>({ _tag: "Tombstoned" })
    if (!ExpectedVersion.matches(input.expected, answer.state)) {
      return Effect.succeed<AppendOneOutcome>({
        _tag: "Conflict",
        actual: ExpectedVersion.actualVersion(answer.state),
        replay: row.stored !== false
      })
    }
    // Otherwise the row changed under the statement (another append moved or created it and committed
    // while the statement waited): read it afresh. If it passes the check now, go round once more.
    return Effect.flatMap(
      decodeStream(sql`SELECT * FROM strata_streams WHERE stream = ${input.stream}`),
      (stream): Effect.Effect<AppendOneOutcome, SqlError> => {
        if (StreamGuard.tombstoned(stream)) return Effect.succeed({ _tag: "Tombstoned" })
        const state = StreamGuard.state(stream)
        // A conflict must name a state that fails the check: one that passes again after the second
        // round is a race to report as retryable, never as `actual === expected`.
        if (!ExpectedVersion.matches(input.expected, state)) {
          return Effect.succeed({ _tag: "Conflict", actual: ExpectedVersion.actualVersion(state) })
        }
        return retry ? appendOne(sql, input, false, lockClass) : Effect.succeed({ _tag: "Raced" })
      }
    )
  })

/**
 * The dialect of a store whose keys are `keys` (`PgSchema.keys`): its DCB tag locks and migration lock
 * are the schema's, and a named schema's first migration run creates it (under that lock, so
 * concurrent starts create it once). Its connections must have `search_path` set to the schema
 * (`PgStore.layer` does).
 *
 * @category dialects
 * @since 0.1.0
 */
export const make = (keys: PgSchema.Keys = PgSchema.keys(undefined)): Dialect => ({
  name: "postgres",
  migrations: PgMigrations.migrations,
  write: {
    _tag: "Transactional",
    lockStreams: (sql, streams) =>
      // Sorted, so two multi-stream appends lock rows in the same order and cannot deadlock.
      sql`INSERT INTO strata_streams ${
        sql.insert(
          [...streams].sort().map((stream) => ({ stream })) as unknown as NonEmptyReadonlyArray<{ stream: string }>
        )
      } ON CONFLICT (stream) DO UPDATE SET stream = excluded.stream RETURNING *`,
    appendOne: (sql, input) => appendOne(sql, input, true, keys.dcbLockClass),
    appendOneDcb: inOneStatement,
    appendOneBinary: true,
    beforeInsert: PgHorizon.announce,
    lockForDcb: lockForDcb(keys.dcbLockClass),
    lockMigrations: (sql) =>
      Effect.andThen(
        sql`SELECT pg_advisory_xact_lock(${keys.migrationLock})`,
        keys.schema === undefined
          ? Effect.void
          // Under the lock: two first starts would otherwise race on pg_namespace's unique index.
          : Effect.asVoid(sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${PgSchema.quote(keys.schema)}`))
      )
  },
  // A Date binds as a binary timestamptz (same instant, ms precision): no ISO formatting here, no parsing on the server.
  time: (millis) => new Date(millis),
  decodeTime: (value) => value instanceof Date ? value : new Date(String(value)),
  document: (sql, text) => sql`${text}::jsonb`,
  // The driver parses json and jsonb columns itself.
  decodeJson: (value) => value,
  horizon: PgHorizon.read,
  binary: " COLLATE \"C\"",
  maxInteger: 9_223_372_036_854_775_807n,
  // The wire protocol counts parameters in an Int16, and @effect/sql-pg refuses more than 32,767.
  maxParams: 32_767,
  // A transactional logical message writes WAL and takes a transaction id, so the statement's
  // implicit commit writes a commit record and waits for the synchronous standbys (a transaction that
  // only took an id writes no WAL before its commit and does not wait: RecordTransactionCommit). One
  // autocommit statement, not withTransaction: its COMMIT would run uninterruptibly and hold a
  // caller's timeout for as long as the standby is away.
  durable: (sql) => sql`SELECT pg_logical_emit_message(true, 'strata', '')::text AS lsn`.pipe(Effect.asVoid),
  isTransient: (error) =>
    error.isRetryable || transientCodes.test(sqlState(error)) || lostConnection.test(SqlErrorText.errorText(error)),
  // 23505 too: a violation reported on a dying connection may reach us unclassified.
  explainStartup,
  isUniqueViolation: (error) => error.reason._tag === "UniqueViolation" || sqlState(error) === "23505",
  field,
  createIndex: (collection, name, expressions) =>
    `CREATE INDEX IF NOT EXISTS ${name} ON strata_documents (${
      expressions.join(", ")
    }) WHERE collection = '${collection}'`
})

/**
 * The dialect of a store without a schema (the server's default `search_path`, today's keys).
 *
 * @category dialects
 * @since 0.1.0
 */
export const dialect: Dialect = make()
