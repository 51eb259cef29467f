/**
 * An Effect `SqlClient` for SQLite over Node's built-in `node:sqlite` (`DatabaseSync`).
 *
 * Shaped like effect's own SQL drivers (`make`, `layer`, `layerConfig`, one client under both
 * `SqliteClient` and `SqlClient.SqlClient`) so that it can be swapped for an upstream driver once
 * one loads on effect 4.1. Until then it is ours: published Effect-4 SQLite drivers import the
 * removed `effect/unstable/*` paths.
 *
 * **Details**
 *
 * - One connection per client. Every statement, stream and transaction takes it through one
 *   semaphore (`SqlClient.makeSqliteAcquirers`), so statements from other fibers never run inside
 *   someone else's transaction.
 * - File databases run in WAL mode with `synchronous = NORMAL` (durable against a process crash,
 *   not against power loss: see {@link SqliteClientConfig.synchronous}), `busy_timeout` and
 *   `foreign_keys = ON`.
 * - Top-level transactions start with `BEGIN IMMEDIATE`, so a writer takes SQLite's write lock up front and waits out `busyTimeout` there, instead of
 *   failing with `SQLITE_BUSY` when a deferred transaction tries to upgrade its read lock. Nested
 *   transactions use `SAVEPOINT` / `ROLLBACK TO` / `RELEASE`.
 * - Integers are read as JavaScript numbers unless big integers are asked for (see
 *   {@link SqliteClientConfig.safeIntegers}). A stored integer beyond `Number.MAX_SAFE_INTEGER`
 *   is never rounded: reading it as a number fails with a `SqlError` instead.
 *
 * **Gotchas**
 *
 * `node:sqlite` is synchronous: a statement that waits out `busyTimeout` for another connection's
 * lock blocks the whole Node thread meanwhile. Open one client per database file per process;
 * separate processes sharing a file are what the busy timeout is for.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Client from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import * as SqlError from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import * as Checkpointer from "./Checkpointer.ts"
import * as CompileCache from "./internal/compileCache.ts"
import * as InPlace from "./internal/inPlace.ts"

/**
 * Runtime type identifier carried by `SqliteClient` values.
 *
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@strata/sqlite/SqliteClient"

/**
 * Type-level identifier carried by `SqliteClient` values.
 *
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@strata/sqlite/SqliteClient"

/**
 * The SQLite client: a `SqlClient` plus the configuration it was opened with.
 *
 * **Gotchas**
 *
 * - `updateValues` is not supported by SQLite's compiler and is typed `never`.
 * - `sql\`...\`.stream` holds the connection until the stream ends. Running another query on the
 *   same client from inside the stream's consumer, outside a transaction that encloses the stream,
 *   waits for the stream forever. Page with `LIMIT` instead, or run both inside `withTransaction`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SqliteClient extends Client.SqlClient {
  readonly [TypeId]: TypeId
  readonly config: SqliteClientConfig
  /** Not supported by SQLite. */
  readonly updateValues: never
  /**
   * Runs `f` synchronously on the connection as one atomic write: inside `BEGIN IMMEDIATE` ...
   * `COMMIT`, or inside a savepoint when the fiber is already in a transaction of this client
   * (which then commits it). A throw from `f` rolls back and fails with a classified `SqlError`.
   *
   * **When to use**
   *
   * Hot write paths of a few statements (Strata's single-stream append): every statement here costs
   * what `node:sqlite` costs, where a statement through the Effect `SqlClient` adds ~15 us of spans,
   * compiling and fiber work. Statements from `prepare` are cached with the client's own, so set what
   * you rely on (`setReadBigInts`) before each use, and leave `setReturnArrays` as it is (rows as objects).
   */
  readonly writeSync: <A>(
    operation: string,
    f: (connection: SyncConnection) => A
  ) => Effect.Effect<A, SqlError.SqlError>
}

/**
 * What {@link SqliteClient.writeSync} hands its function: prepared statements from the client's cache.
 *
 * @category models
 * @since 0.1.0
 */
export interface SyncConnection {
  /** A prepared statement for one SQL statement, reused across calls. */
  readonly prepare: (sql: string) => StatementSync
}

/**
 * Whether a `SqlClient` is a `SqliteClient` (so {@link SqliteClient.writeSync} is available).
 *
 * @category guards
 * @since 0.1.0
 */
export const isSqliteClient = (client: Client.SqlClient): client is SqliteClient =>
  (client as unknown as { readonly [TypeId]?: unknown })[TypeId] === TypeId

/**
 * The `SqliteClient` service.
 *
 * @category services
 * @since 0.1.0
 */
export const SqliteClient = Context.Service<SqliteClient>("@strata/sqlite/SqliteClient")

/**
 * Options for {@link make}.
 *
 * @category models
 * @since 0.1.0
 */
export interface SqliteClientConfig {
  /** A file path, or `":memory:"` for a private in-memory database. */
  readonly filename: string
  /** Open read-only. The file must exist. (SQLite takes no write lock for `BEGIN IMMEDIATE` here.) */
  readonly readonly?: boolean | undefined
  /**
   * Open only a database that is there: when the file does not exist, fail (a `ConnectionError`
   * whose message names the file) instead of creating an empty database, as SQLite otherwise does.
   * For tools that read or repair an existing store, where a mistyped path must be an error, not a
   * new file. Default `false`; ignored for in-memory databases and `file:` URIs (give those
   * `mode=rw`). Unlike {@link readonly}, the database opens for writing (and in WAL mode) as usual.
   */
  readonly mustExist?: boolean | undefined
  /** How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`. Default 5 seconds. */
  readonly busyTimeout?: Duration.Input | undefined
  /**
   * Switch a file database to WAL mode with `synchronous = NORMAL` (or {@link synchronous}). Default
   * `true`; ignored for in-memory and read-only databases. `false` leaves the journal mode as the
   * file has it.
   */
  readonly walMode?: boolean | undefined
  /**
   * When a commit reaches the disk, in WAL mode. `"NORMAL"` (the default): the WAL is synced at
   * checkpoints, not at every commit, so a process crash loses nothing but a power loss or OS crash
   * may lose the last commits before the last sync (the database stays consistent). `"FULL"`: every
   * commit is synced before it returns, so a committed append survives power loss; each commit then
   * waits for the disk (on the build machine ~10x slower one-event appends, see the README).
   */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
  /**
   * Who copies the WAL back into the database file. `"background"` (the default for a writable file
   * in WAL mode): a worker thread with its own connection, every few milliseconds, so commits do
   * not pay for it (see `Checkpointer`); the writer keeps SQLite's automatic checkpoint at a higher
   * mark as a backstop. `"inline"`: SQLite's default, inside the commit that crosses ~1,000 pages.
   */
  readonly checkpoint?: "background" | "inline" | undefined
  /**
   * Read every integer as a `bigint`. Default `false`: integers are numbers, and a statement
   * that reads an integer beyond `Number.MAX_SAFE_INTEGER` fails rather than round it.
   * `SqlClient.SafeIntegers` (a per-fiber reference, as in effect's drivers) turns big integers
   * on for the effects it is provided to, whatever this says.
   */
  readonly safeIntegers?: boolean | undefined
  /** How many prepared statements to keep, least recently used dropped first. Default 200. */
  readonly prepareCacheSize?: number | undefined
  /** Extra attributes for the `sql.execute` / `sql.transaction` spans. */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** Rename result columns, e.g. `String.snakeToCamel`. */
  readonly transformResultNames?: ((str: string) => string) | undefined
  /** Rename identifiers in queries, e.g. `String.camelToSnake`. */
  readonly transformQueryNames?: ((str: string) => string) | undefined
}

const ATTR_DB_SYSTEM_NAME = "db.system.name"
const ATTR_DB_NAMESPACE = "db.namespace"
const DEFAULT_BUSY_TIMEOUT_MILLIS = 5000
const DEFAULT_PREPARE_CACHE_SIZE = 200
const STREAM_CHUNK_SIZE = 128

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

// SQLite result codes (https://www.sqlite.org/rescode.html). node:sqlite puts the extended code in
// `errcode` and always sets `code` to "ERR_SQLITE_ERROR".
const SQLITE_ERROR = 1
const SQLITE_PERM = 3
const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
const SQLITE_READONLY = 8
const SQLITE_CANTOPEN = 14
const SQLITE_CONSTRAINT = 19
const SQLITE_AUTH = 23
const SQLITE_BUSY_SNAPSHOT = 517
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555
const SQLITE_CONSTRAINT_UNIQUE = 2067

const errcodeOf = (cause: unknown): number | undefined => {
  if (typeof cause !== "object" || cause === null) return undefined
  const errcode = (cause as { readonly errcode?: unknown }).errcode
  return typeof errcode === "number" ? errcode : undefined
}

const messageOf = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && typeof (cause as { message?: unknown }).message === "string"
    ? (cause as { message: string }).message
    : String(cause)

const uniqueConstraintOf = (message: string): string => {
  const prefix = "UNIQUE constraint failed:"
  const index = message.indexOf(prefix)
  const constraint = index === -1 ? "" : message.slice(index + prefix.length).trim()
  return constraint.length === 0 ? "unknown" : constraint
}

/**
 * Classifies a `node:sqlite` error into a `SqlErrorReason`.
 *
 * **Details**
 *
 * - `SQLITE_CONSTRAINT_UNIQUE` and `SQLITE_CONSTRAINT_PRIMARYKEY` -> `UniqueViolation`, whose
 *   `constraint` lists the columns (`"events.stream_id, events.version"`), like PostgreSQL's 23505.
 * - Other `SQLITE_CONSTRAINT_*` -> `ConstraintError`.
 * - `SQLITE_BUSY_SNAPSHOT` -> `SerializationError` (retryable: a deferred transaction read a
 *   snapshot another connection has since written past).
 * - `SQLITE_BUSY*`, `SQLITE_LOCKED*` -> `LockTimeoutError` (retryable).
 * - `SQLITE_CANTOPEN` -> `ConnectionError` (retryable); `SQLITE_AUTH` -> `AuthenticationError`;
 *   `SQLITE_PERM`, `SQLITE_READONLY` -> `AuthorizationError`; a syntax error -> `SqlSyntaxError`.
 * - Everything else, including Node's own errors (a value that cannot be bound, an integer too
 *   large for a number, a closed database) -> `UnknownError`.
 *
 * effect's `SqlError.classifySqliteError` does not read `errcode` and would see every
 * `node:sqlite` error as unknown; it also treats a primary-key violation as a plain
 * `ConstraintError`, which would hide version conflicts on `PRIMARY KEY (stream, version)`.
 *
 * @category errors
 * @since 0.1.0
 */
export const classifyError = (cause: unknown, message: string, operation: string): SqlError.SqlErrorReason => {
  const props = { cause, message: `${message}: ${messageOf(cause)}`, operation }
  const errcode = errcodeOf(cause)
  if (errcode === undefined) return new SqlError.UnknownError(props)
  if (errcode === SQLITE_CONSTRAINT_UNIQUE || errcode === SQLITE_CONSTRAINT_PRIMARYKEY) {
    return new SqlError.UniqueViolation({ ...props, constraint: uniqueConstraintOf(messageOf(cause)) })
  }
  if (errcode === SQLITE_BUSY_SNAPSHOT) return new SqlError.SerializationError(props)
  switch (errcode & 0xff) {
    case SQLITE_CONSTRAINT:
      return new SqlError.ConstraintError(props)
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new SqlError.LockTimeoutError(props)
    case SQLITE_CANTOPEN:
      return new SqlError.ConnectionError(props)
    case SQLITE_AUTH:
      return new SqlError.AuthenticationError(props)
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return new SqlError.AuthorizationError(props)
    case SQLITE_ERROR:
      if (/syntax error|incomplete input|unrecognized token/.test(messageOf(cause))) {
        return new SqlError.SqlSyntaxError(props)
      }
  }
  return new SqlError.UnknownError(props)
}

const sqlError = (message: string, operation: string) => (cause: unknown) =>
  new SqlError.SqlError({ reason: classifyError(cause, message, operation) })

// -----------------------------------------------------------------------------
// parameters and rows
// -----------------------------------------------------------------------------

/**
 * Converts a parameter to a value `node:sqlite` binds.
 *
 * Integral numbers are bound as integers: `node:sqlite` binds every number as a REAL, so `1`
 * would reach SQLite as `1.0` (`json_object('v', ?)` gives `{"v":1.0}`, `? || ''` gives `'1.0'`).
 */
const toSqlite = (value: unknown): SQLInputValue => {
  switch (typeof value) {
    case "number":
      return Number.isSafeInteger(value) ? BigInt(value) : value
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    case "object":
      return value instanceof Date ? value.toISOString() : value as SQLInputValue
    default:
      // strings, bigints; anything else is left to node:sqlite to reject
      return value as SQLInputValue
  }
}

const toSqliteParams = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => params.map(toSqlite)

// node:sqlite returns rows as objects with a null prototype, and spreading those into plain objects
// is V8's slow path (~2 us per 8-column row). So readers run in array mode and build plain objects from
// the statement's column names (~0.6 us per row). The names are taken again when this client ran DDL
// since (the schema generation) or a row's width differs (SQLite re-prepared the statement after a
// change by another connection; `columns()` answers for the re-prepared one once it has run).
interface RowBuilder {
  readonly names: ReadonlyArray<string>
  readonly generation: number
}

const rowBuilder = (statement: StatementSync, generation: number): RowBuilder => ({
  names: statement.columns().map((column) => column.name),
  generation
})

const buildRows = (names: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<unknown>>) => {
  const objects = new Array<Record<string, unknown>>(rows.length)
  // Assigning `__proto__` would set the prototype: a column of that name is defined as a property.
  const proto = names.includes("__proto__")
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!
    const object: Record<string, unknown> = {}
    for (let i = 0; i < names.length; i++) {
      if (proto && names[i] === "__proto__") {
        Object.defineProperty(object, "__proto__", {
          value: row[i],
          enumerable: true,
          writable: true,
          configurable: true
        })
      } else object[names[i]!] = row[i]
    }
    objects[r] = object
  }
  return objects
}

const isDdl = (sql: string) => /^\s*(?:alter|create|drop)\b/i.test(sql)

// `prepare` compiles the first statement only and drops the rest without a word.
const trailingSql = (statement: StatementSync, sql: string): string =>
  sql
    .slice(statement.sourceSQL.length)
    .replace(/--[^\n]*(\n|$)/g, "")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/[\s;]+/g, "")

const multipleStatements = (operation: string) =>
  new SqlError.SqlError({
    reason: new SqlError.SqlSyntaxError({
      cause: new Error("multiple statements"),
      message: "SQLite prepares one statement at a time: run a script without parameters with `.unprepared`",
      operation
    })
  })

const fresh = (statement: StatementSync): Prepared => ({
  statement,
  reader: statement.columns().length > 0,
  ddl: isDdl(statement.sourceSQL),
  build: null,
  bigints: undefined,
  arrays: undefined,
  used: false
})

interface Prepared {
  readonly statement: StatementSync
  readonly reader: boolean
  readonly ddl: boolean
  // Its column names for building rows (null: not taken yet).
  build: RowBuilder | null
  // The modes last set on the statement (undefined: unknown, `writeSync` may have changed them), so
  // a statement run again the same way costs no call into node:sqlite to set them.
  bigints: boolean | undefined
  arrays: boolean | undefined
  // Used since the cache last looked at it for eviction (see `prepareCached`).
  used: boolean
}

// -----------------------------------------------------------------------------
// connection
// -----------------------------------------------------------------------------

const isMemory = (filename: string) =>
  filename === ":memory:" || filename === "" || filename.startsWith("file::memory:") || filename.includes("mode=memory")

const busyTimeoutMillis = (input: Duration.Input | undefined): number => {
  const millis = Duration.toMillis(input ?? DEFAULT_BUSY_TIMEOUT_MILLIS)
  return Number.isFinite(millis) ? Math.max(0, Math.round(millis)) : 2_147_483_647
}

// Whether this connection's WAL is checkpointed by a worker (see `SqliteClientConfig.checkpoint`).
const background = (options: SqliteClientConfig): boolean =>
  options.checkpoint !== "inline" && options.walMode !== false && options.readonly !== true &&
  !isMemory(options.filename)

// `mustExist` on a file that is not there: the error names the file (it is the caller's to show).
const missingFile = (filename: string) =>
  new SqlError.SqlError({
    reason: new SqlError.ConnectionError({
      cause: undefined,
      message: `${filename}: no such file (mustExist: no database is created)`,
      operation: "open"
    })
  })

const open = (options: SqliteClientConfig): DatabaseSync => {
  if (
    options.mustExist === true && !isMemory(options.filename) && !options.filename.startsWith("file:") &&
    !fs.existsSync(options.filename)
  ) {
    throw missingFile(options.filename)
  }
  const readonly = options.readonly === true
  const db = new DatabaseSync(options.filename, { readOnly: readonly })
  try {
    // First, so that the switch to WAL below waits for other connections' locks.
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMillis(options.busyTimeout)}`)
    db.exec("PRAGMA foreign_keys = ON")
    if (options.walMode !== false && !readonly && !isMemory(options.filename)) {
      const row = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode?: unknown } | undefined
      if (row?.journal_mode !== "wal") {
        throw new Error(`could not switch ${options.filename} to WAL (journal_mode is ${String(row?.journal_mode)})`)
      }
      db.exec(`PRAGMA synchronous = ${options.synchronous === "FULL" ? "FULL" : "NORMAL"}`)
      if (background(options)) db.exec(`PRAGMA wal_autocheckpoint = ${Checkpointer.backstopPages}`)
    }
    return db
  } catch (cause) {
    db.close()
    throw cause
  }
}

const makeConnection = (
  db: DatabaseSync,
  options: SqliteClientConfig
): Connection & {
  readonly prepareCached: (sql: string) => StatementSync
  readonly control: (sql: string) => void
  readonly executeSync: (
    sql: string,
    params: ReadonlyArray<unknown>,
    fiber: Fiber.Fiber<unknown, unknown>
  ) => ReadonlyArray<any>
} => {
  const cacheSize = Math.max(0, options.prepareCacheSize ?? DEFAULT_PREPARE_CACHE_SIZE)
  // Oldest first (a Map iterates in insertion order), evicted by second chance: a hit only marks the
  // statement used, and a full cache moves the used ones it meets to the end (unmarked) until it finds
  // one unused since its last pass. Nearly least-recently-used, without reordering the Map on every
  // hit.
  const cache = new Map<string, Prepared>()

  const prepare = (sql: string): Prepared => {
    const statement = db.prepare(sql)
    if (trailingSql(statement, sql) !== "") throw multipleStatements("prepare")
    return fresh(statement)
  }

  const evictOne = () => {
    while (cache.size > 0) {
      const [sql, oldest] = cache.entries().next().value!
      cache.delete(sql)
      if (!oldest.used) return
      oldest.used = false
      cache.set(sql, oldest)
    }
  }

  const prepareCached = (sql: string): Prepared => {
    const cached = cache.get(sql)
    if (cached !== undefined) {
      cached.used = true
      return cached
    }
    const prepared = prepare(sql)
    if (cacheSize > 0) {
      if (cache.size >= cacheSize) evictOne()
      cache.set(sql, prepared)
    }
    return prepared
  }

  // Bumped by DDL run through this client: row builders then take their statements' names again.
  let generation = 0

  // Sets the statement's modes where they differ from what it last ran with.
  const modes = (prepared: Prepared, bigints: boolean, arrays: boolean) => {
    if (prepared.bigints !== bigints) {
      prepared.statement.setReadBigInts(bigints)
      prepared.bigints = bigints
    }
    if (prepared.arrays !== arrays) {
      prepared.statement.setReturnArrays(arrays)
      prepared.arrays = arrays
    }
  }

  const readBigInts = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
    options.safeIntegers === true || fiber.getRef(Client.SafeIntegers)

  // One step of the fiber per statement: node:sqlite runs synchronously.
  const run = <A>(
    operation: string,
    f: (readBigInts: boolean) => A
  ): Effect.Effect<A, SqlError.SqlError> =>
    Effect.withFiber((fiber) => {
      try {
        return Effect.succeed(f(readBigInts(fiber)))
      } catch (cause) {
        return Effect.fail(
          SqlError.isSqlError(cause) ? cause : sqlError("Failed to execute statement", operation)(cause)
        )
      }
    })

  // Rows for a statement that returns some; for one that does not, what `run` reports when `raw`
  // (executeRaw's contract is `unknown`), else no rows.
  function rows(prepared: Prepared, params: ReadonlyArray<unknown>, bigints: boolean, raw: false): ReadonlyArray<any>
  function rows(prepared: Prepared, params: ReadonlyArray<unknown>, bigints: boolean, raw: true): unknown
  function rows(prepared: Prepared, params: ReadonlyArray<unknown>, bigints: boolean, raw: boolean): unknown {
    const { reader, statement } = prepared
    if (reader) {
      modes(prepared, bigints, true)
      const arrays = statement.all(...toSqliteParams(params)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
      let build = prepared.build
      if (
        build === null || build.generation !== generation ||
        (arrays.length > 0 && arrays[0]!.length !== build.names.length)
      ) {
        build = prepared.build = rowBuilder(statement, generation)
      }
      return buildRows(build.names, arrays)
    }
    if (prepared.ddl) generation++
    modes(prepared, bigints, false)
    const result = statement.run(...toSqliteParams(params))
    return raw ? { changes: result.changes, lastInsertRowid: result.lastInsertRowid } : []
  }

  const values = (
    prepared: Prepared,
    params: ReadonlyArray<unknown>,
    bigints: boolean
  ): ReadonlyArray<ReadonlyArray<unknown>> => {
    const { reader, statement } = prepared
    modes(prepared, bigints, true)
    if (reader) return statement.all(...toSqliteParams(params)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
    statement.run(...toSqliteParams(params))
    return []
  }

  const unprepared = (sql: string, params: ReadonlyArray<unknown>, bigints: boolean): ReadonlyArray<any> => {
    const statement = db.prepare(sql)
    if (trailingSql(statement, sql) !== "") {
      // A script, e.g. a migration: run every statement. Scripts cannot take parameters.
      if (params.length > 0) throw multipleStatements("executeUnprepared")
      generation++
      db.exec(sql)
      return []
    }
    return rows(fresh(statement), params, bigints, false)
  }

  const stream = (
    sql: string,
    params: ReadonlyArray<unknown>
  ): Stream.Stream<Record<string, unknown>, SqlError.SqlError> =>
    Stream.unwrap(
      Effect.map(
        Effect.acquireRelease(
          // A statement of its own: the iterator keeps it busy until the stream ends.
          run("executeStream", (bigints) => {
            const { statement } = prepare(sql)
            statement.setReadBigInts(bigints)
            return statement.iterate(...toSqliteParams(params))
          }),
          // Resets the statement, ending its read transaction, when the stream stops early.
          (iterator) => Effect.sync(() => iterator.return?.())
        ),
        (iterator) =>
          Stream.paginate(undefined, () =>
            run("executeStream", () => {
              const chunk: Array<Record<string, unknown>> = []
              while (chunk.length < STREAM_CHUNK_SIZE) {
                const next = iterator.next()
                if (next.done === true) return [chunk, Option.none<void>()] as const
                chunk.push({ ...next.value })
              }
              return [chunk, Option.some<void>(undefined)] as const
            }))
      )
    )

  return {
    // For `writeSync`: rows as objects (its functions leave that as it is), big integers as they
    // set them (unknown afterwards).
    prepareCached: (sql) => {
      const prepared = prepareCached(sql)
      if (prepared.arrays !== false) {
        prepared.statement.setReturnArrays(false)
        prepared.arrays = false
      }
      prepared.bigints = undefined
      return prepared.statement
    },
    control: (sql) => {
      prepareCached(sql).statement.run()
    },
    // What `execute` runs, synchronously: for statements run in place (internal/inPlace.ts).
    // How integers are read matters only to a statement that returns rows: no lookup for the others.
    executeSync: (sql, params, fiber) => {
      const prepared = prepareCached(sql)
      return rows(prepared, params, prepared.reader && readBigInts(fiber), false)
    },
    execute(sql, params, transformRows) {
      const effect = run("execute", (bigints) => rows(prepareCached(sql), params, bigints, false))
      return transformRows ? Effect.map(effect, transformRows) : effect
    },
    executeRaw(sql, params) {
      return run("executeRaw", (bigints) => rows(prepareCached(sql), params, bigints, true))
    },
    executeValues(sql, params) {
      return run("executeValues", (bigints) => values(prepareCached(sql), params, bigints))
    },
    executeValuesUnprepared(sql, params) {
      return run("executeValuesUnprepared", (bigints) => values(prepare(sql), params, bigints))
    },
    executeUnprepared(sql, params, transformRows) {
      const effect = run("executeUnprepared", (bigints) => unprepared(sql, params ?? [], bigints))
      return transformRows ? Effect.map(effect, transformRows) : effect
    },
    executeStream(sql, params, transformRows) {
      const rows = stream(sql, params)
      // Row by row: a transform renames keys and keeps the count, and this keeps the types exact.
      return transformRows ? Stream.map(rows, (row) => transformRows([row])[0]) : rows
    }
  }
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Opens a SQLite database and builds a `SqliteClient` over it. The database is closed when the
 * scope closes.
 *
 * **Details**
 *
 * - Transactions: `withTransaction` runs `BEGIN IMMEDIATE`, nested ones a savepoint. Provide
 *   `SqlClient.BeginTransaction` around a single `withTransaction` to start that one differently,
 *   e.g. `"BEGIN DEFERRED"` for a read-only snapshot that should not take the write lock.
 * - Parameters: strings, numbers, bigints (the full 64-bit range), booleans (`1` / `0`), `null` and
 *   `undefined` (`NULL`), `Uint8Array` (BLOB), `Date` (ISO-8601 text).
 * - Integers: see {@link SqliteClientConfig.safeIntegers}.
 *
 * @see {@link layer}
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: SqliteClientConfig
): Effect.Effect<SqliteClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => open(options),
        catch: (cause) => SqlError.isSqlError(cause) ? cause : sqlError("Failed to open database", "open")(cause)
      }),
      (db) =>
        Effect.sync(() => {
          if (db.isOpen) db.close()
        })
    )
    // Started after the writer has switched the file to WAL; stopped (and joined) before it closes.
    if (background(options) && !(yield* Checkpointer.start({ filename: options.filename, intervalMillis: 5 }))) {
      // No worker threads here: SQLite checkpoints inside commits, at its usual mark.
      db.exec("PRAGMA wal_autocheckpoint = 1000")
    }
    const connection = makeConnection(db, options)
    const semaphore = yield* Semaphore.make(1)
    const { acquirer, borrower, isTransaction, onCommitFailure, transactionAcquirer } = Client
      .makeSqliteAcquirers({
        connection: Effect.succeed(connection),
        semaphore,
        isTransaction: typeof db.isTransaction === "boolean" ? () => db.isTransaction : undefined
      })

    const base = yield* Client.make({
      driver: "strata-sqlite-node",
      acquirer,
      borrower,
      transactionAcquirer,
      onCommitFailure,
      isTransaction,
      compiler: CompileCache.make(Statement.makeCompilerSqlite(options.transformQueryNames)),
      transformRows: options.transformResultNames
        ? Statement.defaultTransforms(options.transformResultNames).array
        : undefined,
      beginTransaction: "BEGIN IMMEDIATE",
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      prepareTransactionControls: true,
      // db.namespace: the database file, as given (`:memory:` for an in-memory database), by the
      // OpenTelemetry database conventions; the caller's attributes may override it.
      spanAttributes: [
        [ATTR_DB_NAMESPACE, options.filename],
        ...Object.entries(options.spanAttributes ?? {}),
        [ATTR_DB_SYSTEM_NAME, "sqlite"]
      ]
    })

    // Statements inside this client's transactions run in the step that evaluates them (see
    // internal/inPlace.ts): ~3 us of client CPU per statement less.
    const client = InPlace.make(
      base,
      connection.executeSync,
      (cause) => SqlError.isSqlError(cause) ? cause : sqlError("Failed to execute statement", "execute")(cause)
    )

    const syncConnection: SyncConnection = { prepare: connection.prepareCached }
    const atomically = <A>(f: (connection: SyncConnection) => A): A => {
      // Inside a transaction of this client (or anyone's: the connection is ours alone) a savepoint.
      const nested = db.isTransaction
      const control = connection.control
      control(nested ? "SAVEPOINT strata_write" : "BEGIN IMMEDIATE")
      try {
        const value = f(syncConnection)
        control(nested ? "RELEASE strata_write" : "COMMIT")
        return value
      } catch (cause) {
        if (db.isTransaction) db.exec(nested ? "ROLLBACK TO strata_write; RELEASE strata_write" : "ROLLBACK")
        throw cause
      }
    }
    const writeSync = <A>(operation: string, f: (connection: SyncConnection) => A) => {
      const body = () =>
        Effect.try({
          try: () => atomically(f),
          catch: (cause) => SqlError.isSqlError(cause) ? cause : sqlError("Failed to write", operation)(cause)
        })
      // In a transaction, this fiber already holds the connection; else take it like a statement does,
      // and yield after the write: a synchronous write never suspends, so without the yield concurrent
      // writers in this process take turns only every 2,048 fiber steps (8 writers: p99 2.2 -> 11.7 ms,
      // for ~4% more appends per second).
      return Effect.withFiber((fiber) =>
        Context.getOrUndefined(fiber.context, client.transactionService) === undefined
          ? Effect.tap(borrower(body), () => Effect.yieldNow)
          : body()
      )
    }

    return Object.assign(client, { [TypeId]: TypeId, config: options, writeSync }) as SqliteClient
  })

/**
 * Provides one client under both `SqliteClient` and `SqlClient.SqlClient`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFrom = <E>(
  effect: Effect.Effect<SqliteClient, E, Scope.Scope | Reactivity.Reactivity>
): Layer.Layer<SqliteClient | Client.SqlClient, E> =>
  Layer.effectContext(
    Effect.map(effect, (client) => Context.make(SqliteClient, client).pipe(Context.add(Client.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * A layer that opens the database and provides `SqliteClient` and `SqlClient.SqlClient`.
 *
 * @see {@link make}
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: SqliteClientConfig): Layer.Layer<SqliteClient | Client.SqlClient, SqlError.SqlError> =>
  layerFrom(make(config))

/**
 * Like {@link layer}, with each option given either as a value or as a `Config`.
 *
 * **Example**
 *
 * ```ts
 * SqliteClient.layerConfig({ filename: Config.String("STRATA_SQLITE_FILE") })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<SqliteClientConfig>
): Layer.Layer<SqliteClient | Client.SqlClient, Config.ConfigError | SqlError.SqlError> =>
  layerFrom(Effect.flatMap(Config.unwrap(config), make))
