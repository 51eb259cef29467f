/**
 * Health checks for a store and the consumers a program runs: one {@link check} gives a {@link Report}
 * that an orchestrator's probes and an operator both read.
 *
 * What it looks at, each check bounded by a timeout and none able to fail the report:
 * - **reachable**: one read of the log's head through the backend (its undecorated store, so a probe
 *   is not retried, counted or traced as application traffic), with its latency;
 * - **migrations**: `StoreAdmin.migrationStatus`: current, or which are pending;
 * - **horizon**: how long global readers have been held back by an append in flight, where the backend
 *   has such a thing and provides a {@link HorizonProbe} (`PgStore.layer` does; SQLite and D1 have one
 *   writer at a time and no horizon to hold);
 * - **consumers**: the consumers this program runs (`Consumer.layer`, through the `Consumers`
 *   registry) with their state, position, restarts, parked events and last failure, and every stored
 *   checkpoint with its lag (events in the log after it), so consumers of other processes show too;
 * - **leases**: the leases held now (consumer groups, exclusive consumers), by whom and until when;
 * - **parked**: parked events per consumer;
 * - **jobs**: the depth of each job queue (pending, due, running, dead, the oldest due job's age) where
 *   the program has a `JobQueue`.
 *
 * **Ready vs live.** `ready` says the store can serve requests: reachable and its schema current. A
 * load balancer should stop routing to a process that is not ready. `live` says the process is worth
 * keeping: false only when one of its consumers gave up restarting (`failed`), which a restart of the
 * process may cure. A store outage does not make a process not live: restarting every process while the
 * database is away cures nothing. `status` is `down` when not ready, `degraded` when ready but
 * something needs a look (a consumer restarting or failed, parked events, a held horizon or a lag
 * over the limits), `up` otherwise.
 *
 * @example
 * import { Health, MemoryStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const report = yield* Health.check()
 *   if (!report.ready) yield* Effect.logWarning(`store not ready: ${report.reachable.error}`)
 *   return report.status
 * }).pipe(Effect.provide(MemoryStore.layer()))
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { Backend } from "./backend/Backend.ts"
import { LeaseStore } from "./backend/LeaseStore.ts"
import { ParkedEvents } from "./backend/ParkedEvents.ts"
import { EventStore } from "./EventStore.ts"
import { JobQueue } from "./jobs/JobQueue.ts"
import type { ConsumerState } from "./processing/internal/consumer/model.ts"
import { Consumers } from "./processing/internal/consumer/registry.ts"
import { StoreAdmin } from "./StoreAdmin.ts"
import type { StoreUnavailable } from "./StoreError.ts"

/**
 * The overall verdict: `up`, `degraded` (ready, but something needs a look) or `down` (not ready).
 *
 * @category models
 * @since 0.1.0
 */
export type Status = "up" | "degraded" | "down"

/**
 * What a backend with a read horizon reports about it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Horizon {
  /** Every position below this one is committed or abandoned: global readers read up to it. */
  readonly settled: bigint
  /** An append in flight holds readers below positions already handed out. */
  readonly pending: boolean
  /** How long the oldest append in flight has held readers back (0 when none does). */
  readonly heldSeconds: number
}

/**
 * Reads a backend's read horizon for {@link check}. Provided by backends that have one
 * (`PgStore.layer`); absent elsewhere, and the report says so.
 *
 * @category services
 * @since 0.1.0
 */
export class HorizonProbe extends Context.Service<HorizonProbe, {
  readonly read: Effect.Effect<Horizon, StoreUnavailable>
}>()("@strata/core/Health/HorizonProbe") {}

/**
 * Limits of {@link check}.
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthOptions {
  /** The longest each check may take before it counts as failed (default 2 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** A horizon held back longer than this makes the report `degraded` (default 5 seconds). */
  readonly horizonHeldLimit?: Duration.Input | undefined
  /** A checkpoint lag (events) above this makes the report `degraded` (default: none, lag is only reported). */
  readonly lagLimit?: number | undefined
  /**
   * Read every stored checkpoint and its lag (default true). On SQL backends the lag is a count of
   * the events after each checkpoint: turn it off for a probe that runs often on a big log.
   */
  readonly checkpoints?: boolean | undefined
}

/**
 * The outcome of the reachability check.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reachable {
  readonly ok: boolean
  readonly latencyMillis: number
  /** The position of the log's last event; absent in an empty store or when unreachable. */
  readonly head: bigint | undefined
  /** Why the backend is unreachable (the error's message, never its cause). */
  readonly error?: string | undefined
}

/**
 * The schema's migrations.
 *
 * @category models
 * @since 0.1.0
 */
export interface Migrations {
  /** `unknown` when the status could not be read (see `error`). */
  readonly status: "current" | "pending" | "unknown"
  readonly applied: number
  /** Names of the migrations not applied yet. */
  readonly pending: ReadonlyArray<string>
  readonly error?: string | undefined
}

/**
 * The read horizon's check.
 *
 * @category models
 * @since 0.1.0
 */
export interface HorizonCheck {
  /** `none`: the backend has no horizon (or provides no probe). `held`: over `horizonHeldLimit`. */
  readonly status: "ok" | "held" | "none" | "unknown"
  readonly heldSeconds: number
  readonly settled: bigint | undefined
  readonly error?: string | undefined
}

/**
 * One consumer: running in this program, or known from its stored checkpoint, or both.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerHealth {
  readonly name: string
  /** The state of the consumer running in this program; absent for a checkpoint alone. */
  readonly state: ConsumerState | undefined
  /** The position it has got past (the running consumer's, else its stored checkpoint). */
  readonly position: bigint | undefined
  /** Events in the log after the stored checkpoint (an upper bound of the work left); absent without one. */
  readonly lag: number | undefined
  readonly restarts: number | undefined
  /** The last failure's message, until the consumer next commits. */
  readonly failure: string | undefined
}

/**
 * A lease held now.
 *
 * @category models
 * @since 0.1.0
 */
export interface LeaseHolder {
  readonly name: string
  readonly holder: string
  readonly token: bigint
  /** When it expires unless renewed (epoch milliseconds). */
  readonly expiresAt: number
}

/**
 * One job queue's depth.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobQueueHealth {
  readonly queue: string
  readonly pending: number
  /** Pending jobs whose time has come: the backlog workers have not taken yet. */
  readonly due: number
  readonly running: number
  /** Jobs that ran out of attempts. */
  readonly dead: number
  /** How long the oldest due job has waited (0 when none is due). */
  readonly oldestDueSeconds: number
}

/**
 * What {@link check} found.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly status: Status
  /** The store can serve: reachable, schema current. */
  readonly ready: boolean
  /** The process is worth keeping: none of its consumers gave up (see the module documentation). */
  readonly live: boolean
  readonly backend: string
  /** When the check ran (epoch milliseconds). */
  readonly checkedAt: number
  readonly reachable: Reachable
  readonly migrations: Migrations
  readonly horizon: HorizonCheck
  readonly consumers: ReadonlyArray<ConsumerHealth>
  readonly consumersError?: string | undefined
  readonly leases: ReadonlyArray<LeaseHolder>
  readonly leasesError?: string | undefined
  /** Parked events per consumer (only consumers with some). */
  readonly parked: Readonly<Record<string, number>>
  /** Job queues and their depth (empty without a `JobQueue`). */
  readonly jobs: ReadonlyArray<JobQueueHealth>
  readonly jobsError?: string | undefined
  /** Every reason the report is not `up`, in words. */
  readonly problems: ReadonlyArray<string>
}

/**
 * The services {@link check} needs: what every store layer provides.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = StoreAdmin | EventStore | LeaseStore | ParkedEvents

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

/**
 * Checks the store and this program's consumers (see the module documentation). Never fails: a check
 * that fails or times out is reported as such.
 *
 * @category constructors
 * @since 0.1.0
 */
export const check: (options?: HealthOptions) => Effect.Effect<Report, never, Requirements> = Effect.fn(
  "Health.check"
)(function*(options?: HealthOptions) {
  const timeout = Duration.fromInputUnsafe(options?.timeout ?? "2 seconds")
  const heldLimit = Duration.toSeconds(Duration.fromInputUnsafe(options?.horizonHeldLimit ?? "5 seconds"))
  const bounded = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(`${name} did not answer within ${Duration.format(timeout)}`)
      }),
      Effect.mapError(describe),
      // A backend may die on what it did not expect (a table that is not there yet): still a report.
      Effect.catchDefect((defect) => Effect.fail(describe(defect))),
      Effect.result
    )

  const admin = yield* StoreAdmin
  const backend = yield* Effect.serviceOption(Backend)
  // The backend's own store when there is one: a probe is not application traffic to retry and count.
  const events = Option.isSome(backend) ? backend.value.eventStore : yield* EventStore
  const leases = yield* LeaseStore
  const parkedStore = yield* ParkedEvents
  const registry = yield* Effect.serviceOption(Consumers)
  const horizonProbe = yield* Effect.serviceOption(HorizonProbe)
  const jobQueue = yield* Effect.serviceOption(JobQueue)

  const probe = Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const last = yield* Stream.runHead(events.readAll({ direction: "backwards", limit: 1 }))
    const ended = yield* Clock.currentTimeMillis
    return { latencyMillis: ended - started, head: Option.getOrUndefined(Option.map(last, (event) => event.position)) }
  })

  const jobStats = Option.isNone(jobQueue) ? Effect.succeed(Result.succeed([])) : bounded(
    "job queues",
    Effect.gen(function*() {
      const store = jobQueue.value.store
      const now = yield* Clock.currentTimeMillis
      const queues = yield* store.queues
      return yield* Effect.forEach(queues, (queue) =>
        Effect.map(store.stats(queue, now), (stats): JobQueueHealth => ({
          queue,
          pending: stats.pending,
          due: stats.due,
          running: stats.running,
          dead: stats.dead,
          oldestDueSeconds: stats.oldestDueAt === undefined ? 0 : Math.max(0, (now - stats.oldestDueAt) / 1000)
        })))
    })
  )

  const [reached, migrationStatus, horizon, stored, held, running, queued] = yield* Effect.all([
    bounded("the backend", probe),
    bounded(
      "migrationStatus",
      // Timed: without its schema, the database's answer to this query is the reachability probe.
      Effect.timed(admin.migrationStatus).pipe(
        Effect.map(([took, status]) => ({ ...status, latencyMillis: Duration.toMillis(took) }))
      )
    ),
    Option.isSome(horizonProbe) ? bounded("the horizon", horizonProbe.value.read) : Effect.succeed(undefined),
    options?.checkpoints === false
      ? Effect.succeed(Result.succeed([]))
      : bounded("checkpoints", admin.checkpoints.pipe(Effect.catchTag("Unsupported", () => Effect.succeed([])))),
    // A backend without leases has none to show.
    bounded("leases", leases.list("").pipe(Effect.catchTag("Unsupported", () => Effect.succeed([])))),
    Option.isSome(registry)
      ? Effect.flatMap(registry.value.all, (all) => Effect.forEach(all, (consumer) => consumer.status))
      : Effect.succeed([]),
    jobStats
  ], { concurrency: "unbounded" })

  const problems: Array<string> = []

  // Without its schema the log cannot be read, yet the database answered the migrations' query:
  // reachable, and the migrations' check says what is wrong.
  const schemaMissing = Result.isSuccess(migrationStatus) && migrationStatus.success.pending.length > 0
  const reachable: Reachable = Result.isSuccess(reached)
    ? { ok: true, latencyMillis: reached.success.latencyMillis, head: reached.success.head }
    : schemaMissing
    ? { ok: true, latencyMillis: migrationStatus.success.latencyMillis, head: undefined }
    : { ok: false, latencyMillis: Duration.toMillis(timeout), head: undefined, error: reached.failure }
  if (!reachable.ok) problems.push(`the backend is unreachable: ${reachable.error}`)

  const migrations: Migrations = Result.isSuccess(migrationStatus)
    ? {
      status: migrationStatus.success.pending.length === 0 ? "current" : "pending",
      applied: migrationStatus.success.applied.length,
      pending: migrationStatus.success.pending.map((m) => `${m.id}_${m.name}`)
    }
    : { status: "unknown", applied: 0, pending: [], error: migrationStatus.failure }
  if (migrations.status === "pending") {
    problems.push(
      `migrations pending: ${migrations.pending.join(", ")} (run them: strata migrate, or the layer's migrate)`
    )
  } else if (migrations.status === "unknown") problems.push(`migration status unknown: ${migrations.error}`)

  const horizonCheck: HorizonCheck = horizon === undefined
    ? { status: "none", heldSeconds: 0, settled: undefined }
    : Result.isSuccess(horizon)
    ? {
      status: horizon.success.heldSeconds > heldLimit ? "held" : "ok",
      heldSeconds: horizon.success.heldSeconds,
      settled: horizon.success.settled
    }
    : { status: "unknown", heldSeconds: 0, settled: undefined, error: horizon.failure }
  if (horizonCheck.status === "held") {
    problems.push(
      `global readers held back for ${
        horizonCheck.heldSeconds.toFixed(1)
      } s by an append in flight (a unit of work that idles?)`
    )
  }

  const checkpoints = Result.isSuccess(stored) ? stored.success : []
  const consumersError = Result.isFailure(stored) ? stored.failure : undefined
  const byName = new Map<string, ConsumerHealth>()
  for (const checkpoint of checkpoints) {
    byName.set(checkpoint.name, {
      name: checkpoint.name,
      state: undefined,
      position: checkpoint.position,
      lag: checkpoint.lag,
      restarts: undefined,
      failure: undefined
    })
  }
  const parked: Record<string, number> = {}
  for (const status of running) {
    const known = byName.get(status.name)
    byName.set(status.name, {
      name: status.name,
      state: status.state,
      position: status.position ?? known?.position,
      lag: known?.lag,
      restarts: status.restarts,
      failure: status.failure?.message
    })
    if (status.parked > 0) parked[status.name] = status.parked
  }
  // Parked events of consumers not running here (another process's, or stopped ones).
  const others = [...byName.keys()].filter((name) => parked[name] === undefined)
  const counts = yield* Effect.forEach(
    others,
    (name) => Effect.map(bounded("parked", parkedStore.count(name)), (count) => [name, count] as const),
    { concurrency: 4 }
  )
  for (const [name, count] of counts) {
    if (Result.isSuccess(count) && count.success > 0) parked[name] = count.success
  }
  const consumers = [...byName.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  if (consumersError !== undefined) problems.push(`checkpoints could not be read: ${consumersError}`)
  for (const consumer of consumers) {
    if (consumer.state === "failed") problems.push(`consumer ${consumer.name} failed and gave up: ${consumer.failure}`)
    else if (consumer.state === "restarting") {
      problems.push(`consumer ${consumer.name} is restarting after: ${consumer.failure}`)
    }
    if (options?.lagLimit !== undefined && consumer.lag !== undefined && consumer.lag > options.lagLimit) {
      problems.push(`consumer ${consumer.name} is ${consumer.lag} events behind (limit ${options.lagLimit})`)
    }
  }
  for (const [name, count] of Object.entries(parked)) problems.push(`consumer ${name} has ${count} parked events`)

  const leaseList: ReadonlyArray<LeaseHolder> = Result.isSuccess(held)
    ? held.success.map((lease) => ({
      name: lease.name,
      holder: lease.holder,
      token: lease.token,
      expiresAt: lease.expiresAt
    }))
    : []
  const leasesError = Result.isFailure(held) ? held.failure : undefined

  const jobs = Result.isSuccess(queued) ? queued.success : []
  const jobsError = Result.isFailure(queued) ? queued.failure : undefined
  if (jobsError !== undefined) problems.push(`job queues could not be read: ${jobsError}`)
  for (const queue of jobs) {
    if (queue.dead > 0) problems.push(`job queue ${queue.queue} has ${queue.dead} dead jobs`)
  }

  const ready = reachable.ok && migrations.status === "current"
  const live = !consumers.some((consumer) => consumer.state === "failed")
  const status: Status = !ready ? "down" : problems.length > 0 ? "degraded" : "up"
  return {
    status,
    ready,
    live,
    backend: admin.backend,
    checkedAt: yield* Clock.currentTimeMillis,
    reachable,
    migrations,
    horizon: horizonCheck,
    consumers,
    ...(consumersError === undefined ? {} : { consumersError }),
    leases: leaseList,
    ...(leasesError === undefined ? {} : { leasesError }),
    parked,
    jobs,
    ...(jobsError === undefined ? {} : { jobsError }),
    problems
  } satisfies Report
})

/**
 * The report as plain JSON values (positions and tokens as decimal strings), for an HTTP body or a log.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toJson = (report: Report): unknown =>
  JSON.parse(JSON.stringify(report, (_key, value) => typeof value === "bigint" ? value.toString() : value))
