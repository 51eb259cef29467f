/**
 * Processing workloads: Subscribers (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 *
 * `subscribers`: N live subscriptions on one store (10,000; 1,000 with `--quick`), half `subscribeAll` with
 * a type filter, half `subscribe` on a stream of their own, all from the end, in two forms reported side
 * by side: the Stream form (a forked `Stream.runForEach` per subscription) and the handler form
 * (`EventStore.subscribeWith` / `subscribeAllWith`: a feed member with no fiber while idle). In each round
 * (three; the order of the forms, and of "with" and "without", rotated), for each form:
 * - delivery: one `appendMany` that every subscription should receive exactly one event of (one event on
 *   each subscribed stream, plus one of the filtered type), three times; latency to each subscription's
 *   handler, p50/p99/max over all subscriptions, from the append's return (0 when delivered before it
 *   returns, as on SQLite) and from its start (the append's own time included);
 * - unrelated: an append of one event to a fresh stream plus a read of it, with the subscriptions live
 *   and with none (the floor), median of 30 each, and their ratio;
 * - memory: heap and RSS growth after gc from before the subscriptions start to when all are live, per
 *   subscription;
 * - tombstone check: what the shared reader's tombstone check costs per poll tick with the N/2 stream
 *   subscriptions live: the statements it runs (1,000 stream names each) over those streams, timed 5
 *   times per round (median).
 *
 * Memory per idle subscription on the memory backend, wrapper by wrapper: bench/subscriptionHeap.ts.
 */
import { Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import type { Workload } from "./Processing.ts"

const hit = "BSubHit"

// The Stream form (a forked `Stream.runForEach` per subscription) and the handler form
// (`EventStore.subscribeWith`: a feed member, no fiber while idle).
type Form = "stream" | "handler"

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
const spread = (values: ReadonlyArray<number>, digits = 2) => {
  const round = (x: number) => Math.round(x * 10 ** digits) / 10 ** digits
  return { min: round(Math.min(...values)), median: round(median(values)), max: round(Math.max(...values)) }
}

const gc = () => {
  const collect = (globalThis as { gc?: () => void }).gc
  collect?.()
  collect?.()
}

const waitFor = (check: () => boolean, what: string, seconds = 120) =>
  Effect.gen(function*() {
    const deadline = Date.now() + seconds * 1000
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`subscribers bench: ${what} timed out`))
      yield* Effect.sleep("2 millis")
    }
  })

// One append of one event to a fresh stream, then a read of that stream.
const unrelated = (tag: string, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      const stream = `bsubx${tag}-${i}`
      const started = performance.now()
      yield* store.append(stream, [Event.make("Unrelated", { i })])
      const read = yield* Stream.runCollect(store.read(stream))
      times.push(performance.now() - started)
      if (read.length !== 1) return yield* Effect.die(new Error("subscribers bench: unrelated read"))
    }
    return median(times)
  })

const subscribers: Workload = {
  name: "subscribers",
  run: ({ backend, quick }) => {
    if (backend !== "postgres" && backend !== "sqlite") return undefined
    return Effect.scoped(Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const n = quick ? 1_000 : 10_000
      const rounds = 3
      const deliveries = 3
      const half = n / 2
      const measure = () => ({
        latency: [] as Array<Array<number>>,
        fromStart: [] as Array<Array<number>>,
        appendMs: [] as Array<number>,
        withSubs: [] as Array<number>,
        heapPer: [] as Array<number>,
        rssPer: [] as Array<number>,
        startSeconds: [] as Array<number>
      })
      const measured: Record<Form, ReturnType<typeof measure>> = { stream: measure(), handler: measure() }
      const without: Array<number> = []
      const checkMs: Array<number> = []
      const sql = yield* SqlClient.SqlClient
      // The statement the feed's tombstone check runs (packages/sql reads.ts `gone`), a chunk at a time.
      const check = (names: ReadonlyArray<string>) =>
        sql<{ stream: string }>`SELECT stream FROM strata_streams WHERE ${
          sql.onDialectOrElse({
            pg: () => sql`stream = ANY(${names}::text[])`,
            orElse: () => sql`stream IN (SELECT value FROM json_each(${JSON.stringify(names)}))`
          })
        } AND tombstoned`
      const tick = (streams: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const begin = performance.now()
          for (let at = 0; at < streams.length; at += 1_000) yield* check(streams.slice(at, at + 1_000))
          return performance.now() - begin
        })
      yield* unrelated("warm", 10)
      // One form's subscriptions in a round: started, warmed until each has a delivery, measured, stopped.
      const runForm = (form: Form, round: number) =>
        Effect.gen(function*() {
          const m = measured[form]
          const tag = `${round}${form === "stream" ? "s" : "h"}${Date.now().toString(36)}`
          const streams = Array.from({ length: half }, (_, i) => `bsub${tag}-${i}`)
          const type = `${hit}${tag}`
          // Per subscription: deliveries seen and when the last one arrived.
          const seen = new Int32Array(n)
          const at = new Float64Array(n)
          const handler = (i: number) => (events: ReadonlyArray<Event.RecordedEvent>) =>
            Effect.sync(() => {
              seen[i] += events.length
              at[i] = performance.now()
            })
          const scope = yield* Scope.make()
          gc()
          const heap0 = process.memoryUsage().heapUsed
          const rss0 = process.memoryUsage().rss
          const started = performance.now()
          const fibers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => {
            if (form === "handler") {
              const subscribed: Effect.Effect<unknown, unknown, EventStore.EventStore | Scope.Scope> = i < half
                ? EventStore.subscribeWith(streams[i], handler(i), { from: "end" })
                : EventStore.subscribeAllWith(handler(i), { from: "end", filter: { types: [type] } })
              return subscribed.pipe(Scope.provide(scope), Effect.as(undefined))
            }
            return (i < half
              ? store.subscribe(streams[i], { from: "end" })
              : store.subscribeAll({ from: "end", filter: { types: [type] } })).pipe(
                Stream.runForEachArray(handler(i)),
                Effect.forkChild
              )
          })
          // One delivery to everyone: one event on each subscribed stream and one of the filtered type.
          const deliver = Effect.gen(function*() {
            const start = performance.now()
            yield* store.appendMany([
              ...streams.map((stream) => ({ stream, events: [Event.make("BSubOwn", {})] })),
              { stream: `bsubhit${tag}`, events: [Event.make(type, {})] }
            ])
            return { start, end: performance.now() }
          })
          // Warm-up delivery, repeated until every subscription has one: then every one is live.
          let expected = 1
          while (true) {
            yield* deliver
            const ok = yield* waitFor(() => seen.every((count) => count >= expected), "warm-up", 5).pipe(
              Effect.as(true),
              Effect.catchDefect(() => Effect.succeed(false))
            )
            if (ok) break
            expected++
            if (expected > 40) return yield* Effect.die(new Error("subscribers bench: subscriptions never went live"))
          }
          for (let i = 0; i < n; i++) seen[i] = expected
          m.startSeconds.push((performance.now() - started) / 1000)
          gc()
          m.heapPer.push((process.memoryUsage().heapUsed - heap0) / n)
          m.rssPer.push((process.memoryUsage().rss - rss0) / n)
          for (let d = 0; d < deliveries; d++) {
            const target = expected + d + 1
            const { end: committed, start } = yield* deliver
            yield* waitFor(() => seen.every((count) => count >= target), "delivery")
            if (!seen.every((count) => count === target)) {
              return yield* Effect.die(new Error("subscribers bench: a subscription got an event twice"))
            }
            m.latency.push(Array.from(at, (t) => Math.max(0, t - committed)))
            m.fromStart.push(Array.from(at, (t) => t - start))
            m.appendMs.push(committed - start)
            yield* Effect.sleep("50 millis")
          }
          m.withSubs.push(yield* unrelated(`${tag}b`, 30))
          if (form === "stream") {
            const ticks: Array<number> = []
            for (let t = 0; t < 5; t++) ticks.push(yield* tick(streams))
            checkMs.push(median(ticks))
          }
          yield* Effect.forEach(fibers, (fiber) => fiber === undefined ? Effect.void : Fiber.interrupt(fiber), {
            discard: true
          })
          yield* Scope.close(scope, Exit.void)
          // Let go of them before the next baseline: held until then, they were collected during its
          // measurement and made its heap per subscription look smaller.
          fibers.length = 0
          process.stderr.write(
            `subscribers round ${round} ${form}: p99 ${
              quantile(m.latency[m.latency.length - 1], 0.99).toFixed(1)
            } ms (${
              quantile(m.fromStart[m.fromStart.length - 1], 0.99).toFixed(1)
            } from the append's start), unrelated ${m.withSubs[m.withSubs.length - 1].toFixed(2)} ms, ${
              m.heapPer[m.heapPer.length - 1].toFixed(0)
            } B heap/sub\n`
          )
        })
      for (let round = 0; round < rounds; round++) {
        const tag = `${round}${Date.now().toString(36)}`
        if (round % 2 === 0) without.push(yield* unrelated(`${tag}a`, 30))
        const order: ReadonlyArray<Form> = round % 2 === 0 ? ["stream", "handler"] : ["handler", "stream"]
        for (const form of order) yield* runForm(form, round)
        if (round % 2 === 1) without.push(yield* unrelated(`${tag}a`, 30))
      }
      const report = (form: Form) => {
        const m = measured[form]
        return {
          deliveryMs: {
            p50: spread(m.latency.map((l) => quantile(l, 0.5))),
            p99: spread(m.latency.map((l) => quantile(l, 0.99))),
            max: spread(m.latency.map((l) => Math.max(...l)))
          },
          deliveryFromAppendStartMs: {
            p50: spread(m.fromStart.map((l) => quantile(l, 0.5))),
            p99: spread(m.fromStart.map((l) => quantile(l, 0.99))),
            max: spread(m.fromStart.map((l) => Math.max(...l)))
          },
          appendManyMs: spread(m.appendMs),
          unrelatedAppendReadMs: { withSubscriptions: spread(m.withSubs), without: spread(without, 3) },
          unrelatedRatio: spread(m.withSubs.map((value, i) => value / without[i])),
          bytesPerIdleSubscription: { heap: spread(m.heapPer, 0), rss: spread(m.rssPer, 0) },
          secondsToStartAll: spread(m.startSeconds)
        }
      }
      return {
        subscriptions: n,
        rounds,
        "Stream.runForEach(subscribe)": report("stream"),
        "EventStore.subscribeWith": report("handler"),
        tombstoneCheckMsPerTick: { streams: half, ms: spread(checkMs) }
      }
    }))
  }
}

export const workloads: ReadonlyArray<Workload> = [subscribers]
