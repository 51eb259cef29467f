/**
 * JobQueue's observability: the span that runs a job is linked to the span that enqueued it (its
 * trace and span ids are stored with the job), and the counters and gauges move as jobs are
 * enqueued, run, fail and die. The queue's behaviour itself is the conformance topic
 * (`jobQueueSuite`, run on every backend).
 */
import { assert, describe, it } from "@effect/vitest"
import { JobQueue, JobStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"

const recording = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer, named: (name: string) => spans.filter((span) => span.name === name) }
}

const until = (check: () => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("timed out"))
      yield* Effect.sleep("10 millis")
    }
  })

const Mail = JobQueue.make("mail", Schema.Struct({ to: Schema.String }))

describe("JobQueue observability", () => {
  it.live("the span that runs a job is a consumer span linked to the producer span that enqueued it", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      let handled = 0
      const id = yield* JobQueue.enqueue(Mail, { to: "ada" }).pipe(Effect.withSpan("place order"))
      yield* JobQueue.worker(Mail, () => Effect.sync(() => handled++), { pollInterval: "10 millis" })
      yield* until(() => handled === 1 && named("JobQueue.process").some((span) => span.status._tag === "Ended"))
      const [enqueue] = named("JobQueue.enqueue")
      const [order] = named("place order")
      assert.strictEqual(enqueue.kind, "producer")
      // The OpenTelemetry messaging conventions: a send to the queue, the job's id as the message's.
      assert.deepStrictEqual(
        Object.fromEntries(["system", "operation.type", "operation.name", "destination.name", "message.id"].map((
          key
        ) => [key, enqueue.attributes.get(`messaging.${key}`)])),
        {
          system: "strata",
          "operation.type": "send",
          "operation.name": "enqueue",
          "destination.name": "mail",
          "message.id": id
        }
      )
      assert.strictEqual(enqueue.parent._tag === "Some" ? enqueue.parent.value.spanId : undefined, order.spanId)
      const [run] = named("JobQueue.process")
      assert.strictEqual(run.kind, "consumer")
      assert.deepStrictEqual(
        Object.fromEntries(
          ["system", "operation.type", "destination.name", "consumer.group.name", "message.id"].map((
            key
          ) => [key, run.attributes.get(`messaging.${key}`)])
        ),
        {
          system: "strata",
          "operation.type": "process",
          "destination.name": "mail",
          // the workers' name (WorkerOptions.name), by default the queue's
          "consumer.group.name": "mail",
          "message.id": id
        }
      )
      assert.strictEqual(run.attributes.get("strata.job.attempt"), 1)
      assert.strictEqual(run.attributes.get("strata.job.outcome"), "succeeded")
      assert.deepStrictEqual(
        run.links.map((link) => [link.span.traceId, link.span.spanId]),
        [[enqueue.traceId, enqueue.spanId]]
      )
      // A root of its own trace: the job runs later, in another process perhaps.
      assert.notStrictEqual(run.traceId, enqueue.traceId)
    }).pipe(Effect.scoped, Effect.provide(JobQueue.layerMemory), Effect.withTracer(tracer))
  })

  it.live("named workers are the consumer group; a job whose stored trace context is not W3C runs unlinked", () => {
    const { named, tracer } = recording()
    return Effect.gen(function*() {
      const store = yield* JobStore.makeMemory()
      const now = Date.now()
      // As a store written by hand or by another tool might hold it: ids that are no trace context.
      yield* store.enqueue({
        id: "job-1",
        queue: "mail",
        key: undefined,
        payload: JSON.stringify({ to: "ada" }),
        priority: 0,
        runAt: now,
        now,
        traceId: "not-a-trace",
        spanId: "0000000000000000"
      })
      let handled = 0
      yield* JobQueue.worker(Mail, () => Effect.sync(() => handled++), { pollInterval: "10 millis", name: "mailers" })
        .pipe(Effect.provideService(JobQueue.JobQueue, JobQueue.fromStore(store)))
      yield* until(() => handled === 1 && named("JobQueue.process").some((span) => span.status._tag === "Ended"))
      const [run] = named("JobQueue.process")
      assert.strictEqual(run.attributes.get("messaging.consumer.group.name"), "mailers")
      assert.strictEqual(run.attributes.get("messaging.message.id"), "job-1")
      assert.deepStrictEqual(run.links, [])
      const [worker] = named("JobQueue.worker")
      assert.strictEqual(worker.attributes.get("messaging.consumer.group.name"), "mailers")
    }).pipe(Effect.scoped, Effect.withTracer(tracer))
  })

  it.live("counters: enqueued, started, succeeded, failed, dead; gauges: due depth and oldest due age", () =>
    Effect.gen(function*() {
      const Q = JobQueue.make("metered", Schema.Number)
      const attributes = { queue: "metered" }
      const count = (metric: Metric.Counter<number>) =>
        Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)
      const gauge = (metric: Metric.Gauge<number>) =>
        Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)
      yield* JobQueue.enqueue(Q, 1, { key: "one" })
      yield* JobQueue.enqueue(Q, 1, { key: "one" }) // de-duplicated: not counted
      yield* JobQueue.enqueue(Q, -1)
      yield* JobQueue.enqueue(Q, 2, { runAt: Date.now() - 2_000 })
      assert.strictEqual(yield* count(JobQueue.enqueuedTotal), 3)
      let done = 0
      yield* JobQueue.worker(
        Q,
        (n) => Effect.suspend(() => n < 0 ? Effect.fail("negative") : Effect.sync(() => done++)),
        { maxAttempts: 2, retry: Schedule.spaced("10 millis"), pollInterval: "10 millis", statsInterval: "1 hour" }
      )
      // The first stats sample runs at start: three due jobs, the oldest two seconds old.
      assert.strictEqual(yield* gauge(JobQueue.depth), 3)
      assert.isAtLeast(yield* gauge(JobQueue.oldestDueAgeSeconds), 2)
      yield* until(() => done === 2)
      yield* Effect.sleep("200 millis")
      assert.strictEqual(yield* count(JobQueue.startedTotal), 4)
      assert.strictEqual(yield* count(JobQueue.succeededTotal), 2)
      assert.strictEqual(yield* count(JobQueue.failedTotal), 2)
      assert.strictEqual(yield* count(JobQueue.deadTotal), 1)
    }).pipe(
      Effect.scoped,
      Effect.provide(JobQueue.layerMemory),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})

describe("JobQueue worker", () => {
  it.live("a stored payload that is not JSON makes its job dead at once, with the payload error", () =>
    Effect.gen(function*() {
      const store = yield* JobStore.makeMemory()
      const now = Date.now()
      // As a store written by hand or by another tool might hold it.
      yield* store.enqueue({
        id: "job-1",
        queue: "mail",
        key: undefined,
        payload: "{not json",
        priority: 0,
        runAt: now,
        now,
        traceId: undefined,
        spanId: undefined
      })
      let handled = 0
      yield* JobQueue.worker(Mail, () => Effect.sync(() => handled++), { pollInterval: "10 millis", lease: "1 minute" })
        .pipe(Effect.provideService(JobQueue.JobQueue, JobQueue.fromStore(store)))
      // Not a defect that leaves the job running until its lease ends: dead on its first attempt.
      const deadline = Date.now() + 5_000
      let job = yield* store.get("job-1")
      while (!(job._tag === "Some" && job.value.state === "dead")) {
        if (Date.now() > deadline) return assert.fail(`job-1 is ${job._tag === "Some" ? job.value.state : "gone"}`)
        yield* Effect.sleep("10 millis")
        job = yield* store.get("job-1")
      }
      assert.strictEqual(handled, 0)
      assert.strictEqual(job.value.attempts, 1)
      assert.include(job.value.lastError, "does not match its schema: not JSON")
    }).pipe(Effect.scoped))
})
