/**
 * Heap per idle subscription through `Store.layer` (spans, retry and metrics, as every backend layer
 * decorates), the handler form against the Stream form, on one backend (issue 23, many
 * subscribers): N subscriptions to distinct streams that exist, all caught up and idle, heap growth
 * after gc divided by N. Then one more event on every stream, each delivered exactly once (checked).
 *
 * - `subscribeWith`: `EventStore.subscribeWith(stream, handler)`, a feed member with no fiber while idle.
 * - `Stream.runForEach`: `Stream.runForEach(store.subscribe(stream), handler)` in a forked fiber.
 *
 * Rounds alternate the order; figures are min/median/max in bytes.
 *
 *   node --conditions=@strata/source --expose-gc bench/callbackSubscriptions.ts [memory|sqlite|postgres] [n] [rounds]
 *
 * PostgreSQL: `DATABASE_URL`, or an embedded server.
 */
import { Event, EventStore, MemoryStore, Store } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { layer as backendLayer } from "./Backends.ts"
import { collectGarbage } from "./Memory.ts"

const backend = process.argv[2] ?? "memory"
const n = Number(process.argv[3] ?? 4_000)
const rounds = Number(process.argv[4] ?? 3)
const gc = collectGarbage

type Variant = "subscribeWith" | "Stream.runForEach"

const measure = (variant: Variant) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const tag = `${variant === "subscribeWith" ? "w" : "f"}${Date.now().toString(36)}`
    const streams = Array.from({ length: n }, (_, i) => `cb${tag}-${i}`)
    // Every stream exists, so each subscription catches up and goes idle on the feed.
    for (let at = 0; at < n; at += 500) {
      yield* store.appendMany(
        streams.slice(at, at + 500).map((stream) => ({ stream, events: [Event.make("CbSeed", {})] }))
      )
    }
    let delivered = 0
    const count = (events: ReadonlyArray<Event.RecordedEvent>) => Effect.sync(() => void (delivered += events.length))
    const scope = yield* Scope.make()
    const fibers: Array<Fiber.Fiber<void, unknown>> = []
    gc()
    const before = process.memoryUsage().heapUsed
    for (const stream of streams) {
      if (variant === "subscribeWith") {
        yield* EventStore.subscribeWith(stream, count).pipe(Scope.provide(scope))
      } else {
        fibers.push(yield* Effect.forkChild(Stream.runForEachArray(store.subscribe(stream), count)))
      }
    }
    while (delivered < n) yield* Effect.sleep("10 millis")
    yield* Effect.sleep("100 millis")
    gc()
    const perIdle = (process.memoryUsage().heapUsed - before) / n
    // Delivery: one more event on every stream, each delivered exactly once.
    for (let at = 0; at < n; at += 500) {
      yield* store.appendMany(
        streams.slice(at, at + 500).map((stream) => ({ stream, events: [Event.make("CbLive", {})] }))
      )
    }
    const deadline = Date.now() + 60_000
    while (delivered < 2 * n && Date.now() < deadline) yield* Effect.sleep("10 millis")
    yield* Effect.sleep("100 millis")
    if (delivered !== 2 * n) return yield* Effect.die(new Error(`${variant}: delivered ${delivered} of ${2 * n}`))
    yield* Scope.close(scope, Exit.void)
    yield* Fiber.interruptAll(fibers)
    // Let go of them before the next variant's baseline (collected during it, they would shrink it).
    fibers.length = 0
    yield* Effect.sleep("50 millis")
    gc()
    return perIdle
  })

const layer = backend === "memory"
  ? MemoryStore.layer()
  : (backendLayer(backend) as Layer.Layer<Store.Services, unknown>)

const program = Effect.gen(function*() {
  const results: Record<Variant, Array<number>> = { subscribeWith: [], "Stream.runForEach": [] }
  for (let round = 0; round < rounds; round++) {
    const order: ReadonlyArray<Variant> = round % 2 === 0
      ? ["subscribeWith", "Stream.runForEach"]
      : ["Stream.runForEach", "subscribeWith"]
    for (const variant of order) {
      const per = yield* measure(variant)
      results[variant].push(per)
      process.stderr.write(`${backend} round ${round} ${variant}: ${per.toFixed(0)} B per idle subscription\n`)
    }
  }
  const spread = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((a, b) => a - b)
    return {
      min: Math.round(sorted[0]),
      median: Math.round(sorted[Math.floor(sorted.length / 2)]),
      max: Math.round(sorted.at(-1)!),
      runs: values.map(Math.round)
    }
  }
  console.log(JSON.stringify(
    {
      backend,
      subscriptions: n,
      rounds,
      bytesPerIdleSubscription: {
        subscribeWith: spread(results.subscribeWith),
        "Stream.runForEach(subscribe)": spread(results["Stream.runForEach"])
      }
    },
    null,
    2
  ))
})

Effect.runPromise(program.pipe(Effect.provide(layer))).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
