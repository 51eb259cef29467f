/**
 * Heap per idle subscription through `Store.layer` (spans, retry and metrics, as every backend layer
 * decorates), the handler form against the Stream form, on one backend (issue 23, many
 * subscribers): N subscriptions to distinct streams that exist, all caught up and idle, heap growth
 * after gc divided by N. Then one more event on every stream, each delivered exactly once (checked).
 *
 * - `subscribeWith`: `EventStore.subscribeWith(stream, handler)`, a feed member with no fiber while idle.
 * - `Stream.runForEach`: `Stream.runForEach(store.subscribe(stream), handler)` in a forked fiber.
 *
 * Also, per variant: an unrelated append + read of one event (median of 30, ms) with no subscription
 * and with the N idle ones; and one append delivered to `min(N, 1,000)` subscriptions of one stream
 * (the time until the last has it, median of 5, ms).
 *
 * Rounds alternate the order; figures are min/median/max in bytes.
 *
 *   node --conditions=@strata/source --expose-gc bench/callbackSubscriptions.ts [memory|sqlite|postgres|kurrentdb] [n] [rounds]
 *
 * PostgreSQL: `DATABASE_URL`, or an embedded server. KurrentDB: `KURRENTDB_URL`, or the emulator in a
 * child process (its heap is not this one's).
 */
import { Event, EventStore, MemoryStore, Store } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { layer as backendLayer } from "./Backends.ts"
import { layerOutOfProcess as kurrentLayer } from "./Kurrent.ts"
import { collectGarbage } from "./Memory.ts"

const backend = process.argv[2] ?? "memory"
const n = Number(process.argv[3] ?? 4_000)
const rounds = Number(process.argv[4] ?? 3)
const gc = collectGarbage

type Variant = "subscribeWith" | "Stream.runForEach"

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

// An unrelated append and a read of what it wrote, median of 30, in ms.
const appendRead = (tag: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const times: Array<number> = []
    for (let i = 0; i < 30; i++) {
      const started = performance.now()
      yield* store.append(`ar${tag}-${i}`, [Event.make("Unrelated", { i })])
      yield* Stream.runDrain(store.read(`ar${tag}-${i}`))
      times.push(performance.now() - started)
    }
    return median(times)
  })

// One append to a stream `k` subscriptions follow: the time until the last of them has it, median of 5, ms.
const fanOut = (variant: Variant, k: number, tag: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const stream = `fan${tag}`
    let delivered = 0
    const count = (events: ReadonlyArray<Event.RecordedEvent>) => Effect.sync(() => void (delivered += events.length))
    const scope = yield* Scope.make()
    const fibers: Array<Fiber.Fiber<void, unknown>> = []
    for (let i = 0; i < k; i++) {
      if (variant === "subscribeWith") yield* EventStore.subscribeWith(stream, count).pipe(Scope.provide(scope))
      else fibers.push(yield* Effect.forkChild(Stream.runForEachArray(store.subscribe(stream), count)))
    }
    const times: Array<number> = []
    for (let round = 0; round < 5; round++) {
      const want = delivered + k
      const started = performance.now()
      yield* store.append(stream, [Event.make("Fan", { round })])
      const deadline = Date.now() + 60_000
      while (delivered < want && Date.now() < deadline) yield* Effect.sleep("1 millis")
      if (delivered !== want) return yield* Effect.die(new Error(`${variant} fan-out: ${delivered} of ${want}`))
      times.push(performance.now() - started)
    }
    yield* Scope.close(scope, Exit.void)
    yield* Fiber.interruptAll(fibers)
    return median(times)
  })

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
    const appendReadAlone = yield* appendRead(`${tag}a`)
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
    const appendReadIdle = yield* appendRead(`${tag}i`)
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
    const fanOutMs = yield* fanOut(variant, Math.min(n, 1_000), tag)
    return { perIdle, appendReadAlone, appendReadIdle, fanOutMs }
  })

const layer = backend === "memory"
  ? MemoryStore.layer()
  : backend === "kurrentdb"
  ? kurrentLayer
  : (backendLayer(backend) as Layer.Layer<Store.Services, unknown>)

const program = Effect.gen(function*() {
  type Result = Effect.Success<ReturnType<typeof measure>>
  const results: Record<Variant, Array<Result>> = { subscribeWith: [], "Stream.runForEach": [] }
  for (let round = 0; round < rounds; round++) {
    const order: ReadonlyArray<Variant> = round % 2 === 0
      ? ["subscribeWith", "Stream.runForEach"]
      : ["Stream.runForEach", "subscribeWith"]
    for (const variant of order) {
      const result = yield* measure(variant)
      results[variant].push(result)
      process.stderr.write(
        `${backend} round ${round} ${variant}: ${result.perIdle.toFixed(0)} B per idle subscription; append+read ${
          result.appendReadAlone.toFixed(2)
        } ms alone, ${result.appendReadIdle.toFixed(2)} ms with ${n} idle; one append to ${Math.min(n, 1_000)}: ${
          result.fanOutMs.toFixed(1)
        } ms\n`
      )
    }
  }
  // Bytes to the byte, milliseconds to 0.01.
  const spread = (values: ReadonlyArray<number>, unit = 1) => {
    const round = (value: number) => Math.round(value / unit) * unit
    const sorted = [...values].sort((a, b) => a - b)
    return {
      min: round(sorted[0]),
      median: round(sorted[Math.floor(sorted.length / 2)]),
      max: round(sorted.at(-1)!),
      runs: values.map(round)
    }
  }
  const ms = 0.01
  console.log(JSON.stringify(
    {
      backend,
      subscriptions: n,
      rounds,
      bytesPerIdleSubscription: {
        subscribeWith: spread(results.subscribeWith.map((r) => r.perIdle)),
        "Stream.runForEach(subscribe)": spread(results["Stream.runForEach"].map((r) => r.perIdle))
      },
      appendReadMs: {
        alone: spread([...results.subscribeWith, ...results["Stream.runForEach"]].map((r) => r.appendReadAlone), ms),
        [`with ${n} idle subscribeWith`]: spread(results.subscribeWith.map((r) => r.appendReadIdle), ms),
        [`with ${n} idle Stream.runForEach`]: spread(results["Stream.runForEach"].map((r) => r.appendReadIdle))
      },
      [`oneAppendTo${Math.min(n, 1_000)}Ms`]: {
        subscribeWith: spread(results.subscribeWith.map((r) => r.fanOutMs), ms),
        "Stream.runForEach(subscribe)": spread(results["Stream.runForEach"].map((r) => r.fanOutMs))
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
