/**
 * Reads from PostgreSQL hot standbys, gap-free and never stale.
 *
 * **The settled row.** A standby sees neither the primary's advisory locks (the announcements the
 * gap-free horizon reads, see `PgHorizon`) nor its sequence state, and it cannot LISTEN. So the store
 * that reads from standbys publishes the primary's horizon in one row, `strata_settled` (migration 10),
 * with {@link publish}: woken by its own commits and every writer's NOTIFY (at most one publish per
 * `interval`), and every `every` even when idle; writers without replicas publish nothing. A transaction writes its commit record to the WAL before it releases its announcement, and the
 * row's update commits after the horizon was read, so a standby that has replayed the row has replayed
 * every commit below it. Replica global reads stop below the row: gap-free, exactly as on the primary.
 *
 * **Fresh reads.** A read routed to a replica first takes a fence on the primary, in one statement:
 * its horizon and its WAL position (`pg_current_wal_lsn()`, read after the horizon). The replica
 * serves the read once it has replayed that WAL position: everything committed before the read
 * began, in any process, is then visible there, and global reads there may stop at the primary's
 * horizon (see {@link Floor}). A replica that does not get there within `timeout` (stalled, paused,
 * unreachable) is passed over: the read is served by the primary. So a read from a replica returns
 * what the same read on the primary would have returned when it started: no stale read, no gap.
 *
 * **Live on a replica.** Subscriptions on a replica wake up when the row advances there: one poll of
 * the row per replica per `pollInterval` (default 25 ms) wakes every subscription of this process.
 *
 * **Lag.** Each replica's lag, every `lagInterval` (default 1 s), as gauges with the attribute
 * `replica` (host:port): {@link lagPositions} (positions settled on the primary not yet settled on
 * the replica), {@link lagBytes} (WAL bytes between the primary's current position and the
 * replica's replay) and {@link lagSeconds} (how long the replica's replay has been behind what it
 * received: 0 when it has replayed everything it received).
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { StoreError } from "@strata/core"
import type { DocumentStore, EventStore } from "@strata/core"
import { SqlStore } from "@strata/sql"
import type { Dialect, Horizon } from "@strata/sql/Dialect"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Stream from "effect/Stream"

/**
 * Where a read is served: `"primary"`, or `"replica"` (a hot standby, after it has replayed
 * everything the primary had committed when the read began; the primary when none gets there in time).
 *
 * @category models
 * @since 0.1.0
 */
export type Consistency = "primary" | "replica"

/**
 * The consistency of the reads made inside, overriding the layer's `consistency` for one call:
 * `store.read(stream).pipe(Stream.provideService(PgReplica.Consistency, "primary"))`, or around an
 * effect with `Effect.provideService`. Unset (the default), the layer's choice applies.
 *
 * @example
 * ```ts
 * import { EventStore } from "@strata/core"
 * import { PgReplica } from "@strata/postgres"
 * import { Effect, Stream } from "effect"
 *
 * const history = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   return yield* store.read("order-1").pipe(
 *     Stream.provideService(PgReplica.Consistency, "primary"),
 *     Stream.runCollect
 *   )
 * })
 * ```
 *
 * @category references
 * @since 0.1.0
 */
export const Consistency: Context.Reference<Consistency | undefined> = Context.Reference<Consistency | undefined>(
  "@strata/postgres/PgReplica/Consistency",
  { defaultValue: () => undefined }
)

/**
 * A fence taken on the primary: its horizon, then its WAL position (bytes from 0/0).
 *
 * @category models
 * @since 0.1.0
 */
export interface Fence {
  readonly settled: bigint
  readonly lsn: bigint
}

/**
 * The fence a replica read runs under (set by the routing, not by callers): a replica's horizon is
 * the primary's `settled` when the replica has replayed `lsn` (checked by each horizon read), else
 * its published row.
 *
 * @category references
 * @since 0.1.0
 */
export const Floor: Context.Reference<Fence | undefined> = Context.Reference<Fence | undefined>(
  "@strata/postgres/PgReplica/Floor",
  { defaultValue: () => undefined }
)

/**
 * `waitFor` gave up: the replica had not published the position within the timeout.
 *
 * @category errors
 * @since 0.1.0
 */
export class ReplicaTimeout extends Schema.TaggedError<ReplicaTimeout>("@strata/postgres/PgReplica/ReplicaTimeout")(
  "ReplicaTimeout",
  {
    replica: Schema.String,
    position: Schema.BigInt,
    reached: Schema.BigInt,
    waitedMillis: Schema.Number
  }
) {
  override get message(): string {
    return `replica ${this.replica} had not settled position ${this.position} after ${this.waitedMillis} ms (it has settled below ${this.reached}); read with consistency "primary", or check its replication (PgReplica.lag)`
  }
}

/**
 * Positions settled on the primary (its published row) that a replica has not settled yet.
 *
 * @category metrics
 * @since 0.1.0
 */
export const lagPositions: Metric.Gauge<number> = Metric.gauge("strata_replica_lag_positions", {
  description: "Positions settled on the primary that the replica has not settled yet"
})

/**
 * WAL bytes between the primary's current position and what the replica has replayed.
 *
 * @category metrics
 * @since 0.1.0
 */
export const lagBytes: Metric.Gauge<number> = Metric.gauge("strata_replica_lag_bytes", {
  description: "WAL bytes between the primary's current position and the replica's replay position"
})

/**
 * Seconds the replica's replay has been behind the WAL it received (0 when it replayed all of it).
 *
 * @category metrics
 * @since 0.1.0
 */
export const lagSeconds: Metric.Gauge<number> = Metric.gauge("strata_replica_lag_seconds", {
  description: "Seconds since the last transaction the replica replayed, while it has received WAL it has not replayed"
})

/**
 * Reads served by the primary although a replica was asked for (no replica caught up in time).
 *
 * @category metrics
 * @since 0.1.0
 */
export const fallbacks: Metric.Counter<number> = Metric.counter("strata_replica_fallbacks_total", {
  description: "Reads routed to a replica that the primary served, because no replica caught up in time"
})

/**
 * One replica's lag, as {@link Replicas} reports it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lag {
  readonly replica: string
  readonly positions: bigint
  readonly bytes: bigint
  readonly seconds: number
}

/**
 * One replica as the store uses it: its name (host:port), its client and the SQL store over it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Replica {
  readonly name: string
  readonly sql: SqlClient.SqlClient
  readonly store: SqlStore.SqlStore
}

/**
 * The replicas of a store ({@link layer}): wait for one of your positions, read their lag.
 *
 * @category services
 * @since 0.1.0
 */
export class Replicas extends Context.Service<Replicas, {
  readonly replicas: ReadonlyArray<Replica>
  readonly consistency: Consistency
  readonly timeout: Duration.Duration
  /**
   * Waits until every replica has settled `position` (a position an append returned): global reads
   * there then include it. Fails with {@link ReplicaTimeout} after `timeout` (default the layer's).
   */
  readonly waitFor: (
    position: bigint,
    options?: { readonly timeout?: Duration.Input | undefined }
  ) => Effect.Effect<void, ReplicaTimeout | StoreError.StoreUnavailable>
  /** Each replica's lag now, read from the primary and the replica. */
  readonly lag: Effect.Effect<ReadonlyArray<Lag>, StoreError.StoreUnavailable>
}>()("@strata/postgres/PgReplica/Replicas") {}

/**
 * Waits until every replica of the store has settled `position` (see {@link Replicas}).
 *
 * @example
 * ```ts
 * import { EventStore } from "@strata/core"
 * import { PgReplica } from "@strata/postgres"
 * import { Effect } from "effect"
 *
 * const appendThenWait = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const { position } = yield* store.append("order-1", [{ type: "Placed", data: {} }])
 *   yield* PgReplica.waitFor(position)
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const waitFor = (
  position: bigint,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.Effect<void, ReplicaTimeout | StoreError.StoreUnavailable, Replicas> =>
  Effect.flatMap(Effect.service(Replicas), (replicas) => replicas.waitFor(position, options))

const toBigint = (value: bigint | number | string | null | undefined): bigint =>
  value === null || value === undefined ? 0n : BigInt(value)

// What a server has replayed (a standby) or written (a primary, e.g. a promoted standby), in WAL bytes.
const replayedSql =
  "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::int8"

/**
 * The primary's fence for a fresh replica read: its horizon, then its WAL position (see the module doc).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fence = (sql: SqlClient.SqlClient): Effect.Effect<Fence, SqlError> =>
  Effect.map(
    sql<{ settled: bigint | number; lsn: bigint | number | string }>`SELECT h.settled,
      (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 AS lsn FROM strata_horizon() h`,
    ([row]) => ({ settled: toBigint(row?.settled), lsn: toBigint(row?.lsn) })
  )

/**
 * A replica's horizon: its published row, or the {@link Floor}'s `settled` when the replica has
 * replayed the floor's WAL position (checked in the same statement), and never below a horizon this
 * effect returned before on the same server run. Monotonic like the primary's: the subscriptions of a
 * store share one live reader (LiveFeed), whose seam needs every later horizon to cover an earlier
 * one, whichever subscription's floor each was read under. A restarted standby may show less than it
 * did before its restart (it reopens at its last restart point), so the high-water mark is kept per
 * `pg_postmaster_start_time()`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const horizon = (sql: SqlClient.SqlClient): Effect.Effect<Horizon, SqlError> => {
  let known = { started: "", settled: 0n }
  return Effect.gen(function*() {
    const floor = yield* Floor
    const [row] = yield* sql<
      { position: bigint | number; replayed: bigint | number | string | null; started: string }
    >`SELECT s.position, ${sql.literal(replayedSql)} AS replayed,
      pg_postmaster_start_time()::text AS started FROM strata_settled s`
    let settled = toBigint(row?.position)
    if (
      floor !== undefined && row?.replayed !== null && toBigint(row?.replayed) >= floor.lsn && floor.settled > settled
    ) settled = floor.settled
    const started = row?.started ?? ""
    if (known.started === started && known.settled > settled) settled = known.settled
    known = { started, settled }
    return { settled, pending: false }
  })
}

/**
 * The dialect a replica's store reads with: `base` with {@link horizon} instead of the primary's.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dialect = (base: Dialect): Dialect => ({ ...base, horizon })

const publishStatement = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ settled: bigint | number; pending: boolean; published: bigint | number }>`
      SELECT settled, pending, published FROM strata_publish_settled()`,
    ([row]) => ({ settled: toBigint(row?.settled), pending: row?.pending === true })
  )

/**
 * Publishes the settled position (the `strata_settled` row) for readers on replicas: after commits
 * published to `committed` (at most one publish per `interval`; again each `interval` while an
 * append in flight holds the horizon back), and every `every` regardless, so commits by processes
 * that do not publish (older versions, one that crashed mid-append) still reach replica readers.
 * A publish writes only when the horizon moved. A failed publish is retried at the next turn.
 *
 * @category constructors
 * @since 0.1.0
 */
export const publish = (
  committed: PubSub.PubSub<void>,
  options: { readonly interval: Duration.Input; readonly every: Duration.Input }
): Effect.Effect<void, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const commits = yield* PubSub.subscribe(committed)
    const interval = Duration.fromInputUnsafe(options.interval)
    const every = Duration.fromInputUnsafe(options.every)
    let wait = Duration.zero
    yield* Effect.gen(function*() {
      yield* PubSub.take(commits).pipe(Effect.timeoutOption(wait))
      const held = yield* publishStatement(sql).pipe(
        Effect.map((result) => result.pending),
        Effect.catchCause((cause) =>
          Effect.as(Effect.logDebug("strata: publishing the settled position failed; retrying", cause), true)
        )
      )
      wait = held ? interval : every
      yield* Effect.sleep(interval)
    }).pipe(Effect.forever, Effect.forkScoped)
  })

/**
 * How {@link layer} reaches its replicas and reads from them.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReplicaOptions {
  /** Each replica's pool configuration (the store's layer derives them from `replicas`). */
  readonly replicas: ReadonlyArray<PgClient.PgPoolConfig>
  /** The primary's dialect (its schema's keys): the replicas read with it and {@link horizon}. */
  readonly dialect: Dialect
  /** Default read consistency. Default `"replica"` when there are replicas. */
  readonly consistency?: Consistency | undefined
  /** How long a read waits for a replica to catch up with its fence before the primary serves it. Default 2 s. */
  readonly timeout?: Duration.Input | undefined
  /** How often each replica's row is polled to wake its live subscriptions. Default 25 ms. */
  readonly pollInterval?: Duration.Input | undefined
  /** How often each replica's lag is measured. Default 1 s. */
  readonly lagInterval?: Duration.Input | undefined
  /** The replica stores' page size and event limit (the store's). */
  readonly pageSize?: number | undefined
  readonly maxEventBytes?: number | undefined
}

/**
 * A replica's name for metrics and errors: host:port, never the credentials.
 *
 * @category constructors
 * @since 0.1.0
 */
export const name = (config: PgClient.PgPoolConfig): string => {
  if (config.url !== undefined) {
    try {
      const url = new URL(Redacted.value(config.url))
      return `${config.host ?? url.hostname}:${config.port ?? (url.port || "5432")}`
    } catch {
      return "a replica URL that does not parse"
    }
  }
  return `${config.host ?? "localhost"}:${config.port ?? 5432}`
}

/**
 * The {@link Replicas} of a store over the primary's SqlClient in context: a client and a SQL store
 * per replica (connected lazily: a replica that is down costs its reads a fallback, not the layer),
 * the live wake-up poll and the lag gauges. With no replicas, `waitFor` succeeds at once.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: ReplicaOptions
): Layer.Layer<Replicas, StoreError.StartupFailed, SqlClient.SqlClient> =>
  Layer.effect(
    Replicas,
    Effect.gen(function*() {
      const primary = yield* SqlClient.SqlClient
      const replicaDialect = dialect(options.dialect)
      const poll = options.pollInterval ?? Duration.millis(25)
      const replicas: Array<Replica> = []
      for (const config of options.replicas) {
        // The pool connects on first use: a replica that is down costs its reads a fallback.
        const client = yield* PgClient.make(config).pipe(
          Effect.provide(Reactivity.layer),
          Effect.mapError((error) =>
            new StoreError.StartupFailed({
              backend: "postgres",
              target: name(config),
              problem: `the replica's client could not be made (${error.reason._tag})`,
              hint: "Check the replica's URL."
            })
          )
        )
        const store = yield* SqlStore.make({
          dialect: replicaDialect,
          backend: "postgres",
          pageSize: options.pageSize,
          maxEventBytes: options.maxEventBytes,
          pollInterval: Duration.millis(500),
          readOnly: true
        }).pipe(Effect.provideService(SqlClient.SqlClient, client))
        replicas.push({ name: name(config), sql: client, store })
      }
      const latest = new Map<string, Lag>()
      for (const replica of replicas) {
        // Wake the replica's live subscriptions when its row advances.
        let seen = -1n
        yield* replica.sql<{ position: bigint | number }>`SELECT position FROM strata_settled`.pipe(
          Effect.flatMap(([row]) => {
            const now = toBigint(row?.position)
            if (now <= seen) return Effect.void
            seen = now
            return Effect.asVoid(PubSub.publish(replica.store.signal, undefined))
          }),
          Effect.catchCause(() => Effect.void),
          Effect.andThen(Effect.sleep(poll)),
          Effect.forever,
          Effect.forkScoped
        )
      }
      const measure = (replica: Replica) =>
        Effect.gen(function*() {
          const [p] = yield* primary<{ position: bigint | number; lsn: bigint | number | string }>`
            SELECT position, (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8 AS lsn FROM strata_settled`
          const [r] = yield* replica.sql<
            { position: bigint | number; replayed: bigint | number | string | null; seconds: number | string | null }
          >`SELECT s.position, ${replica.sql.literal(replayedSql)} AS replayed,
            CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
              ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0) END::float8
              AS seconds
            FROM strata_settled s`
          const positions = toBigint(p?.position) - toBigint(r?.position)
          const bytes = toBigint(p?.lsn) - toBigint(r?.replayed)
          const lag: Lag = {
            replica: replica.name,
            positions: positions > 0n ? positions : 0n,
            bytes: bytes > 0n ? bytes : 0n,
            seconds: Math.max(0, Number(r?.seconds ?? 0))
          }
          latest.set(replica.name, lag)
          const attributes = { replica: replica.name }
          yield* Metric.update(Metric.withAttributes(lagPositions, attributes), Number(lag.positions))
          yield* Metric.update(Metric.withAttributes(lagBytes, attributes), Number(lag.bytes))
          yield* Metric.update(Metric.withAttributes(lagSeconds, attributes), lag.seconds)
          return lag
        }).pipe(
          Effect.catchTag("SqlError", (error) =>
            Effect.fail(
              new StoreError.StoreUnavailable({
                operation: `PgReplica.lag(${replica.name})`,
                reason: error.reason._tag,
                cause: error
              })
            ))
        )
      if (replicas.length > 0) {
        yield* Effect.forEach(replicas, (replica) => Effect.ignore(measure(replica)), { discard: true }).pipe(
          Effect.andThen(Effect.sleep(options.lagInterval ?? Duration.seconds(1))),
          Effect.forever,
          Effect.forkScoped
        )
      }
      const timeout = Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(2))

      const waitOne = (replica: Replica, position: bigint, limit: Duration.Duration) =>
        Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          let pause = 1
          while (true) {
            const [row] = yield* replica.sql<{ position: bigint | number }>`SELECT position FROM strata_settled`
            const reached = toBigint(row?.position)
            if (reached > position) return
            const waited = (yield* Clock.currentTimeMillis) - start
            if (waited >= Duration.toMillis(limit)) {
              return yield* new ReplicaTimeout({ replica: replica.name, position, reached, waitedMillis: waited })
            }
            yield* Effect.sleep(Duration.millis(pause))
            pause = Math.min(pause * 2, 25)
          }
        }).pipe(
          Effect.catchTag("SqlError", (error) =>
            Effect.fail(
              new StoreError.StoreUnavailable({
                operation: `PgReplica.waitFor(${replica.name})`,
                reason: error.reason._tag,
                cause: error
              })
            ))
        )

      return Replicas.of({
        replicas,
        consistency: options.consistency ?? "replica",
        timeout,
        waitFor: (position, waitOptions) =>
          Effect.forEach(
            replicas,
            (replica) =>
              waitOne(
                replica,
                position,
                waitOptions?.timeout === undefined ? timeout : Duration.fromInputUnsafe(waitOptions.timeout)
              ),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.withSpan("PgReplica.waitFor", { attributes: { "strata.position": String(position) } })),
        lag: Effect.forEach(replicas, measure).pipe(Effect.withSpan("PgReplica.lag"))
      })
    })
  )

/**
 * Whether `replica` has replayed the fence's WAL position within `timeout` (false when it cannot be
 * reached: the read then goes to the primary).
 *
 * @category constructors
 * @since 0.1.0
 */
export const caughtUp = (replica: Replica, target: Fence, timeout: Duration.Duration): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    let pause = 1
    while (true) {
      const [row] = yield* replica.sql<{ replayed: bigint | number | string | null }>`
        SELECT ${replica.sql.literal(replayedSql)} AS replayed`
      if (row?.replayed !== null && toBigint(row?.replayed) >= target.lsn) return true
      if ((yield* Clock.currentTimeMillis) - start >= Duration.toMillis(timeout)) return false
      yield* Effect.sleep(Duration.millis(pause))
      pause = Math.min(pause * 2, 16)
    }
  }).pipe(
    Effect.catchCause((cause) =>
      Effect.as(Effect.logDebug(`strata: replica ${replica.name} unavailable; reading from the primary`, cause), false)
    )
  )

/**
 * The store with its reads routed (see the module doc): `read`, `readAll` (but DCB query reads,
 * which decide appends), `subscribe`, `subscribeAll`, and the DocumentStore's `get`, `getMany`,
 * `find`, `findPage` and `count` go to a replica (round robin) when the call's {@link Consistency}
 * (else the layer's) is `"replica"` and the call is not inside a transaction on the primary (whose own
 * writes only its connection sees); every write, `streamInfo` and checkpoints stay on the primary.
 *
 * @category constructors
 * @since 0.1.0
 */
export const route = (
  primary: SqlStore.SqlStore,
  replicas: Replicas["Service"],
  primarySql: SqlClient.SqlClient
): SqlStore.SqlStore => {
  if (replicas.replicas.length === 0) return primary
  let next = 0
  const lagging = new Set<string>()
  const brief = Duration.millis(50)
  const unavailable = (operation: string) => (error: SqlError) =>
    Effect.fail(new StoreError.StoreUnavailable({ operation, reason: error.reason._tag, cause: error }))
  // The replica to serve this call with its fence, or undefined for the primary.
  const choose = (operation: string): Effect.Effect<
    { readonly replica: Replica; readonly fence: Fence } | undefined,
    StoreError.StoreUnavailable
  > =>
    Effect.gen(function*() {
      const level = (yield* Consistency) ?? replicas.consistency
      if (level === "primary") return undefined
      // Inside a transaction on the primary (a unit of work, a consumer's batch), a read must see the
      // transaction's own writes: it stays on the transaction's connection.
      if ((yield* Effect.serviceOption(primarySql.transactionService))._tag === "Some") return undefined
      const target = yield* fence(primarySql).pipe(Effect.catchTag("SqlError", unavailable(operation)))
      const count = replicas.replicas.length
      for (let i = 0; i < count; i++) {
        const replica = replicas.replicas[(next + i) % count]!
        // A replica that missed its last fence is waited for briefly (50 ms, enough for a replica that
        // keeps up under load) until it meets one: a stalled standby costs one read the timeout, not every read.
        const behind = lagging.has(replica.name)
        if (yield* caughtUp(replica, target, behind ? Duration.min(brief, replicas.timeout) : replicas.timeout)) {
          if (behind) lagging.delete(replica.name)
          next = (next + i + 1) % count
          return { replica, fence: target }
        }
        lagging.add(replica.name)
      }
      yield* Metric.update(fallbacks, 1)
      return undefined
    })
  const stream = <A, E>(
    operation: string,
    onPrimary: () => Stream.Stream<A, E>,
    onReplica: (store: SqlStore.SqlStore) => Stream.Stream<A, E>
  ): Stream.Stream<A, E | StoreError.StoreUnavailable> =>
    Stream.unwrap(Effect.map(choose(operation), (chosen) =>
      chosen === undefined
        ? onPrimary()
        : onReplica(chosen.replica.store).pipe(Stream.provideService(Floor, chosen.fence))))
  const effect = <A, E>(
    operation: string,
    onPrimary: () => Effect.Effect<A, E>,
    onReplica: (store: SqlStore.SqlStore) => Effect.Effect<A, E>
  ): Effect.Effect<A, E | StoreError.StoreUnavailable> =>
    Effect.flatMap(choose(operation), (chosen) =>
      chosen === undefined
        ? onPrimary()
        : onReplica(chosen.replica.store).pipe(
          Effect.provideService(Floor, chosen.fence),
          Effect.tap(() => Effect.annotateCurrentSpan("strata.replica", chosen.replica.name))
        ))
  const events: EventStore.EventStoreShape = primary.eventStore
  const documents: DocumentStore.DocumentStoreShape = primary.documentStore
  return {
    ...primary,
    eventStore: {
      ...events,
      read: (name, options) =>
        stream("read", () => events.read(name, options), (store) => store.eventStore.read(name, options)),
      readAll: (options) =>
        options?.query !== undefined
          ? events.readAll(options)
          : stream("readAll", () => events.readAll(options), (store) => store.eventStore.readAll(options)),
      subscribe: (name, options) =>
        stream(
          "subscribe",
          () => events.subscribe(name, options),
          (store) => store.eventStore.subscribe(name, options)
        ),
      subscribeAll: (options) =>
        stream(
          "subscribeAll",
          () => events.subscribeAll(options),
          (store) => store.eventStore.subscribeAll(options)
        )
    },
    documentStore: {
      ...documents,
      get: (collection, id) =>
        effect("get", () => documents.get(collection, id), (store) => store.documentStore.get(collection, id)),
      getMany: (collection, ids) =>
        effect(
          "getMany",
          () => documents.getMany(collection, ids),
          (store) => store.documentStore.getMany(collection, ids)
        ),
      find: (collection, query) =>
        stream("find", () => documents.find(collection, query), (store) => store.documentStore.find(collection, query)),
      findPage: (collection, query) =>
        effect(
          "findPage",
          () => documents.findPage(collection, query),
          (store) => store.documentStore.findPage(collection, query)
        ),
      count: (collection, query) =>
        effect(
          "count",
          () => documents.count(collection, query),
          (store) => store.documentStore.count(collection, query)
        )
    }
  }
}
