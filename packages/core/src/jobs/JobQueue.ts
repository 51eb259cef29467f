/**
 * Durable job queues on the store: named queues typed by a Schema, {@link enqueue} with a due time,
 * a de-duplication key and a priority, and {@link worker}s that take jobs under a lease, renew it
 * while the handler runs, retry failures by a Schedule and move a job that failed `maxAttempts`
 * times to the dead letters, which can be listed, retried and purged.
 *
 * The queue lives in a {@link JobStore.JobStore}: in memory ({@link layerMemory}), or in a SQL
 * database (`SqlJobs` in `@strata/sql`: PostgreSQL takes jobs with `FOR UPDATE SKIP LOCKED`, SQLite
 * and D1 under their single writer). Every store operation is one atomic statement.
 *
 * **Delivery.** At least once: a worker that dies mid-job (SIGKILL) releases nothing; its lease
 * expires and another worker takes the job again, as a new attempt. A take counts as an attempt
 * whether or not the handler got to finish, so a job that kills its worker every time ends dead
 * instead of looping. Handlers must be idempotent (or fence their own writes with the job id).
 *
 * **Outbox.** Enqueued inside `UnitOfWork.transaction` (or a consumer's transactional batch), a job
 * commits with the unit's events when the queue's store is the event store's database (the same
 * SqlClient; on memory, {@link layerStore}): the job exists if and only if the events committed.
 * When it is not (another database, or {@link layerMemory}), the enqueue fails with `Unsupported`
 * instead of committing apart. An append can carry its jobs ({@link append}, {@link appendMany},
 * {@link put}): one unit of work, or on D1 the append's one atomic batch.
 *
 * **Observability.** A span per operation (`JobQueue.enqueue`, ...) and one per job run
 * (`JobQueue.process`, kind consumer) linked to the span that enqueued it (its trace and span ids
 * are stored with the job); counters of jobs enqueued, started, succeeded, failed and dead, and
 * gauges of each queue's due depth and the age of its oldest due job, by `queue`.
 *
 * Effect's own `PersistedQueue` (effect/unstable/persistence) has the same at-least-once core but
 * no priorities, due times (delays round to whole seconds on SQL), dead-letter listing, retry or
 * purge, cancel, key de-duplication that ends with the job, D1, or transactions shared with an
 * event store; hence this module (see the jobs guide).
 *
 * @example
 * ```ts
 * import { JobQueue } from "@strata/core"
 * import { Effect, Layer, Schema } from "effect"
 *
 * const Emails = JobQueue.make("emails", Schema.Struct({ to: Schema.String, subject: Schema.String }))
 *
 * const send = JobQueue.layerWorker(
 *   Emails,
 *   (email) => Effect.log(`sending ${email.subject} to ${email.to}`),
 *   { concurrency: 4, maxAttempts: 5 }
 * )
 *
 * const program = JobQueue.enqueue(Emails, { to: "ada@example.com", subject: "Welcome" }, { key: "welcome-ada" })
 *
 * Effect.runPromise(program.pipe(Effect.provide(Layer.provideMerge(send, JobQueue.layerMemory))))
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { Backend } from "../backend/Backend.ts"
import * as Otel from "../backend/Otel.ts"
import { type Collection, DocumentStore, type PutOptions, type PutResult } from "../DocumentStore.ts"
import { makeEventId, type NewEvent, type RecordedEvent, withId } from "../Event.ts"
import {
  type AppendError,
  type AppendOptions,
  type AppendRequest,
  type AppendResult,
  EventStore
} from "../EventStore.ts"
import { type DocumentStoreError, InvalidArgument, type StoreUnavailable, Unsupported } from "../StoreError.ts"
import * as UnitOfWork from "../UnitOfWork.ts"
import * as JobStore from "./JobStore.ts"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const errorId = (name: string) => `@strata/core/JobQueue/${name}`

/**
 * An operation named a queue the store has never seen (no job was enqueued to it and no worker
 * declared it): most often a typo. `known` lists the queues that exist.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnknownQueue extends Schema.TaggedError<UnknownQueue>(errorId("UnknownQueue"))("UnknownQueue", {
  queue: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `no queue named ${JSON.stringify(this.queue)}; the store has ${
      this.known.length === 0 ? "no queues" : this.known.map((name) => JSON.stringify(name)).join(", ")
    }`
  }
}

/**
 * A job's data does not encode with its queue's schema (at `enqueue`), or a stored payload no
 * longer decodes (a worker then moves the job to the dead letters with this message).
 *
 * @category errors
 * @since 0.1.0
 */
export class JobPayloadError extends Schema.TaggedError<JobPayloadError>(errorId("JobPayloadError"))(
  "JobPayloadError",
  {
    queue: Schema.String,
    id: Schema.optional(Schema.String),
    detail: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `the payload of ${this.id === undefined ? "a job" : `job ${this.id}`} of queue ${
      JSON.stringify(this.queue)
    } does not match its schema: ${this.detail}`
  }
}

/**
 * No job has this id (it never existed, or was purged).
 *
 * @category errors
 * @since 0.1.0
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>(errorId("JobNotFound"))("JobNotFound", {
  id: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `no job ${this.id}`
  }
}

/**
 * The job is not in a state the operation applies to: only a pending job can be cancelled, only a
 * dead or cancelled one retried (and not while another job of the queue holds its key).
 *
 * @category errors
 * @since 0.1.0
 */
export class JobStateConflict extends Schema.TaggedError<JobStateConflict>(errorId("JobStateConflict"))(
  "JobStateConflict",
  {
    id: Schema.String,
    operation: Schema.String,
    state: Schema.String,
    detail: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `${this.operation}: job ${this.id} is ${this.state}; ${this.detail}`
  }
}

/**
 * What `enqueue` can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type EnqueueError = InvalidArgument | JobPayloadError | Unsupported | StoreUnavailable

// ---------------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------------

/**
 * A named queue whose jobs carry data of type `A`, stored encoded (`I`) as JSON.
 *
 * @category models
 * @since 0.1.0
 */
export interface Queue<A, I = A> {
  readonly name: string
  readonly schema: Schema.Codec<A, I>
}

/**
 * Any queue.
 *
 * @category models
 * @since 0.1.0
 */
export type Any = Queue<any, any>

/**
 * The longest queue name and de-duplication key, in characters.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxNameLength = 200

/**
 * Declares a queue: a name (1 to 200 characters, no control characters) and the Schema of its jobs'
 * data. Nothing is written until a job is enqueued or a worker starts.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A, I>(name: string, schema: Schema.Codec<A, I>): Queue<A, I> => ({ name, schema })

const controls = /[\u0000-\u001f\u007f]/

const checkName = (operation: string, what: string, value: unknown): Exit.Exit<string, InvalidArgument> =>
  typeof value === "string" && value.length > 0 && value.length <= maxNameLength && !controls.test(value)
    ? Exit.succeed(value)
    : Exit.fail(
      new InvalidArgument({
        operation,
        detail: `a ${what} must be a string of 1 to ${maxNameLength} characters without control characters${
          typeof value === "string" ? ` (this one has ${value.length})` : ""
        }`
      })
    )

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Jobs enqueued (a key that matched a pending job counts nothing), by `queue`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const enqueuedTotal: Metric.Counter<number> = Metric.counter("strata_jobs_enqueued_total", {
  description: "Jobs enqueued"
})
/**
 * Job runs started (every take, retries included), by `queue`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const startedTotal: Metric.Counter<number> = Metric.counter("strata_jobs_started_total", {
  description: "Job runs started"
})
/**
 * Job runs that succeeded, by `queue`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const succeededTotal: Metric.Counter<number> = Metric.counter("strata_jobs_succeeded_total", {
  description: "Job runs that succeeded"
})
/**
 * Job runs that failed (each failed attempt, the last one too), by `queue`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const failedTotal: Metric.Counter<number> = Metric.counter("strata_jobs_failed_total", {
  description: "Job runs that failed"
})
/**
 * Jobs moved to the dead letters, by `queue`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const deadTotal: Metric.Counter<number> = Metric.counter("strata_jobs_dead_total", {
  description: "Jobs moved to the dead letters"
})
/**
 * Jobs due and waiting for a worker, by `queue` (sampled by the queue's workers).
 *
 * @category metrics
 * @since 0.1.0
 */
export const depth: Metric.Gauge<number> = Metric.gauge("strata_jobs_depth", {
  description: "Jobs due and waiting for a worker"
})
/**
 * How long the oldest due job has waited, in seconds, by `queue` (0 when none is due; sampled by
 * the queue's workers).
 *
 * @category metrics
 * @since 0.1.0
 */
export const oldestDueAgeSeconds: Metric.Gauge<number> = Metric.gauge("strata_jobs_oldest_due_age_seconds", {
  description: "Age of the oldest due job, in seconds"
})

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * The job queues of one store: its {@link JobStore.JobStore}, and the in-process wake-up of the
 * workers this process runs (a job enqueued here starts without waiting for the next poll).
 *
 * @category services
 * @since 0.1.0
 */
export class JobQueue extends Context.Service<JobQueue, {
  readonly store: JobStore.JobStore
  readonly wake: (queue: string) => void
  readonly listen: (queue: string, latch: Latch.Latch) => Effect.Effect<void, never, Scope.Scope>
}>()("@strata/core/JobQueue") {}

/**
 * The service over a job store.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromStore = (store: JobStore.JobStore): JobQueue["Service"] => {
  const listeners = new Map<string, Set<Latch.Latch>>()
  return JobQueue.of({
    store,
    wake: (queue) => {
      const set = listeners.get(queue)
      if (set !== undefined) { for (const latch of set) latch.openUnsafe() }
    },
    listen: (queue, latch) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const set = listeners.get(queue) ?? new Set()
          set.add(latch)
          listeners.set(queue, set)
        }),
        () => Effect.sync(() => listeners.get(queue)?.delete(latch))
      )
  })
}

/**
 * Job queues over the store a backend's layer builds (`SqlJobs.layer`, ...).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <E, R>(store: Effect.Effect<JobStore.JobStore, E, R>): Layer.Layer<JobQueue, E, R> =>
  Layer.effect(JobQueue, Effect.map(store, fromStore))

/**
 * Job queues in memory, with the real semantics, for one process and tests. They share no unit of
 * work with any event store: for the outbox on memory, use {@link layerStore} over a `MemoryStore`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<JobQueue> = layer(JobStore.makeMemory())

/**
 * Job queues kept by the store in context itself, sharing its units of work: the memory backend's
 * (a job enqueued in `UnitOfWork.transaction`, or carried by {@link append}, commits and rolls
 * back with the unit's events). A backend that keeps no job store of its own fails with
 * `Unsupported` naming the layer to use instead (`SqlJobs.layer` on the SQL backends).
 *
 * @example
 * ```ts
 * import { JobQueue, MemoryStore } from "@strata/core"
 * import { Layer } from "effect"
 *
 * const Live = Layer.provideMerge(JobQueue.layerStore, MemoryStore.layer())
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore: Layer.Layer<JobQueue, Unsupported, Backend> = layer(
  Effect.flatMap(Effect.service(Backend), (backend) =>
    backend.jobs === undefined
      ? Effect.fail(
        new Unsupported({
          operation: "JobQueue.layerStore",
          backend: backend.name,
          detail:
            "this backend keeps no job store of its own; on SQL backends use SqlJobs.layer over the store's SqlClient (@strata/sql)"
        })
      )
      : Effect.succeed(backend.jobs))
)

// ---------------------------------------------------------------------------------------------
// Enqueue
// ---------------------------------------------------------------------------------------------

/**
 * How to enqueue a job.
 *
 * @category models
 * @since 0.1.0
 */
export interface EnqueueOptions {
  /** When the job is due: a Date or epoch milliseconds. Not with `delay`. Default: now. */
  readonly runAt?: Date | number | undefined
  /** Due this long from now (not negative). Not with `runAt`. */
  readonly delay?: Duration.Input | undefined
  /**
   * De-duplicates: while a pending or running job of the queue has this key, enqueueing it again
   * writes nothing and returns that job's id. 1 to 200 characters.
   */
  readonly key?: string | undefined
  /** Higher runs first among due jobs. An integer; default 0. */
  readonly priority?: number | undefined
}

const maxPriority = 2 ** 31 - 1

// Per-job spans capture no stack trace: capturing one costs more than the job's own statements.
const noStack = { captureStackTrace: false } as const

// The link from a job's run to the span that enqueued it (its stored W3C trace context), if any.
const linkOf = (job: JobStore.TakenJob): Array<Tracer.SpanLink> => {
  const link = Otel.linkToProducer({ traceId: job.traceId, spanId: job.spanId })
  return link === undefined ? [] : [link]
}

const dueTime = (options: EnqueueOptions | undefined, now: number): Exit.Exit<number, InvalidArgument> => {
  const operation = "JobQueue.enqueue"
  if (options?.runAt !== undefined && options.delay !== undefined) {
    return Exit.fail(new InvalidArgument({ operation, detail: "give runAt or delay, not both" }))
  }
  if (options?.runAt !== undefined) {
    const at = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt
    return typeof at === "number" && Number.isFinite(at)
      ? Exit.succeed(Math.trunc(at))
      : Exit.fail(new InvalidArgument({ operation, detail: "runAt must be a valid Date or epoch milliseconds" }))
  }
  if (options?.delay !== undefined) {
    const delay = Duration.fromInput(options.delay)
    if (Option.isNone(delay)) {
      return Exit.fail(new InvalidArgument({ operation, detail: "delay is not a duration" }))
    }
    if (Duration.isNegative(delay.value)) {
      return Exit.fail(
        new InvalidArgument({
          operation,
          detail: `delay must not be negative (got ${Duration.format(delay.value)}); use runAt for a time in the past`
        })
      )
    }
    if (!Duration.isFinite(delay.value)) {
      return Exit.fail(new InvalidArgument({ operation, detail: "delay must be finite" }))
    }
    return Exit.succeed(now + Math.ceil(Duration.toMillis(delay.value)))
  }
  return Exit.succeed(now)
}

// A queue's JSON codec, once per schema. Schema parsers answer an `Exit` directly when the schema is
// synchronous (every plain schema), so a job's payload is encoded and decoded as plain code, without
// an Effect step per job (see `settle`); an asynchronous schema keeps its Effect.
const encoders = new WeakMap<Schema.Top, (value: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()
const decoders = new WeakMap<Schema.Top, (value: unknown) => Effect.Effect<unknown, Schema.SchemaError>>()
const encoderOf = (queue: Any) => {
  let encode = encoders.get(queue.schema)
  if (encode === undefined) {
    encode = Schema.encodeUnknownEffect(Schema.toCodecJson(queue.schema)) as never
    encoders.set(queue.schema, encode!)
  }
  return encode!
}
const decoderOf = (queue: Any) => {
  let decode = decoders.get(queue.schema)
  if (decode === undefined) {
    decode = Schema.decodeUnknownEffect(Schema.toCodecJson(queue.schema)) as never
    decoders.set(queue.schema, decode!)
  }
  return decode!
}

// A failure as the failure of any success type.
const failed = <E>(exit: Exit.Failure<unknown, E>): Exit.Exit<never, E> => exit as Exit.Exit<never, E>

// `f` of the effect's exit: at once when the effect is an Exit already (a synchronous parser's answer).
const settle = <A, E, B, E2, R>(
  effect: Effect.Effect<A, E>,
  f: (exit: Exit.Exit<A, E>) => Effect.Effect<B, E2, R>
): Effect.Effect<B, E2, R> =>
  Exit.isExit(effect) ? f(effect as Exit.Exit<A, E>) : Effect.flatMap(Effect.exit(effect), f)

// The counters of a queue, made once per queue name (`Metric.withAttributes` builds a new metric).
const enqueuedOf = new Map<string, Metric.Counter<number>>()
const enqueuedCounter = (queue: string) => {
  let counter = enqueuedOf.get(queue)
  if (counter === undefined) {
    counter = Metric.withAttributes(enqueuedTotal, { queue })
    enqueuedOf.set(queue, counter)
  }
  return counter
}

const unitOpenElsewhere = (backend: string) =>
  new Unsupported({
    operation: "JobQueue.enqueue",
    backend,
    detail:
      "a unit of work is open, and this queue's store does not share its transaction (another database, or the memory job store), so the job could not commit or roll back with it; keep the queue in the event store's database (the same SqlClient), or enqueue after the unit commits"
  })

/**
 * Enqueues a job and returns its id. With `key`, a pending or running job of the queue with the
 * same key is returned instead and nothing is written.
 *
 * Inside `UnitOfWork.transaction` the job commits with the unit (see the module documentation).
 * Fails with `InvalidArgument` (bad key, negative delay, `runAt` with `delay`, a priority that is
 * not an integer), `JobPayloadError` (data that does not encode), `Unsupported` (a unit of work of
 * another store is open) or `StoreUnavailable`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const enqueue = <A, I>(
  queue: Queue<A, I>,
  data: A,
  options?: EnqueueOptions
): Effect.Effect<string, EnqueueError, JobQueue> => enqueueWithId(queue, data, options, undefined)

// Checks and encodes a job: what the store writes. Plain code on the fiber (its clock and span), an
// Exit unless the queue's schema encodes asynchronously.
const prepare = <A, I>(
  queue: Queue<A, I>,
  data: A,
  options: EnqueueOptions | undefined,
  givenId: string | undefined
): Effect.Effect<JobStore.EnqueueInput, InvalidArgument | JobPayloadError> =>
  Effect.withFiber((fiber): Effect.Effect<JobStore.EnqueueInput, InvalidArgument | JobPayloadError> => {
    const operation = "JobQueue.enqueue"
    const name = checkName(operation, "queue name", queue?.name)
    if (Exit.isFailure(name)) return failed(name)
    const key = options?.key === undefined ? undefined : checkName(operation, "job key", options.key)
    if (key !== undefined && Exit.isFailure(key)) return failed(key)
    const priority = options?.priority ?? 0
    if (!Number.isInteger(priority) || Math.abs(priority) > maxPriority) {
      return Exit.fail(
        new InvalidArgument({
          operation,
          detail: `priority must be an integer between -${maxPriority} and ${maxPriority}`
        })
      )
    }
    const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    const runAt = dueTime(options, now)
    if (Exit.isFailure(runAt)) return failed(runAt)
    const span = fiber.cache.span?._tag === "Span" ? fiber.cache.span : undefined
    return settle(encoderOf(queue)(data), (encoded) =>
      Exit.isFailure(encoded)
        ? payloadError(encoded, name.value)
        : Exit.succeed({
          id: givenId ?? makeEventId(),
          queue: name.value,
          key: key?.value,
          payload: JSON.stringify(encoded.value),
          priority,
          runAt: runAt.value,
          now,
          traceId: span?.traceId,
          spanId: span?.spanId
        }))
  })

// A failed encode as the enqueue's error (a defect stays one).
const payloadError = (exit: Exit.Failure<unknown, Schema.SchemaError>, queue: string) => {
  const error = Exit.findErrorOption(exit)
  return Option.isNone(error)
    ? exit as Exit.Exit<never>
    : Exit.fail(new JobPayloadError({ queue, detail: error.value.message }))
}

// A producer span by the messaging conventions (send to the queue); the job's id is added once known.
// Made once per queue name, as the counters are.
const producerOptionsOf = new Map<string, { readonly kind: "producer"; readonly attributes: Record<string, unknown> }>()
const producerOptions = (queue: string | undefined) => {
  const destination = typeof queue === "string" ? queue : "(none)"
  let options = producerOptionsOf.get(destination)
  if (options === undefined) {
    options = {
      kind: "producer",
      attributes: Otel.messagingAttributes({ operationType: "send", operationName: "enqueue", destination })
    }
    // Bounded: names that never make a queue (bad input) must not grow it without end.
    if (producerOptionsOf.size < 1_000) producerOptionsOf.set(destination, options)
  }
  return options
}
const producerSpan = (queue: string | undefined) => Effect.withSpan("JobQueue.enqueue", producerOptions(queue), noStack)

const enqueueWithId = <A, I>(
  queue: Queue<A, I>,
  data: A,
  options: EnqueueOptions | undefined,
  givenId: string | undefined
): Effect.Effect<string, EnqueueError, JobQueue> =>
  Effect.useSpan("JobQueue.enqueue", producerOptions(queue?.name), (span) =>
    Effect.withParentSpan(
      settle(prepare(queue, data, options, givenId), (prepared): Effect.Effect<string, EnqueueError, JobQueue> =>
        Exit.isFailure(prepared) ? failed(prepared) : Effect.withFiber((fiber) => {
          const jobs = Context.get(fiber.context as Context.Context<JobQueue>, JobQueue)
          const input = prepared.value
          const write = Effect.map(jobs.store.enqueue(input), (result) => {
            if (result.created) {
              enqueuedCounter(input.queue).updateUnsafe(1, fiber.context)
              jobs.wake(input.queue)
            }
            span.attribute(Otel.Attr.messagingMessageId, result.id)
            span.attribute("strata.job.created", result.created)
            return result.id
          })
          // Inside a unit of work, the job must join its transaction.
          return fiber.getRef(UnitOfWork.Open)
            ? Effect.flatMap(
              jobs.store.inTransaction,
              (joined): Effect.Effect<string, EnqueueError> =>
                joined ? write : Exit.fail(unitOpenElsewhere(jobs.store.backend))
            )
            : write
        })),
      span,
      noStack
    ))

// ---------------------------------------------------------------------------------------------
// Jobs carried by an append
// ---------------------------------------------------------------------------------------------

/**
 * A job to enqueue with an append ({@link append}, {@link appendMany}, {@link put}).
 *
 * @category models
 * @since 0.1.0
 */
export interface Job<A = any, I = any> {
  readonly queue: Queue<A, I>
  readonly data: A
  readonly options?: EnqueueOptions | undefined
}

/**
 * A job to carry with an append: `JobQueue.append(stream, events, { jobs: [JobQueue.job(Mail, data)] })`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const job = <A, I>(queue: Queue<A, I>, data: A, options?: EnqueueOptions): Job<A, I> => ({
  queue,
  data,
  ...(options === undefined ? {} : { options })
})

/**
 * The jobs an append carries.
 *
 * @category models
 * @since 0.1.0
 */
export interface CarriedJobs {
  readonly jobs: ReadonlyArray<Job>
}

/**
 * What an append carrying jobs can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type CarryError = AppendError | EnqueueError

// Events without an id get one here, so the carried jobs' ids can derive from the first event's.
const withIds = (events: ReadonlyArray<NewEvent>): ReadonlyArray<NewEvent> =>
  Array.isArray(events)
    ? events.map((event) => withId(event))
    : events

const anchorOf = (events: ReadonlyArray<NewEvent>): string | undefined => {
  const first: unknown = Array.isArray(events) ? events[0] : undefined
  const id = typeof first === "object" && first !== null ? (first as NewEvent).id : undefined
  return typeof id === "string" ? id.toLowerCase() : undefined
}

const notAtomic = (operation: string, backend: string, detail: string) =>
  new Unsupported({ operation: `JobQueue.${operation}`, backend, detail })

// Writes `write` and enqueues `jobs` in one unit of work of the store. Job `i` gets the id
// `<first event id>.job-<i>`: an append repeated after a lost reply (the same event ids, answered as
// a replay without writing) finds its jobs stored and enqueues nothing twice.
const carry = <X, E>(
  operation: string,
  anchor: string | undefined,
  jobs: ReadonlyArray<Job>,
  write: Effect.Effect<X, E>
): Effect.Effect<X, E | EnqueueError, JobQueue | UnitOfWork.UnitOfWork> =>
  Effect.gen(function*() {
    const queues = yield* JobQueue
    const unit = yield* UnitOfWork.UnitOfWork
    if (!Array.isArray(jobs)) {
      return yield* new InvalidArgument({ operation: `JobQueue.${operation}`, detail: "jobs must be an array" })
    }
    if (anchor === undefined) {
      return yield* new InvalidArgument({
        operation: `JobQueue.${operation}`,
        detail: "jobs are carried by events: give at least one event"
      })
    }
    if (!unit.interactive) {
      // No transactions (D1): the jobs join the append's one atomic batch, when the queue is in
      // the same database.
      const backend = yield* Effect.serviceOption(Backend)
      const target = Option.isSome(backend) ? backend.value.jobBatch : undefined
      if (target === undefined || target !== queues.store.batchTarget) {
        return yield* notAtomic(
          operation,
          unit.backend,
          target === undefined
            ? "this backend has neither units of work nor append batches that carry jobs, so the jobs could not commit with the events; enqueue from a consumer (JobQueue.reaction) instead"
            : "the job queue is not in the event store's database (SqlJobs.layer over the store's own client), so its jobs cannot join the append's batch"
        )
      }
      const inputs = yield* Effect.forEach(jobs, (job, i) =>
        producerSpan(job?.queue?.name)(prepare(job?.queue, job?.data, job?.options, `${anchor}.job-${i}`)))
      const result = yield* Effect.provideService(write, JobStore.Carried, inputs)
      for (const input of inputs) {
        // A batch does not say which inserts a key or a replay skipped: count them all.
        yield* Metric.update(Metric.withAttributes(enqueuedTotal, { queue: input.queue }), 1)
        queues.wake(input.queue)
      }
      return result
    }
    return yield* unit.transaction(Effect.gen(function*() {
      if (!(yield* queues.store.inTransaction)) {
        return yield* notAtomic(
          operation,
          queues.store.backend,
          "the job queue's store does not share the event store's transactions (another database, or JobQueue.layerMemory), so the jobs could not commit with the events; keep the queue in the event store (SqlJobs.layer over its SqlClient, JobQueue.layerStore on memory)"
        )
      }
      const result = yield* write
      yield* Effect.forEach(
        jobs,
        (job, i) =>
          enqueueWithId(job?.queue, job?.data, job?.options, `${anchor}.job-${i}`),
        { discard: true }
      )
      return result
    }))
  }).pipe(
    Effect.withSpan(
      `JobQueue.${operation}`,
      { attributes: { "strata.jobs": Array.isArray(jobs) ? jobs.length : 0 } },
      noStack
    )
  )

/**
 * Appends events to one stream and enqueues `jobs` atomically with them: the jobs exist if and
 * only if the events committed (one transaction on SQLite and PostgreSQL, the memory store's unit
 * of work). The queue must live in the event store (`SqlJobs.layer` over its SqlClient,
 * {@link layerStore} on memory); otherwise it fails with `Unsupported` and writes nothing.
 *
 * Job `i` gets the id `<first event id>.job-<i>` (events without an id get one first), so an append
 * repeated with the same event ids after a lost reply enqueues nothing twice. On D1 (no
 * transactions) the jobs are inserted in the append's one atomic batch, when the queue is in the
 * same database (`SqlJobs.layer` over the store's client).
 *
 * @example
 * ```ts
 * import { Event, ExpectedVersion, JobQueue } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const Receipts = JobQueue.make("receipts", Schema.Struct({ order: Schema.String }))
 *
 * const placed = JobQueue.append("order-1", [Event.make("OrderPlaced", { total: 10 })], {
 *   expected: ExpectedVersion.noStream,
 *   jobs: [JobQueue.job(Receipts, { order: "order-1" }, { delay: "1 minute" })]
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const append = (
  stream: string,
  events: ReadonlyArray<NewEvent>,
  options: AppendOptions & CarriedJobs
): Effect.Effect<AppendResult, CarryError, EventStore | JobQueue | UnitOfWork.UnitOfWork> =>
  EventStore.use((store) => {
    const { jobs, ...appendOptions } = options
    const identified = withIds(events)
    return carry("append", anchorOf(identified), jobs, store.append(stream, identified, appendOptions))
  })

/**
 * {@link append} for several streams: the requests' appends (`EventStore.appendMany`) and `jobs`
 * commit together or not at all. Job ids derive from the first request's first event.
 *
 * @category combinators
 * @since 0.1.0
 */
export const appendMany = (
  requests: ReadonlyArray<AppendRequest>,
  options: CarriedJobs
): Effect.Effect<
  ReadonlyArray<AppendResult>,
  CarryError | InvalidArgument,
  EventStore | JobQueue | UnitOfWork.UnitOfWork
> =>
  EventStore.use((store) => {
    const identified = Array.isArray(requests)
      ? requests.map((request) =>
        typeof request === "object" && request !== null ? { ...request, events: withIds(request.events) } : request
      )
      : requests
    const first: unknown = Array.isArray(identified) ? identified[0] : undefined
    const anchor = typeof first === "object" && first !== null ? anchorOf((first as AppendRequest).events) : undefined
    return carry("appendMany", anchor, options?.jobs, store.appendMany(identified))
  })

/**
 * A document `put` with the events that produced it (`PutOptions.events`) and `jobs`, all
 * committed together or not at all (see {@link append}). Job ids derive from the first request's
 * first event.
 *
 * @category combinators
 * @since 0.1.0
 */
export const put = <A, I>(
  collection: Collection<A, I>,
  id: string,
  value: A,
  options: PutOptions & CarriedJobs
): Effect.Effect<PutResult, DocumentStoreError | EnqueueError, DocumentStore | JobQueue | UnitOfWork.UnitOfWork> =>
  DocumentStore.use((docs) => {
    const { jobs, ...putOptions } = options
    const events = Array.isArray(putOptions.events)
      ? putOptions.events.map((request) =>
        typeof request === "object" && request !== null ? { ...request, events: withIds(request.events) } : request
      )
      : putOptions.events
    const first: unknown = Array.isArray(events) ? events[0] : undefined
    const anchor = typeof first === "object" && first !== null ? anchorOf((first as AppendRequest).events) : undefined
    return carry("put", anchor, jobs, docs.put(collection, id, value, { ...putOptions, events }))
  })

/**
 * A consumer handler that enqueues a job for each event it is given ("on event X, enqueue job Y"):
 * `toJob` maps the event to the job's data, or to `undefined` for none. Run it as a `Consumer`'s
 * `handler` on a store whose consumer batches are transactional and whose database holds the queue
 * (SQLite, PostgreSQL): each batch's jobs commit with its checkpoint, so every event enqueues its
 * job exactly once. Elsewhere the consumer's batch is not a unit of work and the handler enqueues
 * at least once per event; give `options.key` (the event id, say) to de-duplicate the repeats that
 * arrive while the first job is still pending.
 *
 * @example
 * ```ts
 * import { Consumer, JobQueue } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * const Receipts = JobQueue.make("receipts", Schema.Struct({ order: Schema.String }))
 *
 * const receipts = Consumer.run("receipts", {
 *   filter: { types: ["OrderPlaced"] },
 *   handler: JobQueue.reaction(Receipts, (event) => ({ order: event.stream }))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const reaction = <A, I>(
  queue: Queue<A, I>,
  toJob: (event: RecordedEvent) => A | undefined,
  options?: {
    readonly key?: ((event: RecordedEvent) => string) | undefined
    readonly enqueue?: ((event: RecordedEvent) => Omit<EnqueueOptions, "key">) | undefined
  }
) =>
(event: RecordedEvent): Effect.Effect<void, EnqueueError, JobQueue> =>
  Effect.suspend(() => {
    const data = toJob(event)
    if (data === undefined) return Effect.void
    return Effect.asVoid(
      enqueue(queue, data, { ...options?.enqueue?.(event), key: options?.key?.(event) })
    )
  })

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

/**
 * What a handler is told about the job it runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface JobInfo {
  readonly id: string
  readonly queue: string
  readonly key: string | undefined
  /** 1 on the first run. */
  readonly attempt: number
  readonly priority: number
  /** When it was enqueued and when it was due, epoch milliseconds. */
  readonly enqueuedAt: number
  readonly runAt: number
}

/**
 * How a worker runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkerOptions {
  /** Jobs run at once by this worker. Default 1. */
  readonly concurrency?: number | undefined
  /**
   * How long a taken job stays leased without a renewal (the visibility timeout): a worker that
   * dies holds its jobs this long. Renewed every third of it while the handler runs. Default 30 s.
   */
  readonly lease?: Duration.Input | undefined
  /** The delay before each retry, by attempt number. Default exponential from 1 s, at most 5 min. */
  readonly retry?: Schedule.Schedule<unknown, number> | undefined
  /** Runs after which a failing job is dead (every take counts, see the module docs). Default 10. */
  readonly maxAttempts?: number | undefined
  /** How often an idle worker looks for due jobs (jobs enqueued in this process wake it at once). Default 500 ms. */
  readonly pollInterval?: Duration.Input | undefined
  /** How often the worker samples the queue's depth gauges. Default 5 s. */
  readonly statsInterval?: Duration.Input | undefined
  /** The worker's name in leases (a random suffix is added). Default `worker`. */
  readonly name?: string | undefined
  /**
   * Jobs a worker may take ahead of its free slots, so that one take fetches several slots' worth
   * where a statement costs more than a job (SQLite). A job taken ahead is leased (renewed, other
   * workers cannot take it) and its attempt counted until a slot starts it; a worker that stops gives
   * such jobs back uncounted, one that dies holds them until their leases expire. Only as many as the
   * slots start within ~50 ms at the pace of the worker's recent runs are taken ahead (none before a
   * run has ended), so slow handlers take none. Default: the store's (`JobStore.prefetch` per slot,
   * at most 64: 3 on SQLite, 0 elsewhere). 0 takes only what the free slots run at once.
   */
  readonly prefetch?: number | undefined
}

const defaultRetry: Schedule.Schedule<unknown, number> = Schedule.min([
  Schedule.exponential("1 second"),
  Schedule.spaced("5 minutes")
]) as never

// The attempt count is the schedule's state: a job's retries can run in different processes, so the
// schedule is replayed from the start up to the attempt (as effect's PersistedQueue does).
const retryDelay = (schedule: Schedule.Schedule<unknown, number>, attempt: number) =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    let now = 0
    let delay: Duration.Duration | undefined = Duration.zero
    for (let i = 0; i < attempt; i++) {
      const result = yield* Pull.catchDone(step(now, i + 1), () => Effect.undefined)
      if (result === undefined) {
        delay = undefined
        break
      }
      delay = result[1]
      now += Duration.toMillis(delay)
    }
    return delay
  })

const maxErrorLength = 8_000
const describe = (cause: Cause.Cause<unknown>) => {
  const text = Cause.pretty(cause)
  return text.length > maxErrorLength ? `${text.slice(0, maxErrorLength)}...` : text
}

const positive = (operation: string, name: string, value: number) =>
  Number.isInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.fail(new InvalidArgument({ operation, detail: `${name} must be a positive integer (got ${value})` }))

const nonNegative = (operation: string, name: string, value: number) =>
  Number.isInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.fail(new InvalidArgument({ operation, detail: `${name} must be a non-negative integer (got ${value})` }))

// A worker takes ahead only what its slots start within this long at the pace of its recent runs;
// completions wait at most this long for those of the jobs taken ahead, and at most this many.
const aheadWindowMs = 50
const maxDefaultPrefetch = 64
const maxDeferred = 128

const durationOption = (
  operation: string,
  name: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration
) => {
  if (input === undefined) return Effect.succeed(fallback)
  const duration = Duration.fromInput(input)
  return Option.isSome(duration) && Duration.isFinite(duration.value) && Duration.toMillis(duration.value) >= 1
    ? Effect.succeed(duration.value)
    : Effect.fail(new InvalidArgument({ operation, detail: `${name} must be a finite duration of at least 1 ms` }))
}

/**
 * Starts a worker for `queue` in the current scope and returns once it runs: it takes due jobs
 * (up to `concurrency` at once), runs `handler` on each under a lease it renews, and records the
 * outcome: succeeded; failed and due again after the `retry` schedule's delay; or, after
 * `maxAttempts` runs (or when the stored payload no longer decodes, or the schedule ends), dead with
 * the last error. Closing the scope interrupts the running handlers and puts their jobs back as due.
 *
 * A handler's failures and defects both count as failed runs. A worker whose lease was taken over
 * (it stalled past the lease) interrupts that handler, and its outcome is discarded. Store outages
 * are retried with backoff; the worker never dies of them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const worker = <A, I, E, R>(
  queue: Queue<A, I>,
  handler: (data: A, job: JobInfo) => Effect.Effect<unknown, E, R>,
  options?: WorkerOptions
): Effect.Effect<void, InvalidArgument | StoreUnavailable, JobQueue | R | Scope.Scope> =>
  Effect.gen(function*() {
    const operation = "JobQueue.worker"
    const jobs = yield* JobQueue
    const { store } = jobs
    const name = yield* checkName(operation, "queue name", queue.name)
    const concurrency = yield* positive(operation, "concurrency", options?.concurrency ?? 1)
    const maxAttempts = yield* positive(operation, "maxAttempts", options?.maxAttempts ?? 10)
    const lease = yield* durationOption(operation, "lease", options?.lease, Duration.seconds(30))
    const pollInterval = yield* durationOption(operation, "pollInterval", options?.pollInterval, Duration.millis(500))
    const statsInterval = yield* durationOption(operation, "statsInterval", options?.statsInterval, Duration.seconds(5))
    const prefetch = yield* nonNegative(
      operation,
      "prefetch",
      options?.prefetch ?? Math.min(maxDefaultPrefetch, concurrency * (store.prefetch ?? 0))
    )
    const schedule = options?.retry ?? defaultRetry
    const leaseMs = Duration.toMillis(lease)
    const owner = `${options?.name ?? "worker"}-${makeEventId()}`
    // `messaging.consumer.group.name`: the workers that share a name compete for the queue's jobs.
    const group = options?.name ?? name
    const attributes = { queue: name }
    const metrics = {
      started: Metric.withAttributes(startedTotal, attributes),
      succeeded: Metric.withAttributes(succeededTotal, attributes),
      failed: Metric.withAttributes(failedTotal, attributes),
      dead: Metric.withAttributes(deadTotal, attributes),
      depth: Metric.withAttributes(depth, attributes),
      age: Metric.withAttributes(oldestDueAgeSeconds, attributes)
    }
    const decode = decoderOf(queue)

    // Store outages: retried with backoff for as long as they last, logged.
    const outages = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])
    const persist = <X>(effect: Effect.Effect<X, StoreUnavailable>) =>
      Effect.catchTag(effect, "StoreUnavailable", (error) =>
        effect.pipe(
          Effect.tapError((error) => Effect.logWarning(`job queue ${name}: ${error.message}`)),
          Effect.retry(outages),
          Effect.tap(() => Effect.logInfo(`job queue ${name}: the store answers again after ${error.message}`))
        ))

    // The jobs this worker holds, from their take until their outcome is written: renewed together
    // by one heartbeat (below), and released if the worker stops first. `span` is the run's span
    // (none while the job waits, taken ahead, for a slot), ended once the outcome is written (or the
    // job released); `startedAt` when its run started.
    interface Held {
      readonly take: JobStore.Take
      span: Tracer.Span | undefined
      fiber: Fiber.Fiber<unknown, unknown> | undefined
      startedAt: number
    }
    const held = new Map<string, Held>()
    const { clock, timing } = yield* Effect.withFiber((fiber) =>
      Effect.succeed({ clock: fiber.getRef(Clock.Clock), timing: fiber.getRef(References.TracerTimingEnabled) })
    )
    // The run is over for this worker: the job leaves `held` and its span ends, as `useSpan` ends one.
    const settled = (entry: Held, outcome: string | undefined, exit: Exit.Exit<unknown, unknown>) => {
      if (held.get(entry.take.id) === entry) held.delete(entry.take.id)
      if (entry.span === undefined || entry.span.status._tag === "Ended") return
      if (outcome !== undefined) entry.span.attribute("strata.job.outcome", outcome)
      entry.span.end(timing ? clock.currentTimeNanosUnsafe() : BigInt(0), exit)
    }

    // Jobs taken and not started yet, in take order: held (so renewed, and given back if the worker
    // stops), started as slots free.
    let ahead: ReadonlyArray<JobStore.TakenJob> = []

    // Completions are written together: one statement for every job that finished while the
    // previous one was in flight, or in the same turn of the scheduler (a group commit: no added
    // wait, fewer statements when busy; on a synchronous client such as SQLite's nothing finishes
    // while a statement runs, so the turn is what groups them). While jobs taken ahead wait, they
    // start in the slots these runs freed at once, so their completions join the same statement:
    // until none waits ahead, for at most the take-ahead window after the first one deferred (the
    // poll looks again should no run end meanwhile). A handler that succeeded hands its job over and
    // its fiber ends: nothing waits per job for the statement.
    const completions: Array<Held> = []
    const flushing = yield* Latch.make(false)
    let deferredAt: number | undefined
    const complete = (batch: ReadonlyArray<Held>) =>
      Effect.gen(function*() {
        const ids = yield* persist(
          Effect.flatMap(JobStore.now, (now) => store.completeMany(batch.map((entry) => entry.take), now))
        )
        if (ids.size > 0) yield* Metric.update(metrics.succeeded, ids.size)
        for (const entry of batch) settled(entry, ids.has(entry.take.id) ? "succeeded" : "lease lost", Exit.void)
      })
    const flusher = Effect.gen(function*() {
      while (true) {
        yield* flushing.await
        yield* flushing.close
        yield* Effect.yieldNow
        if (completions.length === 0) continue
        if (ahead.length > 0 && completions.length < maxDeferred) {
          const now = clock.currentTimeMillisUnsafe()
          deferredAt ??= now
          if (now - deferredAt < aheadWindowMs) continue
        }
        deferredAt = undefined
        // Left in `completions` until written: a worker stopped mid-statement writes them again
        // (fenced: a completion that did commit changes nothing the second time).
        const batch = completions.slice()
        yield* complete(batch)
        completions.splice(0, batch.length)
      }
    })

    yield* persist(JobStore.now.pipe(Effect.flatMap((now) => store.declare(name, now))))

    const wake = yield* Latch.make(false)
    yield* jobs.listen(name, wake)
    let active = 0

    // The run spans' attributes shared by every job of this worker; each run adds its id and attempt.
    const runOptions = {
      kind: "consumer" as const,
      root: true,
      attributes: Otel.messagingAttributes({ operationType: "process", destination: name, group })
    }

    // A failed run: due again after the retry schedule's delay, or dead.
    const finish = (
      job: JobStore.TakenJob,
      entry: Held,
      error: string,
      retryable: boolean
    ) =>
      Effect.gen(function*() {
        yield* Metric.update(metrics.failed, 1)
        const delay = retryable && job.attempt < maxAttempts ? yield* retryDelay(schedule, job.attempt) : undefined
        const now = yield* JobStore.now
        const retryAt = delay === undefined ? undefined : now + Math.ceil(Duration.toMillis(delay))
        const recorded = yield* persist(store.fail(entry.take, { now, error, retryAt }))
        if (recorded && retryAt === undefined) yield* Metric.update(metrics.dead, 1)
        settled(entry, retryAt === undefined ? "dead" : "retry", Exit.void)
      })

    // One run: decode (plain code for a synchronous schema), the handler, then the outcome. Runs in
    // the job's own fiber, under its span.
    const process = (job: JobStore.TakenJob, entry: Held): Effect.Effect<void, StoreUnavailable> => {
      // Taken again after its last attempt (that run's worker died holding it): dead, not run.
      if (job.attempt > maxAttempts) {
        return finish(
          job,
          entry,
          `taken again after its last attempt (${maxAttempts}) ended without an outcome: its worker died or lost the lease while running it`,
          false
        )
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(job.payload)
      } catch (cause) {
        const error = new JobPayloadError({ queue: name, id: job.id, detail: `not JSON: ${String(cause)}` })
        return finish(job, entry, error.message, false)
      }
      return settle(decode(parsed), (decoded) => {
        if (Exit.isFailure(decoded)) {
          const error = new JobPayloadError({ queue: name, id: job.id, detail: Cause.pretty(decoded.cause) })
          return finish(job, entry, error.message, false)
        }
        const info: JobInfo = {
          id: job.id,
          queue: name,
          key: job.key,
          attempt: job.attempt,
          priority: job.priority,
          enqueuedAt: job.createdAt,
          runAt: job.runAt
        }
        // The handler's services: the job's fiber descends from the worker's, whose context has them.
        return Effect.matchCauseEffect(handler(decoded.value as A, info) as Effect.Effect<unknown, E>, {
          onSuccess: (): Effect.Effect<void, StoreUnavailable> => {
            completions.push(entry)
            flushing.openUnsafe()
            return Effect.void
          },
          onFailure: (cause): Effect.Effect<void, StoreUnavailable> => {
            // Interrupted from inside: no outcome; the lease expires and the job runs again.
            if (Cause.hasInterruptsOnly(cause)) {
              settled(entry, undefined, Exit.void)
              return Effect.void
            }
            entry.span!.attribute("strata.job.error", Cause.pretty(cause).slice(0, 500))
            return finish(job, entry, describe(cause), true)
          }
        })
      })
    }

    const sampleStats = Effect.gen(function*() {
      const now = yield* JobStore.now
      const stats = yield* store.stats(name, now)
      yield* Metric.update(metrics.depth, stats.due)
      yield* Metric.update(
        metrics.age,
        stats.oldestDueAt === undefined ? 0 : Math.max(0, now - stats.oldestDueAt) / 1000
      )
    }).pipe(Effect.catchTag("StoreUnavailable", () => Effect.void))

    // Slots are refilled in batches (half the concurrency at least) while jobs run, so a busy worker
    // takes several jobs per statement instead of one per finished job. A slot is free once its
    // handler is done (its completion may still be queued).
    const batch = Math.ceil(concurrency / 2)
    // How long a run takes, a moving average (ms): what bounds the jobs taken ahead.
    let pace: number | undefined
    const ended = (entry: Held) => (exit: Exit.Exit<unknown, unknown>) => {
      active--
      const took = clock.currentTimeMillisUnsafe() - entry.startedAt
      pace = pace === undefined ? took : pace + (took - pace) / 8
      // A run that died outside its handler (a defect of the store): no outcome, its span ends with it.
      // An interrupted one stays held: the worker is stopping (it is released then) or the heartbeat
      // already dropped it.
      if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) settled(entry, undefined, exit)
      // Wake the loop once a batch of slots is free, not for every finished job.
      if (active === 0 || concurrency - active >= batch) wake.openUnsafe()
    }
    // Jobs to take ahead of the free slots: what the slots start within the window at the recent
    // pace, at most `prefetch`; none until a run has ended.
    const aheadLimit = () =>
      prefetch === 0 || pace === undefined
        ? 0
        : Math.min(prefetch, Math.floor(concurrency * aheadWindowMs / Math.max(pace, 0.01)))
    // Starts jobs taken ahead in the free slots.
    const startAhead = Effect.gen(function*() {
      let next = 0
      // Started: every take but those after their last attempt (they are dead without running).
      let started = 0
      while (active < concurrency && next < ahead.length) {
        const job = ahead[next++]
        const entry = held.get(job.id)
        // Its lease was lost while it waited (the heartbeat dropped it).
        if (entry === undefined) continue
        active++
        if (job.attempt <= maxAttempts) started++
        // A root span (the job runs later, perhaps in another process), linked to the span that
        // enqueued it when the job stored a valid trace context.
        const span = yield* Effect.makeSpan("JobQueue.process", { ...runOptions, links: linkOf(job) })
        span.attribute(Otel.Attr.messagingMessageId, job.id)
        span.attribute("strata.job.attempt", job.attempt)
        entry.span = span
        entry.startedAt = clock.currentTimeMillisUnsafe()
        const fiber = yield* Effect.forkChild(Effect.withParentSpan(process(job, entry), span, noStack))
        entry.fiber = fiber
        fiber.addObserver(ended(entry))
      }
      ahead = next === ahead.length ? [] : ahead.slice(next)
      if (started > 0) yield* Metric.update(metrics.started, started)
    })
    // An expired lease is already a lease late: looking for them at every poll (a statement, and on
    // SQLite a write lock, each time) buys little. Once per poll interval, but no more often than a
    // quarter of the lease or once a second, whichever is shorter.
    const reclaimMs = Math.max(Duration.toMillis(pollInterval), Math.min(leaseMs / 4, 1_000))
    let reclaimedAt = 0
    const loop = Effect.gen(function*() {
      while (true) {
        // Closed before looking: a wake-up from here on is kept for the wait below.
        yield* wake.close
        // Jobs finishing in this turn of the scheduler free their slots first: one take for them all.
        yield* Effect.yieldNow
        if (ahead.length > 0) yield* startAhead
        const free = concurrency - active
        let took = 0
        let limit = 0
        if (ahead.length === 0 && free > 0 && (active === 0 || free >= batch)) {
          const now = yield* JobStore.now
          // Jobs of workers that died are looked for once per reclaim interval.
          const reclaim = now - reclaimedAt >= reclaimMs
          if (reclaim) reclaimedAt = now
          limit = free + aheadLimit()
          const taken = yield* persist(
            store.take({ queue: name, owner, now, leaseExpiresAt: now + leaseMs, limit, reclaim })
          )
          took = taken.length
          for (const job of taken) {
            held.set(job.id, {
              take: { id: job.id, owner, attempt: job.attempt },
              span: undefined,
              fiber: undefined,
              startedAt: 0
            })
          }
          ahead = taken
          yield* startAhead
        }
        // Took a full batch: there may be more due at once. Otherwise wait for the poll, an enqueue
        // in this process, or a batch of free slots.
        if (took === 0 || took < limit || concurrency - active < batch) yield* wake.await
      }
    })

    // Every third of the lease, the held jobs' leases are renewed. A job whose lease was lost (this
    // worker stalled past it and another took the job) is interrupted: its outcome no longer counts.
    const heartbeat = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(Duration.millis(Math.max(1, Math.floor(leaseMs / 3))))
        for (const [id, entry] of Array.from(held)) {
          const now = yield* JobStore.now
          const renewed = yield* store.renew(entry.take, now + leaseMs).pipe(
            Effect.catchTag("StoreUnavailable", () => Effect.succeed(true))
          )
          if (!renewed && held.get(id) === entry) {
            yield* Effect.logWarning(`job ${id} of queue ${name}: lease lost, stopping its handler`)
            settled(entry, "lease lost", Exit.void)
            if (entry.fiber !== undefined) yield* Effect.forkDetach(Fiber.interrupt(entry.fiber))
          }
        }
      }
    })

    // The gauges are set once before the worker starts, then every statsInterval.
    yield* sampleStats
    // Closing the scope stops the poll and the loop (interrupting the handlers) and then the flusher;
    // last, the completions not written yet are written, and every job still held (its handler
    // interrupted, its completion not written, or taken ahead and never started) is released, due
    // again at once for any worker: at least once, and a closing worker never waits on a store that
    // is down (one attempt each).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        ahead = []
        const done = completions.splice(0, completions.length)
        if (done.length > 0) {
          const now = yield* JobStore.now
          const ids = yield* Effect.orElseSucceed(
            store.completeMany(done.map((entry) => entry.take), now),
            () => new Set<string>()
          )
          if (ids.size > 0) yield* Metric.update(metrics.succeeded, ids.size)
          for (const entry of done) if (ids.has(entry.take.id)) settled(entry, "succeeded", Exit.void)
        }
        yield* Effect.forEach(Array.from(held.values()), (entry) =>
          // A job taken ahead and never started goes back with its attempt uncounted.
          Effect.flatMap(JobStore.now, (now) => store.release(entry.take, now, { unstarted: entry.span === undefined }))
            .pipe(
              Effect.ignore,
              Effect.ensuring(Effect.sync(() => settled(entry, "released", Exit.interrupt())))
            ), { discard: true })
      })
    )
    yield* Effect.forkScoped(flusher)
    yield* Effect.forkScoped(heartbeat)
    yield* Effect.forkScoped(loop)
    // The poll: wakes the loop every pollInterval (jobs enqueued elsewhere, due times, expired leases).
    yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(Effect.sleep(pollInterval), Effect.andThen(wake.open, flushing.open)))
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(statsInterval), sampleStats)))
  }).pipe(
    Effect.withSpan("JobQueue.worker", {
      attributes: {
        [Otel.Attr.messagingSystem]: Otel.messagingSystem,
        [Otel.Attr.messagingDestinationName]: queue?.name,
        ...(options?.name === undefined ? {} : { [Otel.Attr.messagingConsumerGroupName]: options.name })
      }
    })
  )

/**
 * {@link worker} as a layer: the worker runs for the layer's lifetime.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWorker = <A, I, E, R>(
  queue: Queue<A, I>,
  handler: (data: A, job: JobInfo) => Effect.Effect<unknown, E, R>,
  options?: WorkerOptions
): Layer.Layer<never, InvalidArgument | StoreUnavailable, JobQueue | R> =>
  Layer.effectDiscard(worker(queue, handler, options))

// ---------------------------------------------------------------------------------------------
// Administration
// ---------------------------------------------------------------------------------------------

const knownQueue = (operation: string, queue: string) =>
  Effect.gen(function*() {
    const { store } = yield* JobQueue
    yield* checkName(operation, "queue name", queue)
    const known = yield* store.queues
    if (!known.includes(queue)) return yield* new UnknownQueue({ queue, known: [...known] })
  })

const traced = (name: string, attributes: Record<string, unknown> = {}) =>
  Effect.withSpan(`JobQueue.${name}`, {
    attributes: { [Otel.Attr.messagingSystem]: Otel.messagingSystem, ...attributes }
  })

/**
 * One job by id.
 *
 * @category combinators
 * @since 0.1.0
 */
export const get = (id: string): Effect.Effect<JobStore.JobRecord, JobNotFound | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const found = yield* (yield* JobQueue).store.get(id)
    if (Option.isNone(found)) return yield* new JobNotFound({ id })
    return found.value
  }).pipe(traced("get", { "messaging.message.id": id }))

/**
 * Which jobs {@link list} and {@link purge} select: by queue, states, and last change before a time.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListOptions {
  readonly queue?: string | undefined
  readonly states?: ReadonlyArray<JobStore.JobState> | undefined
  /** Only jobs last changed before this time. */
  readonly before?: Date | number | undefined
  /** At most this many (default 100 for list, everything for purge). */
  readonly limit?: number | undefined
}

const selection = (operation: string, options: ListOptions, limit: number | undefined) =>
  Effect.gen(function*() {
    if (options.queue !== undefined) yield* knownQueue(operation, options.queue)
    for (const state of options.states ?? []) {
      if (!JobStore.states.includes(state)) {
        return yield* new InvalidArgument({
          operation,
          detail: `unknown job state ${JSON.stringify(state)}; states are ${JobStore.states.join(", ")}`
        })
      }
    }
    if (limit !== undefined) yield* positive(operation, "limit", limit)
    const before = options.before instanceof Date ? options.before.getTime() : options.before
    return { queue: options.queue, states: options.states, before, limit } satisfies JobStore.Selection
  })

/**
 * Jobs in the order they were enqueued, filtered by queue and states.
 *
 * @category combinators
 * @since 0.1.0
 */
export const list = (
  options: ListOptions = {}
): Effect.Effect<ReadonlyArray<JobStore.JobRecord>, InvalidArgument | UnknownQueue | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const selected = yield* selection("JobQueue.list", options, options.limit ?? 100)
    return yield* (yield* JobQueue).store.list(selected)
  }).pipe(traced("list", options.queue === undefined ? {} : { "messaging.destination.name": options.queue }))

/**
 * A queue's dead letters (jobs that failed `maxAttempts` times, with their last error).
 *
 * @category combinators
 * @since 0.1.0
 */
export const deadLetters = (
  queue: string,
  options: { readonly limit?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<JobStore.JobRecord>, InvalidArgument | UnknownQueue | StoreUnavailable, JobQueue> =>
  list({ queue, states: ["dead"], limit: options.limit })

/**
 * Makes a dead (or cancelled) job pending again, due now, with its attempts reset.
 *
 * @category combinators
 * @since 0.1.0
 */
export const retry = (
  id: string
): Effect.Effect<void, JobNotFound | JobStateConflict | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const jobs = yield* JobQueue
    const job = yield* get(id)
    const retried = yield* jobs.store.retry(id, yield* JobStore.now)
    if (!retried) {
      const now = yield* jobs.store.get(id)
      const state = Option.isSome(now) ? now.value.state : job.state
      return yield* new JobStateConflict({
        id,
        operation: "JobQueue.retry",
        state,
        detail: state === "dead" || state === "cancelled"
          ? "another job of its queue with the same key is pending or running"
          : "only dead or cancelled jobs can be retried"
      })
    }
    jobs.wake(job.queue)
  }).pipe(traced("retry", { "messaging.message.id": id }))

/**
 * Retries every dead letter of a queue; returns how many.
 *
 * @category combinators
 * @since 0.1.0
 */
export const retryDead = (
  queue: string
): Effect.Effect<number, InvalidArgument | UnknownQueue | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const jobs = yield* JobQueue
    const dead = yield* jobs.store.list(yield* selection("JobQueue.retryDead", { queue, states: ["dead"] }, undefined))
    let retried = 0
    for (const job of dead) if (yield* jobs.store.retry(job.id, yield* JobStore.now)) retried++
    if (retried > 0) jobs.wake(queue)
    return retried
  }).pipe(traced("retryDead", { "messaging.destination.name": queue }))

/**
 * Cancels a pending job: it will not run. A running or finished job cannot be cancelled.
 *
 * @category combinators
 * @since 0.1.0
 */
export const cancel = (
  id: string
): Effect.Effect<void, JobNotFound | JobStateConflict | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const jobs = yield* JobQueue
    yield* get(id)
    if (!(yield* jobs.store.cancel(id, yield* JobStore.now))) {
      const job = yield* get(id)
      return yield* new JobStateConflict({
        id,
        operation: "JobQueue.cancel",
        state: job.state,
        detail: "only pending jobs can be cancelled"
      })
    }
  }).pipe(traced("cancel", { "messaging.message.id": id }))

/**
 * Deletes finished jobs (succeeded, dead, cancelled; default: all three) matching `options`;
 * returns how many. Pending and running jobs are never purged.
 *
 * @category combinators
 * @since 0.1.0
 */
export const purge = (
  options: ListOptions = {}
): Effect.Effect<number, InvalidArgument | UnknownQueue | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    const states = (options.states ?? ["succeeded", "dead", "cancelled"]).filter(JobStore.isFinished)
    if (states.length === 0) return 0
    const selected = yield* selection("JobQueue.purge", { ...options, states }, options.limit)
    return yield* (yield* JobQueue).store.purge(selected)
  }).pipe(traced("purge", options.queue === undefined ? {} : { "messaging.destination.name": options.queue }))

/**
 * A queue's depth: pending, due, running and dead jobs, and when the oldest due job became due.
 *
 * @category combinators
 * @since 0.1.0
 */
export const stats = (
  queue: string
): Effect.Effect<JobStore.QueueStats, InvalidArgument | UnknownQueue | StoreUnavailable, JobQueue> =>
  Effect.gen(function*() {
    yield* knownQueue("JobQueue.stats", queue)
    return yield* (yield* JobQueue).store.stats(queue, yield* JobStore.now)
  }).pipe(traced("stats", { "messaging.destination.name": queue }))

/**
 * The queues the store knows (those with jobs, or declared by a worker).
 *
 * @category combinators
 * @since 0.1.0
 */
export const queues: Effect.Effect<ReadonlyArray<string>, StoreUnavailable, JobQueue> = JobQueue.use((jobs) =>
  jobs.store.queues
).pipe(traced("queues"))
