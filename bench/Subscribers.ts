/**
 * Processing workloads: Subscribers (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 *
 * `subscribers`: N live subscriptions on one store (10,000; 1,000 with `--quick`), half `subscribeAll` with
 * a type filter, half `subscribe` on a stream of their own, all from the end. In each round (three, the
 * order of "with" and "without" rotated):
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
import * as Fiber from "effect/Fiber"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import type { Workload } from "./Processing.ts"

const hit = "BSubHit"

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
      const latency: Array<Array<number>> = []
      const fromStart: Array<Array<number>> = []
      const appendMs: Array<number> = []
      const withSubs: Array<number> = []
      const without: Array<number> = []
      const heapPer: Array<number> = []
      const rssPer: Array<number> = []
      const startSeconds: Array<number> = []
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
      for (let round = 0; round < rounds; round++) {
        const tag = `${round}${Date.now().toString(36)}`
        const streams = Array.from({ length: half }, (_, i) => `bsub${tag}-${i}`)
        const type = `${hit}${tag}`
        if (round % 2 === 0) without.push(yield* unrelated(`${tag}a`, 30))
        // Per subscription: deliveries seen and when the last one arrived.
        const seen = new Int32Array(n)
        const at = new Float64Array(n)
        gc()
        const heap0 = process.memoryUsage().heapUsed
        const rss0 = process.memoryUsage().rss
        const started = performance.now()
        const fibers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
          (i < half
            ? store.subscribe(streams[i], { from: "end" })
            : store.subscribeAll({ from: "end", filter: { types: [type] } })).pipe(
              Stream.runForEach(() =>
                Effect.sync(() => {
                  seen[i]++
                  at[i] = performance.now()
                })
              ),
              Effect.forkChild
            ))
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
        startSeconds.push((performance.now() - started) / 1000)
        gc()
        heapPer.push((process.memoryUsage().heapUsed - heap0) / n)
        rssPer.push((process.memoryUsage().rss - rss0) / n)
        for (let d = 0; d < deliveries; d++) {
          const target = expected + d + 1
          const { end: committed, start } = yield* deliver
          yield* waitFor(() => seen.every((count) => count >= target), "delivery")
          if (!seen.every((count) => count === target)) {
            return yield* Effect.die(new Error("subscribers bench: a subscription got an event twice"))
          }
          latency.push(Array.from(at, (t) => Math.max(0, t - committed)))
          fromStart.push(Array.from(at, (t) => t - start))
          appendMs.push(committed - start)
          yield* Effect.sleep("50 millis")
        }
        withSubs.push(yield* unrelated(`${tag}b`, 30))
        const ticks: Array<number> = []
        for (let t = 0; t < 5; t++) ticks.push(yield* tick(streams))
        checkMs.push(median(ticks))
        yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
        // Let go of them before the next round's baseline: held until then, they were collected
        // during its measurement and made its heap per subscription look smaller.
        fibers.length = 0
        if (round % 2 === 1) without.push(yield* unrelated(`${tag}a`, 30))
        process.stderr.write(
          `subscribers round ${round}: p99 ${quantile(latency[latency.length - 1], 0.99).toFixed(1)} ms (${
            quantile(fromStart[fromStart.length - 1], 0.99).toFixed(1)
          } from the append's start), unrelated ${withSubs[withSubs.length - 1].toFixed(2)} vs ${
            without[without.length - 1].toFixed(2)
          } ms, ${heapPer[heapPer.length - 1].toFixed(0)} B heap/sub\n`
        )
      }
      return {
        subscriptions: n,
        rounds,
        deliveryMs: {
          p50: spread(latency.map((l) => quantile(l, 0.5))),
          p99: spread(latency.map((l) => quantile(l, 0.99))),
          max: spread(latency.map((l) => Math.max(...l)))
        },
        deliveryFromAppendStartMs: {
          p50: spread(fromStart.map((l) => quantile(l, 0.5))),
          p99: spread(fromStart.map((l) => quantile(l, 0.99))),
          max: spread(fromStart.map((l) => Math.max(...l)))
        },
        appendManyMs: spread(appendMs),
        unrelatedAppendReadMs: { withSubscriptions: spread(withSubs), without: spread(without, 3) },
        unrelatedRatio: spread(withSubs.map((value, i) => value / without[i])),
        bytesPerIdleSubscription: { heap: spread(heapPer, 0), rss: spread(rssPer, 0) },
        secondsToStartAll: spread(startSeconds),
        tombstoneCheckMsPerTick: { streams: half, ms: spread(checkMs) }
      }
    }))
  }
}

export const workloads: ReadonlyArray<Workload> = [subscribers]
