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
import {
  Consumer,
  DocumentStore,
  Event,
  EventStore,
  Lease,
  ParkedEvents,
  Projection,
  StoreAdmin,
  StoreError,
  UnitOfWork
} from "@strata/core"
import { Tracing } from "@strata/core/backend"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as PubSub from "effect/PubSub"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as Checkpoints from "./Checkpoints.ts"
import type { Dialect } from "./Dialect.ts"
import * as Append from "./internal/append.ts"
import * as StoreContext from "./internal/context.ts"
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
 * `D1Store.layer`), in one place.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions {
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
  /**
   * Inline projections: run inside every append's transaction, so a failing one fails the append and
   * nothing is written (see `Projection`). Not on D1, which has no transactions: its layer refuses
   * them with `Unsupported`.
   */
  readonly projections?: ReadonlyArray<Projection.Any> | undefined
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
export interface SqlStoreOptions extends Omit<StoreOptions, "migrate" | "startupRetry"> {
  readonly dialect: Dialect
  /** Name in spans, metrics and errors. Defaults to the dialect's name. */
  readonly backend?: string | undefined
}

/**
 * What {@link make} builds: both services, the wake-up signal its subscriptions wait on (a backend
 * may also feed it: PostgreSQL publishes to it on NOTIFY), and `committed`, published after every
 * commit that wrote events through this store (PostgreSQL turns it into a NOTIFY for other
 * processes). Both coalesce: a slow reader of either sees one signal for many commits.
 *
 * @category models
 * @since 0.1.0
 */
export interface SqlStore {
  readonly eventStore: EventStore.EventStoreShape
  readonly documentStore: DocumentStore.DocumentStoreShape
  readonly signal: PubSub.PubSub<void>
  readonly committed: PubSub.PubSub<void>
  /** Units of work: one transaction of the SqlClient; `Unsupported` on a batched dialect (D1). */
  readonly unitOfWork: UnitOfWork.UnitOfWorkShape
}

/**
 * Why a batched dialect (D1) cannot run inline projections, as the error its layer fails with.
 *
 * @category errors
 * @since 0.1.0
 */
export const inlineUnsupported = (backend: string): StoreError.Unsupported =>
  new StoreError.Unsupported({
    operation: "inline projections",
    backend,
    detail:
      "inline projections run inside the append's transaction, and this database has none (a batch cannot read the documents it would update): run them asynchronously with Projection.run"
  })

/**
 * Builds the stores over the SqlClient in context. The schema must exist (see `Migrator.run`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: SqlStoreOptions) {
  const ctx = yield* StoreContext.make({
    dialect: options.dialect,
    backend: options.backend ?? options.dialect.name,
    maxEventBytes: options.maxEventBytes ?? Event.defaultMaxEventBytes,
    pageSize: options.pageSize ?? 500,
    pollInterval: options.pollInterval ?? Duration.millis(250)
  })
  const projections = options.projections ?? []
  if (projections.length > 0 && options.dialect.write._tag === "Batched") {
    // Backend SPI misuse, not user input: D1Store refuses inline projections with a typed error first.
    return yield* Effect.die(inlineUnsupported(ctx.backend))
  }
  const rows = Streams.makeRows(ctx)
  const writes = DocumentWrites.make(ctx)
  // Filled in once the DocumentStore the projections write through exists.
  const beforeCommit: { current: Append.BeforeCommit | undefined } = { current: undefined }
  const appender = Append.make(ctx, rows, writes, beforeCommit)
  const eventStore = Tracing.eventStore({
    backend: ctx.backend,
    append: appender.append,
    appendMany: appender.appendMany,
    ...Reads.make(ctx, rows),
    ...Streams.makeLifecycle(ctx, rows),
    ...Snapshots.make(ctx)
  })
  const documentStore = Tracing.documentStore({ backend: ctx.backend, ...Documents.make(ctx, writes, appender) })
  if (projections.length > 0) beforeCommit.current = Projection.applyInline(projections, documentStore)
  const unitOfWork: UnitOfWork.UnitOfWorkShape = options.dialect.write._tag === "Batched"
    ? UnitOfWork.unsupported(
      ctx.backend,
      "this database has no interactive transactions; write atomically in one batch with UnitOfWork.commit (appends to several streams and at most one document), appendMany, or DocumentStore.put with `events`"
    )
    : {
      backend: ctx.backend,
      interactive: true,
      transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        ctx.transaction("UnitOfWork.transaction", effect).pipe(
          // BEGIN / COMMIT failed (or the effect's own SQL did): nothing was committed.
          Effect.catchIf(isSqlError, (error) =>
            Effect.fail(
              new StoreError.StoreUnavailable({ operation: "transaction", reason: error.reason._tag, cause: error })
            ))
        ) as Effect.Effect<A, E | StoreError.Unsupported | StoreError.StoreUnavailable, R>
    }
  return {
    eventStore,
    documentStore,
    signal: ctx.signal,
    committed: ctx.committed,
    unitOfWork
  } satisfies SqlStore
})

/**
 * @category models
 * @since 0.1.0
 */
export interface SqlStoreLayerOptions<R = never> extends SqlStoreOptions {
  /** Apply pending migrations when the layer starts. Default true. */
  readonly migrate?: boolean | undefined
  /**
   * Provide `Checkpoints.transactional` to consumers run with this layer. Default: true where the
   * dialect writes in transactions (not on D1).
   */
  readonly transactionalCheckpoints?: boolean | undefined
  /**
   * Retry the first contact with the database (migrations, or a probe when `migrate: false`) while it
   * fails transiently, e.g. `Startup.defaultRetry` while a container starts. Default: no retry.
   */
  readonly startupRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /** The lease store to provide. Default `Leases.make` over the same client (D1 adds batched fencing). */
  readonly leases?: Effect.Effect<Lease.LeaseStoreShape> | undefined
  /** Extra wiring once the store exists, in the layer's scope (PostgreSQL starts its listener here). */
  readonly onStart?: ((store: SqlStore) => Effect.Effect<void, never, R | Scope.Scope>) | undefined
}

/**
 * What every SQL store layer provides: both stores, their `StoreAdmin` and a `Lease.LeaseStore`.
 * The backends' own layers add their client (`PgStore.Services`, `SqliteStore.Services`).
 *
 * @category models
 * @since 0.1.0
 */
export type Services = EventStore.EventStore | DocumentStore.DocumentStore | StoreAdmin.StoreAdmin | Lease.LeaseStore

/**
 * Both stores over the SqlClient in context, after applying migrations (unless `migrate: false`), with
 * the parked-events store of supervised consumers (`SqlParkedEvents`) and, where the dialect writes in
 * transactions, transactional consumer checkpoints,
 * their StoreAdmin, and the SQL `Lease.LeaseStore` (see `Leases`).
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
): Layer.Layer<Services, SqlError, SqlClient.SqlClient | R> =>
  Layer.effectContext(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // The first contact with the database: a bad URL, host, user or file fails here, at startup.
    yield* Startup.retrying(
      options.migrate ?? true ? Effect.asVoid(Migrator.run(options.dialect)) : Effect.asVoid(sql`SELECT 1`),
      { schedule: options.startupRetry, isTransient: options.dialect.isTransient }
    )
    const store = yield* make(options)
    if (options.onStart !== undefined) yield* options.onStart(store)
    const context = Context.make(EventStore.EventStore, EventStore.EventStore.of(store.eventStore)).pipe(
      Context.add(DocumentStore.DocumentStore, DocumentStore.DocumentStore.of(store.documentStore)),
      Context.add(ParkedEvents.ParkedEvents, SqlParkedEvents.make(sql, options.dialect)),
      Context.add(StoreAdmin.StoreAdmin, yield* SqlAdmin.make(options.dialect)),
      Context.add(
        Lease.LeaseStore,
        yield* (options.leases ?? Leases.make({ isTransient: options.dialect.isTransient }))
      ),
      Context.add(UnitOfWork.UnitOfWork, store.unitOfWork)
    )
    return (options.transactionalCheckpoints ?? options.dialect.write._tag === "Transactional")
      ? Context.add(context, Consumer.Checkpoints, Checkpoints.transactional(sql))
      : context
  }))
