/**
 * Effect's `WorkflowEngine` (`effect/workflow`) durable on a Strata store: `Workflow.make`
 * programs resume after a process restart, on every backend whose layer provides an `EventStore`,
 * a `LeaseStore` and a `JobQueue` (memory, SQLite, PostgreSQL).
 *
 * - History: each execution's events in its own stream (see {@link WorkflowHistory}). A run replays
 *   the workflow from the start; recorded activities return their recorded result without running,
 *   recorded deferreds and clocks are done.
 * - Runs: a job on the workflow's queue (`workflow/<name>`), taken by the worker that `register`
 *   starts in the registering process, so only processes that know a workflow run it. A run that
 *   dies with its process (SIGKILL) is taken again when its job lease expires.
 * - One run at a time: a run holds the lease `workflow/<executionId>` (`Lease.holding`) for its
 *   whole replay, so two processes never execute one execution's activities at once; a run whose
 *   lease is lost is interrupted before the lease expires. A late append from such a run cannot
 *   change the history: the first record of each activity, deferred and clock wins.
 * - Wake-ups: a durable clock is a job due at its wake time (keyed, so replays schedule it once);
 *   a completed deferred appends `DeferredCompleted` and enqueues a run.
 *
 * Activities run at least once: one killed after its effect and before its record runs again on
 * the next run. Give side-effecting activities an idempotency key (the execution id and activity
 * name) where the effect must apply once.
 *
 * @example
 * ```ts
 * import { JobQueue, MemoryStore, StrataWorkflowEngine } from "@strata/core"
 * import { Effect, Layer, Schema } from "effect"
 * import { Activity, Workflow } from "effect/workflow"
 *
 * const Greet = Workflow.make("Greet", { payload: { name: Schema.String }, success: Schema.String, idempotencyKey: (p) => p.name })
 *
 * const GreetLive = Greet.toLayer(({ name }) =>
 *   Activity.make({ name: "say", success: Schema.String, execute: Effect.succeed(`hello ${name}`) })
 * )
 *
 * const program = Greet.execute({ name: "ada" }).pipe(
 *   Effect.provide(GreetLive.pipe(
 *     Layer.provideMerge(StrataWorkflowEngine.layer()),
 *     Layer.provide(Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))
 *   ))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Workflow from "effect/workflow/Workflow"
import * as WorkflowEngine from "effect/workflow/WorkflowEngine"
import { LeaseStore } from "../backend/LeaseStore.ts"
import * as Otel from "../backend/Otel.ts"
import { EventStore } from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import * as JobQueue from "../jobs/JobQueue.ts"
import * as Lease from "../processing/Lease.ts"
import type { InvalidArgument, StoreUnavailable } from "../StoreError.ts"
import * as WorkflowHistory from "./WorkflowHistory.ts"

/**
 * How the engine runs workflows.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Runs at once per registered workflow in this process. Default 8. */
  readonly concurrency?: number | undefined
  /** The per-execution lease's TTL: how long a dead process holds an execution. Default 15 s. */
  readonly lease?: Duration.Input | undefined
  /** The run jobs' lease (visibility timeout) and the wait before a killed run is taken again. Default 15 s. */
  readonly jobLease?: Duration.Input | undefined
  /** How often idle workers look for due runs (runs enqueued in this process wake them at once). Default 500 ms. */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * How often a caller waiting in `execute` reads the history for a result completed by another
   * process (completions in this process wake it at once). Every waiting caller reads, so keep it
   * well above `pollInterval` when many wait. Default 1 s.
   */
  readonly resultPollInterval?: Duration.Input | undefined
}

const AnyOrVoid = Schema.Union([Schema.Undefined, Schema.Any])
const ActivityResultJson = Schema.toCodecJson(Workflow.Result({ success: AnyOrVoid, error: AnyOrVoid }))
const encodeActivityResult = Schema.encodeEffect(ActivityResultJson)
const decodeActivityResult = Schema.decodeUnknownEffect(ActivityResultJson)
const encodeExit = Schema.encodeEffect(WorkflowHistory.ExitJson)
const decodeExit = Schema.decodeUnknownEffect(WorkflowHistory.ExitJson)

// The attributes every workflow span carries: which workflow, which execution.
const workflowAttributes = (workflow: string, executionId: string) => ({
  [Otel.Attr.workflowName]: workflow,
  [Otel.Attr.workflowExecutionId]: executionId
})

/** What a job on a workflow's queue asks: run (replay) an execution, or fire one of its clocks. */
const Task = Schema.Union([
  Schema.TaggedStruct("Run", { executionId: Schema.String }),
  Schema.TaggedStruct("Clock", { executionId: Schema.String, deferred: Schema.String })
])

/**
 * The job queue that carries a workflow's runs and clocks.
 *
 * @category constructors
 * @since 0.1.0
 */
export const queueFor = (workflow: string): JobQueue.Queue<typeof Task.Type, typeof Task.Encoded> =>
  JobQueue.make(`workflow/${workflow}`, Task)

const codecsOf = (workflow: Workflow.Any) => {
  const w = workflow as Workflow.AnyWithProps
  const result = Schema.toCodecJson(Workflow.Result({ success: w.successSchema, error: w.errorSchema }))
  const payload = Schema.toCodecJson(w.payloadSchema)
  return {
    encodePayload: Schema.encodeUnknownEffect(payload) as (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>,
    decodePayload: Schema.decodeUnknownEffect(payload) as (u: unknown) => Effect.Effect<object, Schema.SchemaError>,
    encodeResult: Schema.encodeUnknownEffect(result) as (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>,
    decodeResult: Schema.decodeUnknownEffect(result) as (
      u: unknown
    ) => Effect.Effect<Workflow.Result<unknown, unknown>, Schema.SchemaError>
  }
}

/**
 * Builds the engine over the store in context. Closing the scope stops its workers; runs in flight
 * are interrupted and taken again later (here or elsewhere).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const leases = yield* LeaseStore
    const jobs = yield* JobQueue.JobQueue
    const engineScope = yield* Effect.scope
    const concurrency = options?.concurrency ?? 8
    const leaseOptions: Lease.HoldingOptions = { ttl: options?.lease ?? "15 seconds" }
    yield* Lease.checkOptions("StrataWorkflowEngine.layer", leaseOptions)
    const jobLease = options?.jobLease ?? "15 seconds"
    const pollInterval = Duration.fromInputUnsafe(options?.pollInterval ?? "500 millis")
    const resultPollInterval = Duration.fromInputUnsafe(options?.resultPollInterval ?? "1 second")
    const provideJobs = Effect.provideService(JobQueue.JobQueue, jobs)

    // Store outages are retried for as long as they last; anything else is a defect of the engine
    // (the engine's contract has no error channel), which fails the run's job so it is retried.
    const outages = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])
    const persist = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>): Effect.Effect<A> =>
      effect.pipe(
        Effect.retry({ schedule: outages, while: (e) => e._tag === "StoreUnavailable" }),
        Effect.orDie
      )

    const workflows = new Map<string, {
      readonly workflow: Workflow.Any
      readonly execute: (
        payload: object,
        executionId: string
      ) => Effect.Effect<unknown, unknown, WorkflowEngine.WorkflowInstance | WorkflowEngine.WorkflowEngine>
    }>()
    // Histories of the runs in flight in this process, by execution id.
    const running = new Map<string, { readonly workflow: string; readonly history: WorkflowHistory.History }>()
    // Callers in this process waiting for an execution to complete.
    const completions = new Map<string, Deferred.Deferred<void>>()
    const completionOf = (executionId: string) => {
      let deferred = completions.get(executionId)
      if (deferred === undefined) {
        deferred = Deferred.makeUnsafe<void>()
        completions.set(executionId, deferred)
      }
      return deferred
    }

    const load = (workflow: string, executionId: string) =>
      persist(
        Stream.runFold(
          store.read(WorkflowHistory.streamName(workflow, executionId)),
          WorkflowHistory.empty,
          WorkflowHistory.apply
        ).pipe(Effect.catchTag("StreamDeleted", () => Effect.succeed(WorkflowHistory.empty())))
      )

    const append = (workflow: string, executionId: string, type: string, data: unknown) =>
      persist(store.append(WorkflowHistory.streamName(workflow, executionId), [{ type, data }]))

    const enqueue = (workflow: string, task: typeof Task.Type, options?: JobQueue.EnqueueOptions) =>
      persist(JobQueue.enqueue(queueFor(workflow), task, options).pipe(provideJobs))

    const wake = (workflow: string, executionId: string) => enqueue(workflow, { _tag: "Run", executionId })

    // One replay of an execution, under its lease.
    const runOnce = (workflow: string, executionId: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        const entry = workflows.get(workflow)
        if (entry === undefined) return yield* Effect.die(`workflow ${workflow} is not registered in this process`)
        const history = yield* load(workflow, executionId)
        if (history.completed !== undefined) {
          yield* Deferred.succeed(completionOf(executionId), void 0)
          completions.delete(executionId)
          return
        }
        if (history.started === undefined) return
        const codecs = codecsOf(entry.workflow)
        const payload = yield* Effect.orDie(codecs.decodePayload(history.started.payload))
        const instance = WorkflowEngine.WorkflowInstance.initial(entry.workflow, executionId)
        const state = { workflow, history }
        running.set(executionId, state)
        const result = yield* entry.execute(payload, executionId).pipe(
          Effect.onExit((exit) => {
            // As the memory engine: an interrupt takes effect where the run would suspend.
            if (
              !history.interrupted ||
              (!instance.suspended && !instance.abandoned &&
                !(Context.get(entry.workflow.annotations, Workflow.SuspendOnFailure) && Exit.isFailure(exit)))
            ) {
              return Effect.void
            }
            instance.interrupted = true
            instance.suspended = false
            return Effect.withFiber((fiber) => Effect.interruptible(Fiber.interrupt(fiber)))
          }),
          Workflow.intoResult,
          Effect.provideService(WorkflowEngine.WorkflowEngine, engine),
          Effect.provideService(WorkflowEngine.WorkflowInstance, instance),
          Effect.ensuring(Effect.sync(() => {
            if (running.get(executionId) === state) running.delete(executionId)
          }))
        )
        yield* Effect.annotateCurrentSpan(
          Otel.Attr.workflowOutcome,
          result._tag === "Suspended" ? "suspended" : "completed"
        )
        // A suspended run's scope is not kept for a later run (that may be in another process): its
        // resources are released now, and closing with success skips its compensations, which the
        // next run registers again as it replays.
        if (result._tag === "Suspended") return yield* Scope.close(instance.scope, Exit.void)
        const encoded = yield* Effect.orDie(codecs.encodeResult(result))
        yield* append(workflow, executionId, "WorkflowCompleted", { result: encoded })
        yield* Deferred.succeed(completionOf(executionId), void 0)
        completions.delete(executionId)
        const parent = history.started.parent
        if (parent !== undefined) yield* wake(parent.workflow, parent.executionId)
      }).pipe(
        Effect.withSpan("StrataWorkflowEngine.run", { attributes: workflowAttributes(workflow, executionId) }, {
          captureStackTrace: false
        })
      )

    // Waits while another run (here or in another process) holds the execution. Unlike
    // `Lease.acquireWaiting` it logs nothing: a run per wake-up would flood the log.
    const every = Duration.millis(
      Math.max(1, Math.floor(Duration.toMillis(Duration.fromInputUnsafe(leaseOptions.ttl!)) / 3))
    )
    const acquire = (name: string) =>
      Effect.gen(function*() {
        // A holder per run: a lease store lets its holder acquire again, and two runs of one
        // execution in this process must exclude each other too.
        const holder = `workflow-run-${crypto.randomUUID()}`
        for (;;) {
          const acquired = yield* persist(leases.acquire(name, holder, Duration.fromInputUnsafe(leaseOptions.ttl!)))
          if (Option.isSome(acquired)) return acquired.value
          yield* Effect.sleep(every)
        }
      })

    const handle = (workflow: string) => (task: typeof Task.Type) =>
      task._tag === "Clock"
        ? engineEncoded.deferredDone({
          workflowName: workflow,
          executionId: task.executionId,
          deferredName: task.deferred,
          exit: Exit.void
        })
        : Effect.flatMap(
          acquire(`workflow/${task.executionId}`),
          (lease) => Lease.hold(leases, lease, leaseOptions, () => runOnce(workflow, task.executionId))
        )

    const historyOf = (instance: WorkflowEngine.WorkflowInstance["Service"]) =>
      Effect.suspend(() => {
        const state = running.get(instance.executionId)
        return state !== undefined
          ? Effect.succeed(state)
          : Effect.map(
            load(instance.workflow._tag, instance.executionId),
            (history) => ({ workflow: instance.workflow._tag, history })
          )
      })

    const engineEncoded: WorkflowEngine.Encoded = {
      register: (workflow, execute) =>
        Effect.gen(function*() {
          workflows.set(workflow._tag, { workflow, execute })
          yield* JobQueue.worker(queueFor(workflow._tag), handle(workflow._tag), {
            concurrency,
            lease: jobLease,
            pollInterval,
            maxAttempts: 1_000_000,
            retry: Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("10 seconds")]) as never,
            name: `workflow-${workflow._tag}`
          }).pipe(provideJobs, Effect.orDie)
        }),
      execute: (workflow, opts) =>
        Effect.gen(function*() {
          const codecs = codecsOf(workflow)
          let history = yield* load(workflow._tag, opts.executionId)
          if (history.started === undefined) {
            const payload = yield* Effect.orDie(codecs.encodePayload(opts.payload))
            const parent = opts.parent !== undefined && !opts.detached
              ? { workflow: opts.parent.workflow._tag, executionId: opts.parent.executionId }
              : undefined
            yield* store.append(
              WorkflowHistory.streamName(workflow._tag, opts.executionId),
              [{ type: "WorkflowStarted", data: { workflow: workflow._tag, payload, parent } }],
              { expected: ExpectedVersion.noStream }
            ).pipe(Effect.catchTag("WrongExpectedVersion", () => Effect.void), persist)
            yield* wake(workflow._tag, opts.executionId)
          }
          if (opts.discard) return undefined as never
          if (history.completed === undefined && opts.parent === undefined && workflows.has(workflow._tag)) {
            // Run here: wait for this process to complete it before reading again, so a crowd of
            // callers does not poll the store on the caller's retry schedule.
            yield* Effect.timeoutOption(Deferred.await(completionOf(opts.executionId)), resultPollInterval)
          }
          history = history.completed === undefined ? yield* load(workflow._tag, opts.executionId) : history
          if (history.completed === undefined) return new Workflow.Suspended({}) as never
          return (yield* Effect.orDie(codecs.decodeResult(history.completed))) as never
        }).pipe(
          Effect.withSpan("StrataWorkflowEngine.execute", {
            attributes: workflowAttributes(workflow._tag, opts.executionId)
          }, { captureStackTrace: false })
        ),
      awaitComplete: (workflow, executionId) =>
        Effect.raceFirst(
          Deferred.await(completionOf(executionId)),
          Effect.gen(function*() {
            for (;;) {
              yield* Effect.sleep(resultPollInterval)
              if ((yield* load(workflow._tag, executionId)).completed !== undefined) return
            }
          })
        ),
      poll: (workflow, executionId) =>
        Effect.gen(function*() {
          const history = yield* load(workflow._tag, executionId)
          if (history.completed === undefined) return Option.none()
          return Option.some(yield* Effect.orDie(codecsOf(workflow).decodeResult(history.completed)))
        }),
      interrupt: (workflow, executionId) =>
        Effect.gen(function*() {
          const history = yield* load(workflow._tag, executionId)
          if (history.started === undefined || history.completed !== undefined || history.interrupted) return
          yield* append(workflow._tag, executionId, "InterruptRequested", {})
          yield* wake(workflow._tag, executionId)
        }),
      // A durable engine cannot stop a run in another process at once: the interrupt is recorded and
      // takes effect at the run's next suspension point, like `interrupt`.
      interruptUnsafe: (workflow, executionId) => engineEncoded.interrupt(workflow, executionId),
      resume: (workflow, executionId) => wake(workflow._tag, executionId),
      activityExecute: (activity, attempt) =>
        Effect.gen(function*() {
          const instance = yield* WorkflowEngine.WorkflowInstance
          const { history, workflow } = yield* historyOf(instance)
          const key = WorkflowHistory.activityKey(activity.name, attempt)
          const recorded = history.activities.get(key)
          yield* Effect.annotateCurrentSpan({
            ...workflowAttributes(workflow, instance.executionId),
            [Otel.Attr.workflowActivityReplayed]: recorded !== undefined
          })
          if (recorded !== undefined) {
            return yield* Effect.orDie(decodeActivityResult(recorded))
          }
          // A pending interrupt replays only to rebuild compensations: no new activities.
          if (history.interrupted && !instance.interrupted) return new Workflow.Suspended({})
          const activityInstance = WorkflowEngine.WorkflowInstance.initial(instance.workflow, instance.executionId)
          activityInstance.interrupted = instance.interrupted
          const result = yield* activity.executeEncoded.pipe(
            Workflow.intoResult,
            Effect.provideService(WorkflowEngine.WorkflowInstance, activityInstance)
          )
          if (result._tag === "Suspended") return result
          const encoded = yield* Effect.orDie(encodeActivityResult(result))
          yield* append(workflow, instance.executionId, "ActivityCompleted", {
            name: activity.name,
            attempt,
            result: encoded
          })
          if (!history.activities.has(key)) history.activities.set(key, encoded)
          return result
        }).pipe(
          Effect.withSpan("StrataWorkflowEngine.activity", {
            attributes: {
              [Otel.Attr.workflowActivityName]: activity.name,
              [Otel.Attr.workflowActivityAttempt]: attempt
            }
          }, { captureStackTrace: false })
        ) as never,
      deferredResult: (deferred) =>
        Effect.gen(function*() {
          const instance = yield* WorkflowEngine.WorkflowInstance
          const { history } = yield* historyOf(instance)
          const recorded = history.deferreds.get(deferred.name)
          if (recorded === undefined) return Option.none()
          return Option.some(yield* Effect.orDie(decodeExit(recorded)))
        }),
      deferredDone: (opts) =>
        Effect.gen(function*() {
          const state = running.get(opts.executionId)
          const history = state?.history ?? (yield* load(opts.workflowName, opts.executionId))
          if (history.deferreds.has(opts.deferredName)) return
          const exit = yield* Effect.orDie(encodeExit(opts.exit))
          yield* append(opts.workflowName, opts.executionId, "DeferredCompleted", { name: opts.deferredName, exit })
          if (state !== undefined && !state.history.deferreds.has(opts.deferredName)) {
            state.history.deferreds.set(opts.deferredName, exit)
          }
          yield* wake(opts.workflowName, opts.executionId)
        }).pipe(
          Effect.withSpan("StrataWorkflowEngine.deferredDone", {
            attributes: {
              ...workflowAttributes(opts.workflowName, opts.executionId),
              [Otel.Attr.workflowDeferredName]: opts.deferredName
            }
          }, { captureStackTrace: false })
        ),
      scheduleClock: (workflow, opts) =>
        Effect.gen(function*() {
          const instance = yield* Effect.serviceOption(WorkflowEngine.WorkflowInstance)
          const { history } = Option.isSome(instance) && instance.value.executionId === opts.executionId
            ? yield* historyOf(instance.value)
            : { history: yield* load(workflow._tag, opts.executionId) }
          let wakeAt = history.clocks.get(opts.clock.name)
          if (wakeAt === undefined) {
            wakeAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(opts.clock.duration)
            yield* append(workflow._tag, opts.executionId, "ClockScheduled", { name: opts.clock.name, wakeAt })
            history.clocks.set(opts.clock.name, wakeAt)
          }
          if (history.deferreds.has(opts.clock.deferred.name)) return
          yield* enqueue(
            workflow._tag,
            { _tag: "Clock", executionId: opts.executionId, deferred: opts.clock.deferred.name },
            { runAt: wakeAt, key: `clock/${opts.executionId}/${opts.clock.name}`.slice(0, JobQueue.maxNameLength) }
          )
        })
    }

    const engine = WorkflowEngine.makeUnsafe(engineEncoded)
    yield* Scope.addFinalizer(engineScope, Effect.sync(() => running.clear()))
    return engine
  })

/**
 * The durable engine as a layer, over the `EventStore`, `LeaseStore` and `JobQueue` of one store.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<
  WorkflowEngine.WorkflowEngine,
  StoreUnavailable | InvalidArgument,
  EventStore | LeaseStore | JobQueue.JobQueue
> => Layer.effect(WorkflowEngine.WorkflowEngine)(make(options))
