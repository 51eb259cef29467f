/**
 * The seam between Strata's one SQL implementation and each database: schema, value encodings,
 * JSON field expressions for document queries, the write strategy (transaction or atomic batch)
 * and the read horizon. Everything else (the append algorithm, reads, subscriptions, documents) is
 * shared.
 *
 * @since 0.1.0
 */
import type { Event, EventStore, ExpectedVersion, JobStore } from "@strata/core"
import type * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import type { Explain } from "./Startup.ts"

/**
 * The SQL expressions for one JSON field of a document, for filtering and keyset ordering.
 * `rank`/`num`/`str` form the sort key: missing/null < booleans < numbers < strings < other,
 * numbers by value, strings by code point.
 *
 * @category models
 * @since 0.1.0
 */
export interface FieldExpressions {
  readonly rank: string
  readonly num: string
  readonly str: string
  /** Indexable expressions to declare for this field. */
  readonly indexed: ReadonlyArray<string>
  readonly equals: (sql: Statement.Constructor, value: string | number | boolean | null) => Statement.Fragment
  readonly compare: (
    sql: Statement.Constructor,
    op: "gt" | "gte" | "lt" | "lte",
    value: string | number
  ) => Statement.Fragment
}

/**
 * One stream's append as a single round trip (see {@link Transactional.appendOne}) or one part of a batch.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendOneInput {
  readonly stream: string
  readonly category: string
  readonly expected: ExpectedVersion.ExpectedVersion
  readonly events: ReadonlyArray<Event.PreparedEvent>
  readonly createdAt: unknown
  /** DCB conditions to check with the write (only given to an `appendOne` that takes them: `appendOneDcb`). */
  readonly conditions?: ReadonlyArray<EventStore.AppendCondition> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type AppendOneOutcome =
  | { readonly _tag: "Ok"; readonly lastVersion: bigint; readonly position: bigint }
  | {
    readonly _tag: "Conflict"
    readonly actual: bigint | undefined
    /**
     * `false` when the same round trip showed that none of the append's event ids is stored, so the
     * conflict cannot be an earlier identical append replayed and the store need not look again.
     */
    readonly replay?: boolean | undefined
  }
  | { readonly _tag: "Tombstoned" }
  /** The check failed, then passed on a re-read, twice: concurrent writers keep moving the stream. */
  | { readonly _tag: "Raced" }
  /** A DCB condition failed: `row` is the first event matching its query after its `after`. */
  | {
    readonly _tag: "ConditionFailed"
    readonly condition: EventStore.AppendCondition
    readonly row: { readonly position: unknown; readonly stream: string; readonly type: string; readonly tags: unknown }
  }

/**
 * A document write carried by an atomic batch.
 *
 * @category models
 * @since 0.1.0
 */
export interface DocumentWrite {
  readonly collection: string
  readonly id: string
  readonly json: string
  readonly expected: "any" | "missing" | bigint
}

/**
 * Appends (and an optional document write) as one atomic batch, for databases without interactive
 * transactions (D1). The batch's own statements must enforce every check; when one fails, the
 * whole batch is undone and the outcome is `GuardFailed` (the store then re-reads to say why).
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendBatchInput {
  readonly appends: ReadonlyArray<AppendOneInput>
  readonly document?: DocumentWrite | undefined
  /** DCB conditions the batch must guard (no event matching a query after its `after`). */
  readonly conditions?: ReadonlyArray<EventStore.AppendCondition> | undefined
  /** Jobs the append carries (`JobStore.Carried`), inserted in the same batch. */
  readonly jobs?: ReadonlyArray<JobStore.EnqueueInput> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type AppendBatchOutcome =
  | {
    readonly _tag: "Ok"
    readonly results: ReadonlyArray<
      { readonly stream: string; readonly lastVersion: bigint; readonly position: bigint }
    >
    readonly documentVersion: bigint | undefined
  }
  | { readonly _tag: "GuardFailed" }

/**
 * A `writeMany` for a batched database: `json` is `undefined` for a delete.
 *
 * @category models
 * @since 0.1.0
 */
export interface DocumentsBatchInput {
  readonly collection: string
  readonly writes: ReadonlyArray<{
    readonly id: string
    readonly json: string | undefined
    readonly expected: "any" | "missing" | bigint
  }>
}

/**
 * The new version of each write (`undefined` for a delete), or `GuardFailed` with nothing written.
 *
 * @category models
 * @since 0.1.0
 */
export type DocumentsBatchOutcome =
  | { readonly _tag: "Ok"; readonly versions: ReadonlyArray<bigint | undefined> }
  | { readonly _tag: "GuardFailed" }

/**
 * Where global reads must stop (see {@link Dialect.horizon}).
 *
 * @category models
 * @since 0.1.0
 */
export interface Horizon {
  /** Every position below this is committed or abandoned; none at or above it may be read yet. */
  readonly settled: bigint
  /** Whether an append in flight holds the bound below positions already handed out. */
  readonly pending: boolean
}

/**
 * A schema migration: statements applied in one transaction (or batch), recorded in `strata_migrations`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

/**
 * How a database writes several statements atomically: in an interactive transaction (PostgreSQL,
 * SQLite), or as one atomic batch whose own statements enforce every check (D1, which has no
 * transactions). Chosen once per dialect, so the difference is visible in one type.
 *
 * @category models
 * @since 0.1.0
 */
export type WriteStrategy = Transactional | Batched

/**
 * Writes run in a transaction: lock the stream rows, check, insert, move the rows, commit.
 *
 * @category models
 * @since 0.1.0
 */
export interface Transactional {
  readonly _tag: "Transactional"
  /**
   * Reads and locks the rows of `streams` (`Rows.StreamRow`s, undecoded) for the rest of the
   * transaction (creating them where the database locks rows, so concurrent appenders to a new
   * stream serialise too).
   */
  readonly lockStreams: (
    sql: SqlClient.SqlClient,
    streams: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<unknown>, SqlError>
  /** Runs right before events are inserted, inside the transaction (PostgreSQL: announces the append). */
  readonly beforeInsert: (sql: SqlClient.SqlClient) => Effect.Effect<void, SqlError>
  /**
   * Optional fast path for a single-stream append: one round trip that runs the same checks and
   * writes as the transaction (PostgreSQL: one statement of CTEs that also answers a failed check
   * with the stream's version; SQLite over its own client: one synchronous write, `SqliteAppend`).
   * The conformance suite holds both paths to the same behaviour. Work that must join the append's
   * transaction (writes before commit) needs the transactional path: skip this one then.
   */
  readonly appendOne?:
    | ((
      sql: SqlClient.SqlClient,
      input: AppendOneInput
    ) => Effect.Effect<AppendOneOutcome, SqlError>)
    | undefined
  /**
   * Whether `appendOne` also takes an append with tags and this DCB condition (or none): it then
   * writes the tag rows and checks `conditions` itself. Otherwise such appends take the transaction.
   */
  readonly appendOneDcb?: ((condition: EventStore.AppendCondition | undefined) => boolean) | undefined
  /**
   * Whether `appendOne` also writes binary events (`PreparedEvent.bytes`, into `content_type` and
   * `data_bytes`) of appends without tags or conditions. Otherwise appends carrying one take the
   * transaction.
   */
  readonly appendOneBinary?: boolean | undefined
  /**
   * Whether `appendOne` also writes binary events of appends with tags or a DCB condition (their tag
   * rows and condition as `appendOneDcb` says), so those take it too. Otherwise they take the
   * transaction. SQLite's synchronous write does; PostgreSQL's binary statement writes no tags. Read
   * only where the write strategy has an `appendOne`.
   */
  readonly appendOneBinaryDcb?: boolean | undefined
  /** Serialises concurrent migration runs, inside their transaction. */
  readonly lockMigrations: (sql: SqlClient.SqlClient) => Effect.Effect<void, SqlError>
  /**
   * For databases with concurrent writers (PostgreSQL): taken by every append that carries tags or a
   * DCB condition, inside its transaction, before its condition is checked and its events inserted.
   * `tags` are the tags of its events and of its conditions' query items; `everything` is set when a
   * condition has an item without tags (it can be matched by any append, tagged or not). Two appends
   * whose tags overlap must serialise; appends on disjoint tags must not. Absent where the write
   * transaction already excludes every other writer (SQLite).
   */
  readonly lockForDcb?:
    | ((
      sql: SqlClient.SqlClient,
      keys: { readonly tags: ReadonlyArray<string>; readonly everything: boolean }
    ) => Effect.Effect<void, SqlError>)
    | undefined
}

/**
 * Every multi-statement write (multi-stream appends, documents with events) is one atomic batch.
 * Consumer checkpoints cannot share a transaction with the handler's SQL here.
 *
 * @category models
 * @since 0.1.0
 */
export interface Batched {
  readonly _tag: "Batched"
  readonly appendBatch: (
    sql: SqlClient.SqlClient,
    input: AppendBatchInput
  ) => Effect.Effect<AppendBatchOutcome, SqlError>
  /**
   * Writes several documents of one collection in one atomic batch whose guards (one per write with
   * an expectation) abort it as a whole: `GuardFailed`, and the store re-reads to name the conflict.
   */
  readonly writeDocuments: (
    sql: SqlClient.SqlClient,
    input: DocumentsBatchInput
  ) => Effect.Effect<DocumentsBatchOutcome, SqlError>
  /** Applies one migration atomically if `strata_migrations` lacks it, returning whether it did. */
  readonly applyMigration: (sql: SqlClient.SqlClient, migration: Migration) => Effect.Effect<boolean, SqlError>
  /**
   * Saves a consumer checkpoint in one batch that first checks `lease` (when given) is still current
   * in `strata_leases`: `"LeaseLost"` (and nothing saved) when it is not. How a fenced consumer batch
   * commits without transactions.
   */
  readonly saveCheckpoint: (
    sql: SqlClient.SqlClient,
    input: {
      readonly name: string
      readonly position: bigint
      readonly lease: { readonly name: string; readonly holder: string; readonly token: bigint } | undefined
    }
  ) => Effect.Effect<"Saved" | "LeaseLost", SqlError>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Dialect {
  readonly name: "postgres" | "sqlite"
  readonly migrations: ReadonlyArray<Migration>
  readonly write: WriteStrategy
  /** A timestamp parameter from epoch milliseconds. */
  readonly time: (millis: number) => unknown
  readonly decodeTime: (value: unknown) => Date
  /** A JSON text parameter for a document column (indexed JSON where the database has one). */
  readonly document: (sql: Statement.Constructor, text: string) => Statement.Fragment
  readonly decodeJson: (value: unknown) => unknown
  /**
   * The select list of event reads, where a column travels better in another form than
   * `Rows.eventColumns` gives it: the same columns in the same order (D1: `hex(data_bytes)`, as its
   * results carry a BLOB as a JSON array of numbers). Absent: `Rows.eventColumns`.
   */
  readonly eventColumns?: string | undefined
  /**
   * For databases where positions can become visible out of order (PostgreSQL): the bound below
   * which every position is settled. Global reads stop below it and take it in an earlier statement
   * than the read. Without it, every visible position is settled (SQLite and D1 have one writer).
   */
  readonly horizon?: ((sql: SqlClient.SqlClient) => Effect.Effect<Horizon, SqlError>) | undefined
  /**
   * Before a failed append answers with a result an earlier attempt stored (the replay rule): make
   * what that attempt committed as durable as a commit of this call's own. PostgreSQL commits a
   * transaction that writes WAL (a transactional logical message), whose commit waits for the
   * synchronous standbys up to a WAL position past the earlier commit: a commit whose wait for the standby was cancelled is visible on
   * the primary but not replicated, and must not be reported as a success until it is. Absent:
   * nothing to wait for (SQLite, D1).
   */
  readonly durable?: ((sql: SqlClient.SqlClient) => Effect.Effect<void, SqlError>) | undefined
  /** Makes text comparisons and ordering use code point order (PostgreSQL: `COLLATE "C"`). */
  readonly binary: string
  /** The largest integer the database stores and binds exactly (2^63 - 1; D1: 2^53 - 1). */
  readonly maxInteger: bigint
  /** Most bound parameters one statement may carry. */
  readonly maxParams: number
  /**
   * Whether a failure is transient (the operation may succeed if retried): the driver's own
   * classification plus what it leaves unclassified (PostgreSQL: a terminated backend, 57P01).
   */
  readonly isTransient: (error: SqlError) => boolean
  /** What a failure while the store starts means, and what to check (see `Startup.guard`). */
  readonly explainStartup: Explain
  /** Whether an error is a UNIQUE violation (drivers that do not classify it need the message). */
  readonly isUniqueViolation: (error: SqlError) => boolean
  /** Expressions for a validated document field path. */
  readonly field: (path: ReadonlyArray<string>) => FieldExpressions
  /** Index DDL for a declared document index. */
  readonly createIndex: (collection: string, name: string, expressions: ReadonlyArray<string>) => string
}
