/**
 * Durable workflows (`StrataWorkflowEngine`, Effect's `effect/workflow` API) for every backend that
 * provides an `EventStore`, a `LeaseStore` and a `JobQueue`: activities run once and the outcome is
 * recorded in the execution's stream; a failed step is compensated and the typed error comes back;
 * an execution suspended on a `DurableDeferred` or a `DurableClock` resumes in a new engine (a
 * restart) without running its recorded activities again; two engines on one store never run one
 * execution at once.
 *
 * Each test starts its engines in scopes of its own (closing one is a process stopping) and names
 * its workflows uniquely, so tests can share one store.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { EventStore, type JobQueue, StrataWorkflowEngine, WorkflowHistory } from "@strata/core"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Activity from "effect/workflow/Activity"
import * as DurableClock from "effect/workflow/DurableClock"
import * as DurableDeferred from "effect/workflow/DurableDeferred"
import * as Workflow from "effect/workflow/Workflow"
import type * as WorkflowEngine from "effect/workflow/WorkflowEngine"
import { withBuilt } from "./internal/built.ts"
import { hex } from "./internal/fixtures.ts"
import type { Services } from "./SuiteOptions.ts"

/**
 * How a backend's workflows are checked.
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkflowSuiteOptions {
  /** How long a layer may take to build, and a test to run. Default 60 seconds. */
  readonly timeout?: Duration.Input | undefined
}

// Leases long enough that a loaded machine (a slow D1 statement) does not lose them mid-run: a lost
// lease interrupts the run, and an activity interrupted after its effect runs again (at least once).
// Engines stop through their scope here, which releases leases and puts jobs back at once.
const engineOptions: StrataWorkflowEngine.Options = {
  pollInterval: "50 millis",
  lease: "10 seconds",
  jobLease: "10 seconds"
}

// Starts an engine with `workflows` registered in a scope of its own: one "process".
const startEngine = <R>(
  workflows: Layer.Layer<never, never, WorkflowEngine.WorkflowEngine | R>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      workflows.pipe(Layer.provideMerge(StrataWorkflowEngine.layer(engineOptions))),
      scope
    )
    return {
      context: context as Context.Context<WorkflowEngine.WorkflowEngine>,
      stop: Scope.close(scope, Exit.void)
    }
  })

const historyTypes = (workflow: string, executionId: string) =>
  Effect.flatMap(
    EventStore.EventStore,
    (store) =>
      Stream.runCollect(store.read(WorkflowHistory.streamName(workflow, executionId))).pipe(
        Effect.map((events) => events.map((event) => event.type)),
        Effect.catchTag("StreamDeleted", () => Effect.succeed([] as Array<string>))
      )
  )

// Polls `check` until it holds (or fails the test after `millis`).
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string, millis = 15_000) =>
  Effect.gen(function*() {
    const until = Date.now() + millis
    while (!(yield* check)) {
      if (Date.now() > until) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

class Declined extends Schema.TaggedError<Declined>("@strata/conformance/Declined")("Declined", {
  reason: Schema.String
}) {}

/**
 * Registers the workflow topic for a layer that provides a store's services and `JobQueue`.
 *
 * @category suites
 * @since 0.1.0
 */
export const workflowSuite = (
  name: string,
  storeLayer: Layer.Layer<Services | JobQueue.JobQueue, unknown>,
  options: WorkflowSuiteOptions = {}
): void => {
  const timeout = options.timeout ?? "60 seconds"
  // The timeout is each test's too, not the project's default: a test runs engines' workers against
  // one store, which D1 in Miniflare serves one statement at a time (a `SELECT 1` took 80-220 ms
  // at load 15-20 on 2 cores; the two-engine test took 7-12 s at load 15).
  const testTimeout = Duration.toMillis(Duration.fromInputUnsafe(timeout))
  withBuilt(`Strata workflows (${name})`, storeLayer, timeout, (it_) => {
    const it = {
      effect: <A, E>(title: string, self: () => Effect.Effect<A, E, Services | JobQueue.JobQueue>) =>
        it_.effect(title, self, testTimeout)
    }
    describe("StrataWorkflowEngine", () => {
      it.effect("activities run once, the result is recorded in the execution's stream and polled", () =>
        Effect.gen(function*() {
          const runs = { add: 0, double: 0 }
          const W = Workflow.make(`Sum${hex()}`, {
            payload: { a: Schema.Number, b: Schema.Number },
            success: Schema.Number,
            idempotencyKey: ({ a, b }) => `${a}+${b}`
          })
          const live = W.toLayer(Effect.fnUntraced(function*({ a, b }) {
            const sum = yield* Activity.make({
              name: "add",
              success: Schema.Number,
              execute: Effect.sync(() => (runs.add++, a + b))
            })
            return yield* Activity.make({
              name: "double",
              success: Schema.Number,
              execute: Effect.sync(() => (runs.double++, sum * 2))
            })
          }))
          const engine = yield* startEngine(live)
          const result = yield* Effect.provideContext(W.execute({ a: 2, b: 3 }), engine.context)
          assert.strictEqual(result, 10)
          const executionId = yield* W.executionId({ a: 2, b: 3 })
          assert.deepStrictEqual(yield* historyTypes(W._tag, executionId), [
            "WorkflowStarted",
            "ActivityCompleted",
            "ActivityCompleted",
            "WorkflowCompleted"
          ])
          // Executing again answers from the history: nothing runs.
          assert.strictEqual(yield* Effect.provideContext(W.execute({ a: 2, b: 3 }), engine.context), 10)
          const polled = yield* Effect.provideContext(W.poll(executionId), engine.context)
          assert.isTrue(polled._tag === "Some" && polled.value._tag === "Complete")
          assert.deepStrictEqual(runs, { add: 1, double: 1 })
          yield* engine.stop
        }))

      it.effect("a failed step is compensated in reverse order and its typed error comes back", () =>
        Effect.gen(function*() {
          const effects: Array<string> = []
          const W = Workflow.make(`Saga${hex()}`, {
            payload: { id: Schema.String },
            error: Declined,
            idempotencyKey: ({ id }) => id
          })
          const step = (name: string) =>
            Activity.make({ name, execute: Effect.sync(() => void effects.push(name)) }).pipe(
              Workflow.withCompensation(() => Effect.sync(() => void effects.push(`undo ${name}`)))
            )
          const live = W.toLayer(() =>
            Effect.gen(function*() {
              yield* step("reserve")
              yield* step("hold")
              yield* Activity.make({
                name: "charge",
                error: Declined,
                execute: Effect.fail(new Declined({ reason: "limit" }))
              })
            })
          )
          const engine = yield* startEngine(live)
          const error = yield* Effect.flip(Effect.provideContext(W.execute({ id: "o1" }), engine.context))
          assert.instanceOf(error, Declined)
          assert.strictEqual(error.reason, "limit")
          assert.deepStrictEqual(effects, ["reserve", "hold", "undo hold", "undo reserve"])
          const executionId = yield* W.executionId({ id: "o1" })
          assert.strictEqual((yield* historyTypes(W._tag, executionId)).at(-1), "WorkflowCompleted")
          yield* engine.stop
        }))

      it.effect("suspended on a deferred, an execution resumes in a new engine; recorded activities do not run again", () =>
        Effect.gen(function*() {
          const runs = { before: 0, after: 0 }
          const Approval = DurableDeferred.make("approval", { success: Schema.String })
          const W = Workflow.make(`Approve${hex()}`, {
            payload: { id: Schema.String },
            success: Schema.String,
            idempotencyKey: ({ id }) => id
          })
          const live = W.toLayer(() =>
            Effect.gen(function*() {
              yield* Activity.make({ name: "before", execute: Effect.sync(() => void runs.before++) })
              const by = yield* DurableDeferred.await(Approval)
              yield* Activity.make({ name: "after", execute: Effect.sync(() => void runs.after++) })
              return `approved by ${by}`
            })
          )
          const first = yield* startEngine(live)
          const executionId = yield* Effect.provideContext(W.execute({ id: "a" }, { discard: true }), first.context)
          yield* eventually(
            Effect.map(historyTypes(W._tag, executionId), (types) => types.includes("ActivityCompleted")),
            "the first step is recorded"
          )
          // Let the run reach the deferred and suspend, then stop this "process".
          yield* Effect.sleep("200 millis")
          yield* first.stop
          assert.deepStrictEqual(runs, { before: 1, after: 0 })

          const second = yield* startEngine(live)
          const token = DurableDeferred.tokenFromExecutionId(Approval, { workflow: W, executionId })
          yield* Effect.provideContext(DurableDeferred.succeed(Approval, { token, value: "ada" }), second.context)
          const result = yield* Effect.provideContext(W.execute({ id: "a" }), second.context)
          assert.strictEqual(result, "approved by ada")
          assert.deepStrictEqual(runs, { before: 1, after: 1 })
          yield* second.stop
        }))

      it.effect("a durable clock is a job due at its wake time: it wakes the execution after a restart", () =>
        Effect.gen(function*() {
          let woke = 0
          const W = Workflow.make(`Nap${hex()}`, {
            payload: { id: Schema.String },
            idempotencyKey: ({ id }) => id
          })
          const live = W.toLayer(() =>
            Effect.gen(function*() {
              yield* DurableClock.sleep({ name: "nap", duration: "1 second", inMemoryThreshold: Duration.zero })
              yield* Activity.make({ name: "woke", execute: Effect.sync(() => void woke++) })
            })
          )
          const first = yield* startEngine(live)
          const executionId = yield* Effect.provideContext(W.execute({ id: "n" }, { discard: true }), first.context)
          yield* eventually(
            Effect.map(historyTypes(W._tag, executionId), (types) => types.includes("ClockScheduled")),
            "the clock is scheduled"
          )
          yield* first.stop
          const store = yield* EventStore.EventStore
          const scheduled = (yield* Stream.runCollect(store.read(WorkflowHistory.streamName(W._tag, executionId))))
            .find((event) => event.type === "ClockScheduled")!
          const wakeAt = (scheduled.data as { wakeAt: number }).wakeAt
          const second = yield* startEngine(live)
          yield* Effect.provideContext(W.execute({ id: "n" }), second.context)
          assert.isAtLeast(Date.now(), wakeAt, "not woken before its time")
          assert.strictEqual(woke, 1)
          assert.deepStrictEqual(yield* historyTypes(W._tag, executionId), [
            "WorkflowStarted",
            "ClockScheduled",
            "DeferredCompleted",
            "ActivityCompleted",
            "WorkflowCompleted"
          ])
          yield* second.stop
        }))

      it.effect("a child workflow's completion wakes its parent, which gets the child's result", () =>
        Effect.gen(function*() {
          const Child = Workflow.make(`Child${hex()}`, {
            payload: { n: Schema.Number },
            success: Schema.Number,
            idempotencyKey: ({ n }) => String(n)
          })
          const Parent = Workflow.make(`Parent${hex()}`, {
            payload: { n: Schema.Number },
            success: Schema.String,
            idempotencyKey: ({ n }) => String(n)
          })
          const live = Layer.mergeAll(
            Child.toLayer(({ n }) =>
              Activity.make({ name: "square", success: Schema.Number, execute: Effect.succeed(n * n) })
            ),
            Parent.toLayer(({ n }) => Effect.map(Child.execute({ n }), (square) => `${n}² = ${square}`))
          )
          const engine = yield* startEngine(live)
          assert.strictEqual(yield* Effect.provideContext(Parent.execute({ n: 7 }), engine.context), "7² = 49")
          const childId = yield* Child.executionId({ n: 7 })
          assert.strictEqual((yield* historyTypes(Child._tag, childId)).at(-1), "WorkflowCompleted")
          yield* engine.stop
        }))

      it.effect("an interrupted execution runs its compensations and completes interrupted", () =>
        Effect.gen(function*() {
          const effects: Array<string> = []
          const Never = DurableDeferred.make("never")
          const W = Workflow.make(`Stop${hex()}`, {
            payload: { id: Schema.String },
            idempotencyKey: ({ id }) => id
          })
          const live = W.toLayer(() =>
            Effect.gen(function*() {
              yield* Activity.make({ name: "reserve", execute: Effect.sync(() => void effects.push("reserve")) }).pipe(
                Workflow.withCompensation(() => Effect.sync(() => void effects.push("undo reserve")))
              )
              yield* DurableDeferred.await(Never)
              yield* Activity.make({ name: "after", execute: Effect.sync(() => void effects.push("after")) })
            })
          )
          const engine = yield* startEngine(live)
          const executionId = yield* Effect.provideContext(W.execute({ id: "i" }, { discard: true }), engine.context)
          yield* eventually(
            Effect.map(historyTypes(W._tag, executionId), (types) => types.includes("ActivityCompleted")),
            "the first step is recorded"
          )
          yield* Effect.provideContext(W.interrupt(executionId), engine.context)
          yield* eventually(
            Effect.map(historyTypes(W._tag, executionId), (types) => types.includes("WorkflowCompleted")),
            "the execution completes"
          )
          const polled = yield* Effect.provideContext(W.poll(executionId), engine.context)
          assert.isTrue(
            polled._tag === "Some" && polled.value._tag === "Complete" && Exit.hasInterrupts(polled.value.exit),
            String(polled)
          )
          assert.deepStrictEqual(effects, ["reserve", "undo reserve"])
          yield* engine.stop
        }))

      it.effect("two engines on one store never run one execution at once; each activity runs once", () =>
        Effect.gen(function*() {
          const inside = new Map<string, number>()
          const runs = new Map<string, number>()
          let overlap = 0
          const W = Workflow.make(`Busy${hex()}`, {
            payload: { n: Schema.Number },
            idempotencyKey: ({ n }) => String(n)
          })
          const enter = (key: string) =>
            Effect.acquireUseRelease(
              Effect.sync(() => {
                const now = (inside.get(key) ?? 0) + 1
                if (now > 1) overlap++
                inside.set(key, now)
                runs.set(key, (runs.get(key) ?? 0) + 1)
              }),
              () => Effect.sleep("30 millis"),
              () => Effect.sync(() => inside.set(key, inside.get(key)! - 1))
            )
          const live = W.toLayer(({ n }) =>
            Effect.gen(function*() {
              yield* Activity.make({ name: "one", execute: enter(`${n}/one`) })
              yield* Activity.make({ name: "two", execute: enter(`${n}/two`) })
            })
          )
          const a = yield* startEngine(live)
          const b = yield* startEngine(live)
          const ns = Array.from({ length: 8 }, (_, n) => n)
          // Started on one engine, then extra runs of every execution on both: they contend for the
          // same executions. All at once: one at a time, each waiting on a store the engines keep
          // busy, this took most of the test's time under load (10 of 12 s on D1 at load 15).
          const ids = yield* Effect.forEach(
            ns,
            (n) => Effect.provideContext(W.execute({ n }, { discard: true }), a.context),
            { concurrency: "unbounded" }
          )
          yield* Effect.forEach(ids, (id) =>
            Effect.andThen(
              Effect.provideContext(W.resume(id), b.context),
              Effect.provideContext(W.resume(id), a.context)
            ), { concurrency: "unbounded", discard: true })
          yield* Effect.forEach(ns, (n) => Effect.provideContext(W.execute({ n }), b.context), {
            concurrency: "unbounded"
          })
          assert.strictEqual(overlap, 0, "no activity of an execution ran in two runs at once")
          assert.deepStrictEqual(
            [...runs.values()],
            ns.flatMap(() => [1, 1]),
            "each activity ran exactly once"
          )
          yield* a.stop
          yield* b.stop
        }))
    })
  })
}
