/**
 * Strata's one SQL implementation of EventStore and DocumentStore, over effect/sql's SqlClient.
 * PostgreSQL, SQLite and D1 differ only in their {@link Dialect.Dialect}.
 *
 * This module is the public face: the options every SQL backend shares, {@link make} and
 * {@link layer}. The concepts live in their own modules over one small internal context: the append
 * pipeline (`internal/append.ts`), reads and subscriptions (`internal/reads.ts`), stream rows and
 * the lifecycle (`internal/streams.ts`), snapshots and checkpoints (`internal/snapshots.ts`) and the
 * DocumentStore (`internal/documents.ts`, compiling queries with `DocumentSql`).
 *
 * @since 0.1.0
 */
import { DocumentStore, Event, EventStore, Store, StoreError } from "@strata/core"
import { Backend, Inputs, type Otel } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as PubSub from "effect/PubSub"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import type { Dialect } from "./Dialect.ts"
import * as Append from "./internal/append.ts"
import * as StoreContext from "./internal/context.ts"
import * as DcbRead from "./internal/dcbRead.ts"
import * as Documents from "./internal/documents.ts"
import * as DocumentWrites from "./internal/documentWrites.ts"
import * as Reads from "./internal/reads.ts"
import * as Snapshots from "./internal/snapshots.ts"
import * as Streams from "./internal/streams.ts"
import * as Leases from "./Leases.ts"
import * as Migrator from "./Migrator.ts"
import * as SqlAdmin from "./SqlAdmin.ts"
import * as SqlParkedEvents from "./SqlParkedEvents.ts"
import * as Startup from "./Startup.ts"

/**
 * The options every SQL backend's layer takes (`PgStore.layer`, `SqliteStore.layer`,
 * `D1Store.layer`), in one place: inline projections (`Store.LayerOptions`) and the SQL store's own.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions extends Store.LayerOptions {
  /** Apply pending migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
  /** Retry the first contact with the database while it fails transiently. Default: no retry. */
  readonly startupRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Largest event or document (UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Rows per page for reads, subscriptions and document queries. Default 500. */
  readonly pageSize?: number | undefined
  /**
   * How long a live subscription waits for a wake-up before it reads anyway, so appends from
   * other processes are seen. Default 250 ms (PostgreSQL, which is woken by NOTIFY: 500 ms).
   */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * Splits a backend layer's config into the {@link StoreOptions} and the rest (the client's config).
 *
 * @category constructors
 * @since 0.1.0
 */
export const splitOptions = <C extends StoreOptions>(
  config: C
): readonly [StoreOptions, Omit<C, keyof StoreOptions>] => {
  const { maxEventBytes, migrate, pageSize, pollInterval, projections, startupRetry, ...rest } = config
  return [{ maxEventBytes, migrate, pageSize, pollInterval, projections, startupRetry }, rest]
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlStoreOptions {
  readonly dialect: Dialect
  /** Name in spans, metrics and errors. Defaults to the dialect's name. */
  readonly backend?: string | undefined
  /** Largest event or document (UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Rows per page for reads, subscriptions and document queries. Default 500. */
  readonly pageSize?: number | undefined
  /** See {@link StoreOptions.pollInterval}. Default 250 ms. */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * A store over a read-only server (a PostgreSQL hot standby, see `PgReplica`): document queries do
   * not create the collection's declared indexes (the primary's writes create them, and they replicate).
   */
  readonly readOnly?: boolean | undefined
  /**
   * Where the database is, for the store spans' `db.namespace`, `server.address` and `server.port`
   * (never credentials). The backend layers fill it; absent, spans carry `db.system.name` only.
   */
  readonly connection?: Otel.Connection | undefined
  /**
   * The backend's synchronous single-stream append ({@link SyncAppend}; SQLite's
   * `SqliteAppend.appendSync`): appends that inline projections act on run them in it. Absent: they
   * take the transactional path.
   */
  readonly syncAppend?: SyncAppend | undefined
}

/**
 * A single-stream append as one synchronous write with more work in it, before it commits: the same
 * checks, writes and outcome as the dialect's `appendOne`; once the events and the stream row are
 * written, `then` runs with the version of the first event and each event's position, and may run
 * `statements` on the same connection (only from inside `then`). A throw from `then` rolls the
 * whole write back and fails it. The store runs an append's inline projections in `then`, over
 * documents read and written by `statements`, and takes the transactional path when they do not
 * complete synchronously.
 *
 * @category models
 * @since 0.1.0
 */
export type SyncAppend = Append.SyncAppend

/**
 * What a {@link SyncAppend}'s `then` runs statements with: the rows a statement gives (none without
 * RETURNING), integers as `bigint`s; a database error is thrown. SQLite's SQL.
 *
 * @category models
 * @since 0.1.0
 */
export type SyncStatements = Append.SyncStatements

/**
 * What {@link make} builds: the backend record (`Backend.Backend`) core derives every service from,
 * plus the wake-up signal its subscriptions wait on (a backend may also feed it: PostgreSQL
 * publishes to it on NOTIFY), and `committed`, published after every commit that wrote events
 * through this store (PostgreSQL turns it into a NOTIFY for other processes). Both coalesce: a slow
 * reader of either sees one signal for many commits.
 *
 * @category models
 * @since 0.1.0
 */
export interface SqlStore extends Backend.Backend {
  readonly signal: PubSub.PubSub<void>
  readonly committed: PubSub.PubSub<void>
}

/**
 * Builds the backend record over the SqlClient in context. The schema must exist (see `Migrator.run`).
 *
 * - Transactional dialects (PostgreSQL, SQLite) commit units of work and consumer batches in one
 *   transaction of the client, and run inline projections inside every append's transaction.
 * - A batched dialect (D1) saves checkpoints (lease-checked) in one batch, and has no units of work
 *   or inline projections.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: SqlStoreOptions) {
  const sql = yield* SqlClient.SqlClient
  const maxEventBytes = options.maxEventBytes ?? Event.defaultMaxEventBytes
  const ctx = yield* StoreContext.make({
    dialect: options.dialect,
    backend: options.backend ?? options.dialect.name,
    maxEventBytes,
    pageSize: options.pageSize ?? 500,
    pollInterval: options.pollInterval ?? Duration.millis(250)
  })
  const rows = Streams.makeRows(ctx)
  const writes = DocumentWrites.make(ctx)
  // Filled in by core when the store has inline projections.
  const beforeCommit: Append.Inline = { current: undefined, types: new Set(), sync: undefined }
  const appender = Append.make(ctx, rows, writes, beforeCommit, options.syncAppend)
  const eventStore = EventStore.EventStore.of({
    backend: ctx.backend,
    append: appender.append,
    appendMany: appender.appendMany,
    ...Reads.make(ctx, rows),
    ...Streams.makeLifecycle(ctx, rows),
    ...Snapshots.make(ctx)
  })
  const documentStore = DocumentStore.DocumentStore.of({
    backend: ctx.backend,
    ...Documents.make(ctx, writes, appender, { readOnly: options.readOnly === true })
  })
  const write = options.dialect.write
  const commit: Backend.Commit = write._tag === "Batched"
    ? {
      _tag: "Batched",
      detail:
        "this database has no interactive transactions; write atomically in one batch with UnitOfWork.commit (appends to several streams and at most one document), appendMany, or DocumentStore.put with `events`",
      saveCheckpoint: (name, position, lease) =>
        Effect.gen(function*() {
          // The same checks as EventStore.saveCheckpoint, before the batch.
          const checked = yield* Effect.flatMap(
            Effect.andThen(
              Inputs.checkpointName("saveCheckpoint", name),
              ctx.bigintInput("saveCheckpoint", "position", position)
            ),
            (at) => write.saveCheckpoint(sql, { name, position: at, lease })
          ).pipe(Effect.catchTag("SqlError", ctx.unavailable("Consumer.commit")))
          if (checked === "LeaseLost" && lease !== undefined) {
            return yield* new StoreError.LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
          }
        })
    }
    : {
      _tag: "Transactional",
      transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        ctx.transaction("UnitOfWork.transaction", effect).pipe(
          // BEGIN / COMMIT failed (or the effect's own SQL did): nothing was committed.
          Effect.catchIf(isSqlError, (error) =>
            Effect.fail(
              new StoreError.StoreUnavailable({ operation: "transaction", reason: error.reason._tag, cause: error })
            ))
        ) as Effect.Effect<A, E | StoreError.StoreUnavailable, R>
    }
  return {
    name: ctx.backend,
    connection: options.connection,
    eventStore,
    documentStore,
    admin: yield* SqlAdmin.make(options.dialect),
    commit,
    leases: yield* Leases.make({ isTransient: options.dialect.isTransient }),
    parkedEvents: SqlParkedEvents.make(sql, options.dialect),
    readQuery: DcbRead.make(ctx),
    // Jobs carried by an append join its batch (a queue over this same client: `SqlJobs.layer`).
    jobBatch: write._tag === "Batched" ? sql : undefined,
    // A batch cannot read the documents a projection would update: no inline projections on D1.
    beforeCommit: write._tag === "Batched" ? undefined : (work, types, sync) => {
      beforeCommit.current = work
      beforeCommit.types = types
      beforeCommit.sync = sync
    },
    capabilities: Backend.capabilities({ maxEventBytes, maxInteger: options.dialect.maxInteger, dcb: true }),
    signal: ctx.signal,
    committed: ctx.committed
  } satisfies SqlStore
})

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlStoreLayerOptions<R = never> extends SqlStoreOptions, Store.LayerOptions {
  /** Apply pending migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
  /**
   * Retry the first contact with the database (migrations, or a probe when `migrate: false`) while it
   * fails transiently, e.g. `Startup.defaultRetry` while a container starts. Default: no retry.
   */
  readonly startupRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Extra wiring once the store exists, in the layer's scope (PostgreSQL starts its listener here). */
  readonly onStart?: ((store: SqlStore) => Effect.Effect<void, never, R | Scope.Scope>) | undefined
  /**
   * Replaces the record services are derived from, once started (PostgreSQL routes reads to its
   * replicas here, see `PgReplica.route`). Default: the record as built.
   */
  readonly decorate?: ((store: SqlStore) => Effect.Effect<SqlStore, never, R | Scope.Scope>) | undefined
}

/**
 * What every SQL store layer provides: every service of a store (`Store.Services`). The backends'
 * own layers add their client (`PgStore.Services`, `SqliteStore.Services`).
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Store.Services

/**
 * Every service of a store over the SqlClient in context (`Store.Services`), derived from {@link make}'s
 * record after applying migrations (unless `migrate: false`), decorated as the options say.
 *
 * @example
 * ```ts
 * import { SqlStore, SqliteDialect } from "@strata/sql"
 *
 * // over a SqlClient you provide (a SQLite one here)
 * const StoreLive = SqlStore.layer({ dialect: SqliteDialect.dialect })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R = never>(
  options: SqlStoreLayerOptions<R>
): Layer.Layer<Store.Services, SqlError | StoreError.Unsupported, SqlClient.SqlClient | R> =>
  Store.layerBackend(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // The first contact with the database: a bad URL, host, user or file fails here, at startup.
      yield* Startup.retrying(
        options.migrate ?? true ? Effect.asVoid(Migrator.run(options.dialect)) : Effect.asVoid(sql`SELECT 1`),
        { schedule: options.startupRetry, isTransient: options.dialect.isTransient }
      )
      const store = yield* make(options)
      if (options.onStart !== undefined) yield* options.onStart(store)
      return options.decorate === undefined ? store : yield* options.decorate(store)
    }),
    options
  )
