/**
 * The storage behind job queues: the {@link JobStore} a backend implements (memory here, SQL in
 * `@strata/sql`'s `SqlJobs`), and {@link makeMemory}, the in-memory store with the real semantics.
 *
 * The worker algorithm (polling, leases and their renewal, retries by a Schedule, dead letters,
 * spans and metrics) is `JobQueue`'s, written once over this record. Every operation here is one
 * atomic step (one SQL statement), which is what lets D1, with no interactive transactions, hold a
 * queue too. A taken job is fenced by its owner and attempt number: every take of a job raises its
 * attempt count, so `(owner, attempt)` names one take, and `renew`, `complete`, `fail` and `release`
 * change the job only while that take still holds it.
 *
 * Times are epoch milliseconds by the clock of the process that calls (`Clock`): processes sharing
 * a queue must agree on the time to well within a lease.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { StoreUnavailable } from "../StoreError.ts"

/**
 * Where a job is in its life: `pending` (waiting for its `runAt`), `running` (taken under a lease),
 * `succeeded`, `dead` (failed `maxAttempts` times, or its payload no longer decodes) or
 * `cancelled`.
 *
 * @category models
 * @since 0.1.0
 */
export type JobState = "pending" | "running" | "succeeded" | "dead" | "cancelled"

/**
 * Every job state, in the order listings show them.
 *
 * @category models
 * @since 0.1.0
 */
export const states: ReadonlyArray<JobState> = ["pending", "running", "succeeded", "dead", "cancelled"]

/**
 * A job as stored: its payload is the JSON its queue's schema encoded.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobRecord {
  readonly id: string
  readonly queue: string
  readonly key: string | undefined
  /** The encoded payload, as JSON text. */
  readonly payload: string
  readonly priority: number
  readonly state: JobState
  /** When the job is due (pending) or was last due. */
  readonly runAt: number
  /** How many times it was taken (a take that died with its process counts). */
  readonly attempts: number
  readonly lastError: string | undefined
  /** The worker holding it, while running. */
  readonly owner: string | undefined
  /** When its lease ends, while running. */
  readonly leaseExpiresAt: number | undefined
  readonly createdAt: number
  readonly updatedAt: number
  /** The span that enqueued it, so the span that runs it can link to it. */
  readonly traceId: string | undefined
  readonly spanId: string | undefined
}

/**
 * A job taken by a worker: the take's attempt number fences what the worker may do with it.
 *
 * @category models
 * @since 0.1.0
 */
export interface TakenJob {
  readonly id: string
  readonly queue: string
  readonly key: string | undefined
  readonly payload: string
  readonly priority: number
  readonly attempt: number
  readonly runAt: number
  readonly createdAt: number
  readonly traceId: string | undefined
  readonly spanId: string | undefined
}

/**
 * What `enqueue` writes.
 *
 * @category models
 * @since 0.1.0
 */
export interface EnqueueInput {
  readonly id: string
  readonly queue: string
  readonly key: string | undefined
  readonly payload: string
  readonly priority: number
  readonly runAt: number
  readonly now: number
  readonly traceId: string | undefined
  readonly spanId: string | undefined
}

/**
 * One take of a job, as `renew`, `complete`, `fail` and `release` name it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Take {
  readonly id: string
  readonly owner: string
  readonly attempt: number
}

/**
 * A queue's depth: pending jobs, those already due, running and dead ones, and when the oldest due
 * job became due (undefined when none is due).
 *
 * @category models
 * @since 0.1.0
 */
export interface QueueStats {
  readonly pending: number
  readonly due: number
  readonly running: number
  readonly dead: number
  readonly oldestDueAt: number | undefined
}

/**
 * Which jobs a listing or a purge selects.
 *
 * @category models
 * @since 0.1.0
 */
export interface Selection {
  readonly queue?: string | undefined
  readonly states?: ReadonlyArray<JobState> | undefined
  /** Only jobs last changed before this time. */
  readonly before?: number | undefined
  readonly limit?: number | undefined
}

/**
 * The storage a backend implements for job queues (see the module documentation). Each operation
 * is atomic on its own.
 *
 * - `enqueue`: writes a pending job; when `key` is set and a pending or running job of the queue has
 *   it, writes nothing and answers that job's id with `created: false`.
 * - `take`: leases up to `limit` jobs of `queue` that are due (pending with `runAt <= now`),
 *   highest priority first, then earliest due, then oldest, and raises their attempt count; with
 *   `reclaim`, first the running jobs whose lease expired (their worker died), longest expired
 *   first; answered in that order (a worker starts them in it). Two concurrent takes never return
 *   the same job. (Workers reclaim once per poll
 *   interval, so the frequent take is the one an index of due jobs answers.)
 * - `renew`, `complete` (`completeMany`: several at once), `fail`, `release`: change the job only
 *   while `take` still holds it
 *   (`false` otherwise: the lease expired and another worker took it). `fail` with `retryAt` makes
 *   it pending again; without, dead with `error`. `release` puts it back as due now; with
 *   `unstarted` (a job taken ahead that no handler ran), with its attempt count lowered again and its
 *   due time kept.
 * - `retry`: a dead (or cancelled) job back to pending, due now, attempts reset.
 * - `cancel`: a pending job to cancelled.
 * - `purge`: deletes the selected finished jobs (succeeded, dead, cancelled).
 * - `declare` records a queue name, `queues` lists them (for `UnknownQueue` and the CLI).
 * - `inTransaction`: whether an atomic unit of this store is open in the calling fiber, so an
 *   enqueue now commits with it (the outbox).
 *
 * @category services
 * @since 0.1.0
 */
export interface JobStore {
  /** The backend's name in spans, metrics and errors. */
  readonly backend: string
  readonly enqueue: (
    input: EnqueueInput
  ) => Effect.Effect<{ readonly id: string; readonly created: boolean }, StoreUnavailable>
  readonly take: (input: {
    readonly queue: string
    readonly owner: string
    readonly now: number
    readonly leaseExpiresAt: number
    readonly limit: number
    /** Also take jobs whose lease expired (default false). */
    readonly reclaim?: boolean | undefined
  }) => Effect.Effect<ReadonlyArray<TakenJob>, StoreUnavailable>
  readonly renew: (take: Take, leaseExpiresAt: number) => Effect.Effect<boolean, StoreUnavailable>
  readonly complete: (take: Take, now: number) => Effect.Effect<boolean, StoreUnavailable>
  /** `complete` for several takes of one owner in one step; the ids it completed. */
  readonly completeMany: (
    takes: ReadonlyArray<Take>,
    now: number
  ) => Effect.Effect<ReadonlySet<string>, StoreUnavailable>
  readonly fail: (
    take: Take,
    input: { readonly now: number; readonly error: string; readonly retryAt: number | undefined }
  ) => Effect.Effect<boolean, StoreUnavailable>
  readonly release: (
    take: Take,
    now: number,
    options?: { readonly unstarted?: boolean | undefined }
  ) => Effect.Effect<boolean, StoreUnavailable>
  readonly get: (id: string) => Effect.Effect<Option.Option<JobRecord>, StoreUnavailable>
  readonly list: (selection: Selection) => Effect.Effect<ReadonlyArray<JobRecord>, StoreUnavailable>
  readonly retry: (id: string, now: number) => Effect.Effect<boolean, StoreUnavailable>
  readonly cancel: (id: string, now: number) => Effect.Effect<boolean, StoreUnavailable>
  readonly purge: (selection: Selection) => Effect.Effect<number, StoreUnavailable>
  readonly stats: (queue: string, now: number) => Effect.Effect<QueueStats, StoreUnavailable>
  readonly declare: (queue: string, now: number) => Effect.Effect<void, StoreUnavailable>
  readonly queues: Effect.Effect<ReadonlyArray<string>, StoreUnavailable>
  readonly inTransaction: Effect.Effect<boolean>
  /**
   * How many jobs per slot of its concurrency a worker takes ahead by default
   * (`JobQueue.WorkerOptions.prefetch`): for a store whose take costs more per statement than per
   * job (SQLite in-process). Default 0.
   */
  readonly prefetch?: number | undefined
  /**
   * The database handle whose atomic append batches can write this store's jobs (`SqlJobs`: its
   * SqlClient). A backend without transactions whose `Backend.jobBatch` is the same handle carries
   * jobs in its append batch (D1).
   */
  readonly batchTarget?: unknown
}

/**
 * Jobs an append carries into a batched backend's atomic batch (D1): `JobQueue.append` sets it
 * around the append when the backend's `jobBatch` is the queue's `batchTarget`, and the backend's
 * batch writes them (`INSERT ... ON CONFLICT DO NOTHING`: a stored id or a pending key writes
 * nothing, as `enqueue` does).
 *
 * @category references
 * @since 0.1.0
 */
export const Carried: Context.Reference<ReadonlyArray<EnqueueInput> | undefined> = Context.Reference<
  ReadonlyArray<EnqueueInput> | undefined
>("@strata/core/JobStore/Carried", { defaultValue: () => undefined })

/**
 * The order `take` hands out due jobs in: highest priority, then earliest due, then first enqueued.
 *
 * @category constructors
 * @since 0.1.0
 */
export const compareDue = (a: JobRecord, b: JobRecord): number =>
  b.priority - a.priority || a.runAt - b.runAt || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const finished: ReadonlySet<JobState> = new Set(["succeeded", "dead", "cancelled"])

/**
 * Whether a job is in a final state (`purge` deletes only those).
 *
 * @category guards
 * @since 0.1.0
 */
export const isFinished = (state: JobState): boolean => finished.has(state)

/**
 * How an in-memory job store joins the units of work of the memory event store beside it (the
 * memory backend passes it): `current` is the open unit of the calling fiber, if any, where a job
 * enqueued stays invisible to workers until the unit commits, and is dropped if it rolls back.
 *
 * @category models
 * @since 0.1.0
 */
export interface MemoryUnits {
  readonly current: Effect.Effect<
    | {
      /** Runs `undo` if the unit rolls back. */
      readonly onRollback: (undo: () => void) => void
      /** Runs `step` when the outermost unit commits. */
      readonly onCommit: (step: () => void) => void
    }
    | undefined
  >
}

/**
 * A job store in memory with the real semantics (leases expire by the clock, takes never overlap,
 * keys de-duplicate while pending): for one process, tests and the memory backend. Given a memory
 * store's units of work (`JobQueue.layerStore` over a `MemoryStore` passes them), a job enqueued in a
 * unit commits or rolls back with it (the outbox); without, an enqueue inside a unit of work is
 * refused by `JobQueue` (see the jobs guide). An enqueue whose id is already stored (a replayed
 * append that carried it) writes nothing and answers that job.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory = (backend = "memory", units?: MemoryUnits): Effect.Effect<JobStore> =>
  Effect.sync(() => {
    const jobs = new Map<string, JobRecord>()
    // Jobs enqueued in a unit of work that has not committed yet: invisible to takes and listings.
    const staged = new Map<string, JobRecord>()
    const declared = new Set<string>()
    let sequence = 0
    const order = new Map<string, number>()
    const held = (take: Take) => {
      const job = jobs.get(take.id)
      return job !== undefined && job.state === "running" && job.owner === take.owner &&
          job.attempts === take.attempt
        ? job
        : undefined
    }
    // The pending and running jobs of each queue, so a take looks at those only.
    const active = new Map<string, Set<string>>()
    const activeOf = (queue: string) => {
      let set = active.get(queue)
      if (set === undefined) active.set(queue, set = new Set())
      return set
    }
    const update = (job: JobRecord, patch: Partial<JobRecord>) => {
      const next = { ...job, ...patch }
      jobs.set(job.id, next)
      if (next.state === "pending" || next.state === "running") activeOf(next.queue).add(next.id)
      else activeOf(next.queue).delete(next.id)
    }
    const selected = (selection: Selection) => {
      const all = Array.from(jobs.values()).filter((job) =>
        (selection.queue === undefined || job.queue === selection.queue) &&
        (selection.states === undefined || selection.states.includes(job.state)) &&
        (selection.before === undefined || job.updatedAt < selection.before)
      )
      all.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0))
      return all
    }
    const store: JobStore = {
      backend,
      enqueue: (input) =>
        Effect.flatMap(units?.current ?? Effect.succeed(undefined), (unit) =>
          Effect.sync(() => {
            const existing = jobs.get(input.id) ?? staged.get(input.id)
            if (existing !== undefined) return { id: existing.id, created: false }
            if (input.key !== undefined) {
              for (const job of [...jobs.values(), ...staged.values()]) {
                if (
                  job.queue === input.queue && job.key === input.key &&
                  (job.state === "pending" || job.state === "running")
                ) return { id: job.id, created: false }
              }
            }
            const record: JobRecord = {
              id: input.id,
              queue: input.queue,
              key: input.key,
              payload: input.payload,
              priority: input.priority,
              state: "pending",
              runAt: input.runAt,
              attempts: 0,
              lastError: undefined,
              owner: undefined,
              leaseExpiresAt: undefined,
              createdAt: input.now,
              updatedAt: input.now,
              traceId: input.traceId,
              spanId: input.spanId
            }
            const insert = () => {
              jobs.set(input.id, record)
              order.set(input.id, ++sequence)
              activeOf(input.queue).add(input.id)
              declared.add(input.queue)
            }
            if (unit === undefined) insert()
            else {
              staged.set(input.id, record)
              unit.onRollback(() => staged.delete(input.id))
              unit.onCommit(() => {
                staged.delete(input.id)
                insert()
              })
            }
            return { id: input.id, created: true }
          })),
      take: (input) =>
        Effect.sync(() => {
          const due: Array<JobRecord> = []
          const expired: Array<JobRecord> = []
          for (const id of activeOf(input.queue)) {
            const job = jobs.get(id)!
            if (job.state === "pending" && job.runAt <= input.now) due.push(job)
            else if (input.reclaim === true && job.state === "running" && (job.leaseExpiresAt ?? 0) <= input.now) {
              expired.push(job)
            }
          }
          expired.sort((a, b) => (a.leaseExpiresAt ?? 0) - (b.leaseExpiresAt ?? 0))
          const chosen: Array<JobRecord> = expired.slice(0, input.limit)
          // Then the first due jobs in take order: a selection pass per job taken (limits are
          // small), not a sort of every due job.
          for (let i = chosen.length; i < input.limit && due.length > 0; i++) {
            let best = 0
            for (let j = 1; j < due.length; j++) if (compareDue(due[j], due[best]) < 0) best = j
            chosen.push(due[best])
            due[best] = due[due.length - 1]
            due.pop()
          }
          return chosen.map((job): TakenJob => {
            const attempt = job.attempts + 1
            update(job, {
              state: "running",
              attempts: attempt,
              owner: input.owner,
              leaseExpiresAt: input.leaseExpiresAt,
              updatedAt: input.now
            })
            return {
              id: job.id,
              queue: job.queue,
              key: job.key,
              payload: job.payload,
              priority: job.priority,
              attempt,
              runAt: job.runAt,
              createdAt: job.createdAt,
              traceId: job.traceId,
              spanId: job.spanId
            }
          })
        }),
      renew: (take, leaseExpiresAt) =>
        Effect.sync(() => {
          const job = held(take)
          if (job !== undefined) update(job, { leaseExpiresAt })
          return job !== undefined
        }),
      completeMany: (takes, now) =>
        Effect.sync(() => {
          const done = new Set<string>()
          for (const take of takes) {
            const job = held(take)
            if (job !== undefined) {
              update(job, { state: "succeeded", owner: undefined, leaseExpiresAt: undefined, updatedAt: now })
              done.add(take.id)
            }
          }
          return done
        }),
      complete: (take, now) =>
        Effect.sync(() => {
          const job = held(take)
          if (job !== undefined) {
            update(job, { state: "succeeded", owner: undefined, leaseExpiresAt: undefined, updatedAt: now })
          }
          return job !== undefined
        }),
      fail: (take, input) =>
        Effect.sync(() => {
          const job = held(take)
          if (job !== undefined) {
            update(job, {
              state: input.retryAt === undefined ? "dead" : "pending",
              runAt: input.retryAt ?? job.runAt,
              lastError: input.error,
              owner: undefined,
              leaseExpiresAt: undefined,
              updatedAt: input.now
            })
          }
          return job !== undefined
        }),
      release: (take, now, options) =>
        Effect.sync(() => {
          const job = held(take)
          if (job !== undefined) {
            update(
              job,
              options?.unstarted === true
                ? {
                  state: "pending",
                  attempts: job.attempts - 1,
                  owner: undefined,
                  leaseExpiresAt: undefined,
                  updatedAt: now
                }
                : { state: "pending", runAt: now, owner: undefined, leaseExpiresAt: undefined, updatedAt: now }
            )
          }
          return job !== undefined
        }),
      get: (id) => Effect.sync(() => Option.fromNullishOr(jobs.get(id))),
      list: (selection) => Effect.sync(() => selected(selection).slice(0, selection.limit ?? Number.MAX_SAFE_INTEGER)),
      retry: (id, now) =>
        Effect.sync(() => {
          const job = jobs.get(id)
          if (job === undefined || (job.state !== "dead" && job.state !== "cancelled")) return false
          if (job.key !== undefined) {
            for (const other of jobs.values()) {
              if (
                other.queue === job.queue && other.key === job.key &&
                (other.state === "pending" || other.state === "running")
              ) return false
            }
          }
          update(job, { state: "pending", runAt: now, attempts: 0, updatedAt: now })
          return true
        }),
      cancel: (id, now) =>
        Effect.sync(() => {
          const job = jobs.get(id)
          if (job === undefined || job.state !== "pending") return false
          update(job, { state: "cancelled", updatedAt: now })
          return true
        }),
      purge: (selection) =>
        Effect.sync(() => {
          const doomed = selected(selection).filter((job) => isFinished(job.state)).slice(
            0,
            selection.limit ?? Number.MAX_SAFE_INTEGER
          )
          for (const job of doomed) {
            jobs.delete(job.id)
            activeOf(job.queue).delete(job.id)
            order.delete(job.id)
          }
          return doomed.length
        }),
      stats: (queue, now) =>
        Effect.sync(() => {
          let pending = 0, due = 0, running = 0, dead = 0
          let oldestDueAt: number | undefined
          for (const job of jobs.values()) {
            if (job.queue !== queue) continue
            if (job.state === "pending") {
              pending++
              if (job.runAt <= now) {
                due++
                oldestDueAt = oldestDueAt === undefined ? job.runAt : Math.min(oldestDueAt, job.runAt)
              }
            } else if (job.state === "running") running++
            else if (job.state === "dead") dead++
          }
          return { pending, due, running, dead, oldestDueAt }
        }),
      declare: (queue) => Effect.sync(() => void declared.add(queue)),
      queues: Effect.sync(() => Array.from(declared).sort()),
      inTransaction: units === undefined
        ? Effect.succeed(false)
        : Effect.map(units.current, (unit) => unit !== undefined)
    }
    return store
  })

/**
 * The current time in epoch milliseconds (`Clock`), as every store operation takes it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const now: Effect.Effect<number> = Clock.currentTimeMillis
