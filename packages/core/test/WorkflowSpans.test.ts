// Workflow spans by the conventions docs/observability.md states: the run, each activity (run or
// replayed from the history) and each completed deferred name the workflow and the execution; a run
// is inside the span of the job that runs it (messaging attributes, the workflow's queue).
import { assert, describe, it } from "@effect/vitest"
import { JobQueue, MemoryStore, StrataWorkflowEngine } from "@strata/core"
import { recordingTracer } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import * as Activity from "effect/workflow/Activity"
import * as DurableDeferred from "effect/workflow/DurableDeferred"
import * as Workflow from "effect/workflow/Workflow"

describe("StrataWorkflowEngine spans", () => {
  it.live("runs, activities and deferreds carry strata.workflow.name and .execution_id", () =>
    Effect.gen(function*() {
      const { started, tracer } = recordingTracer()
      const Approval = DurableDeferred.make("approval", { success: Schema.Boolean })
      const Order = Workflow.make("SpanOrder", {
        payload: { id: Schema.String },
        success: Schema.String,
        idempotencyKey: ({ id }) => id
      })
      const OrderLive = Order.toLayer(({ id }) =>
        Effect.gen(function*() {
          const reserved = yield* Activity.make({
            name: "reserve",
            success: Schema.String,
            execute: Effect.succeed(`reserved ${id}`)
          })
          const approved = yield* DurableDeferred.await(Approval)
          return `${reserved}, approved: ${approved}`
        })
      )
      const result = yield* Effect.gen(function*() {
        const executionId = yield* Order.execute({ id: "o-1" }, { discard: true })
        // Once the first run has suspended on the deferred, approve it from outside and wait.
        for (
          let waited = 0;
          !started.some((span) => span.attributes.get("strata.workflow.outcome") === "suspended");
          waited++
        ) {
          if (waited > 500) return yield* Effect.die(new Error("the first run never suspended"))
          yield* Effect.sleep("20 millis")
        }
        const token = DurableDeferred.tokenFromExecutionId(Approval, { workflow: Order, executionId })
        yield* DurableDeferred.succeed(Approval, { token, value: true })
        return { executionId, result: yield* Order.execute({ id: "o-1" }) }
      }).pipe(
        Effect.provide(OrderLive.pipe(
          Layer.provideMerge(StrataWorkflowEngine.layer({ pollInterval: "20 millis" })),
          Layer.provide(Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))
        )),
        Effect.withTracer(tracer)
      )
      assert.strictEqual(result.result, "reserved o-1, approved: true")
      const workflowSpans = (name: string) =>
        started.filter((span) =>
          span.name === name && span.attributes.get("strata.workflow.execution_id") === result.executionId
        )
      for (const name of ["StrataWorkflowEngine.execute", "StrataWorkflowEngine.run"]) {
        assert.isNotEmpty(workflowSpans(name), name)
        for (const span of workflowSpans(name)) {
          assert.strictEqual(span.attributes.get("strata.workflow.name"), "SpanOrder")
        }
      }
      // Two runs: suspended on the deferred, then completed after the approval.
      assert.deepStrictEqual(
        workflowSpans("StrataWorkflowEngine.run").map((span) => span.attributes.get("strata.workflow.outcome")),
        ["suspended", "completed"]
      )
      // The activity ran in the first run and was replayed from the history in the second.
      const activities = workflowSpans("StrataWorkflowEngine.activity")
      assert.deepStrictEqual(
        activities.map((span) => [
          span.attributes.get("strata.workflow.name"),
          span.attributes.get("strata.workflow.activity.name"),
          span.attributes.get("strata.workflow.activity.attempt"),
          span.attributes.get("strata.workflow.activity.replayed")
        ]),
        [["SpanOrder", "reserve", 1, false], ["SpanOrder", "reserve", 1, true]]
      )
      const [deferred] = workflowSpans("StrataWorkflowEngine.deferredDone")
      assert.isDefined(deferred, "the deferred's span")
      assert.strictEqual(deferred.attributes.get("strata.workflow.deferred.name"), "approval")
      // Each run is inside the span of the job that runs it, by the messaging conventions.
      for (const run of workflowSpans("StrataWorkflowEngine.run")) {
        let parent = run.parent
        while (Option.isSome(parent) && (parent.value as Tracer.NativeSpan).name !== "JobQueue.process") {
          parent = (parent.value as Tracer.NativeSpan).parent
        }
        assert.isTrue(Option.isSome(parent), "a JobQueue.process span above the run")
        const job = (parent as Option.Some<Tracer.AnySpan>).value as Tracer.NativeSpan
        assert.strictEqual(job.kind, "consumer")
        assert.strictEqual(job.attributes.get("messaging.system"), "strata")
        assert.strictEqual(job.attributes.get("messaging.destination.name"), "workflow/SpanOrder")
      }
    }))
})
