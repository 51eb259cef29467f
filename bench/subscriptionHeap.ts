/**
 * Heap per idle subscription on the memory backend (issue 23, many subscribers): N subscriptions
 * to distinct streams, each run by a forked `Stream.runForEach`, all live and idle; heap growth after
 * gc divided by N. First what the consumer's own fiber costs whatever it consumes (a forked fiber
 * alone, `Stream.runDrain(Stream.never)`, and `Stream.runForEach` of the cheapest stream that waits:
 * one pull suspended on a callback, as an idle subscription's is); then layer by layer: the backend's subscription, then
 * with core's span (Tracing), retry and metrics wrappers one at a time, and all of them as
 * `Store.layer` composes them; the span ones both without a tracer installed (Effect's default,
 * which exports nothing: no span is made) and with one (a tracer that makes Effect's `NativeSpan`s,
 * as an exporter's would be held while the subscription lasts). Rounds rotate the order; the
 * figures are min/median/max in bytes. Last, the handler form (`EventStore.follow` of the same
 * `subscribe`, which `subscribeWith` runs): a feed member with no fiber while idle.
 *
 * `kurrentdb`: the same on KurrentDB (KURRENTDB_URL, or the emulator in a child process, so its
 * server-side memory is not counted), one store for every measurement.
 *
 *   node --conditions=@strata/source --expose-gc bench/subscriptionHeap.ts [n] [rounds] [memory|kurrentdb]
 */
import { EventStore, MemoryStore, Metrics, Retry } from "@strata/core"
import { Tracing } from "@strata/core/backend"
import { KurrentStore } from "@strata/kurrentdb"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { outOfProcess } from "./Kurrent.ts"
import { collectGarbage } from "./Memory.ts"

const n = Number(process.argv[2] ?? 5_000)
const rounds = Number(process.argv[3] ?? 3)
const backendName = process.argv[4] ?? "memory"
const gc = collectGarbage

type Wrap = (store: EventStore.EventStoreShape) => EventStore.EventStoreShape
const all: Wrap = (store) => Metrics.withMetrics(Retry.withRetry(Tracing.eventStore(store)))
// The consumer's side alone: nothing of a store.
type Floor = "fiber" | "never" | "pull"
const floors: Record<Floor, () => Effect.Effect<void>> = {
  fiber: () => Effect.never,
  never: () => Stream.runDrain(Stream.never),
  pull: () =>
    Stream.runForEach(
      Stream.fromChannel(Channel.fromTransform(() => Effect.succeed(Effect.callback<never>(() => {})))),
      () => Effect.void
    )
}
// The handler form (`EventStore.follow` of the store's `subscribe`, what `subscribeWith` runs): a feed
// member with no fiber while idle, instead of a forked `Stream.runForEach`.
const variants: ReadonlyArray<readonly [string, Wrap | Floor, traced?: boolean, handler?: boolean]> = [
  ["consumer: a forked fiber alone (Effect.never)", "fiber"],
  ["consumer: Stream.runDrain(Stream.never)", "never"],
  ["consumer: Stream.runForEach of one suspended pull", "pull"],
  ["backend", (store) => store],
  ["+ tracing", (store) => Tracing.eventStore(store)],
  ["+ tracing, a tracer installed", (store) => Tracing.eventStore(store), true],
  ["+ retry", (store) => Retry.withRetry(store)],
  ["+ metrics", (store) => Metrics.withMetrics(store)],
  ["Store.layer (all three)", all],
  ["Store.layer (all three), a tracer installed", all, true],
  ["handler form: backend", (store) => store, false, true],
  ["handler form: Store.layer (all three)", all, false, true],
  ["handler form: Store.layer (all three), a tracer installed", all, true, true]
]

// Keeps every span it makes, as an exporter holds a span until it ends.
const tracer = Tracer.make({ span: (options) => new Tracer.NativeSpan(options) })

const measure = (
  makeBackend: Effect.Effect<EventStore.EventStoreShape>,
  wrap: Wrap | Floor,
  traced = false,
  handler = false
) =>
  Effect.gen(function*() {
    const floor = typeof wrap === "string" ? floors[wrap] : undefined
    const backend = yield* makeBackend
    const store = typeof wrap === "string" ? backend : wrap(backend)
    const tag = Date.now().toString(36)
    // Every stream exists, so each subscription is caught up and idle on the feed.
    // (Not for the consumer alone: the store would be collected during its measurement.)
    if (floor === undefined) {
      for (let i = 0; i < n; i++) yield* store.append(`h${tag}-${i}`, [{ type: "E", data: {} }])
    }
    let delivered = 0
    const count = () => Effect.sync(() => void delivered++)
    gc()
    const before = process.memoryUsage().heapUsed
    const fibers: Array<Fiber.Fiber<void, unknown>> = []
    const scope = yield* Scope.make()
    for (let i = 0; i < n; i++) {
      if (handler) {
        yield* EventStore.follow(store.subscribe(`h${tag}-${i}`), count).pipe(Scope.provide(scope))
        continue
      }
      fibers.push(
        yield* Effect.forkChild(
          floor !== undefined ? floor() : Stream.runForEach(store.subscribe(`h${tag}-${i}`), count)
        )
      )
    }
    while (delivered < (floor !== undefined ? 0 : n)) yield* Effect.sleep("10 millis")
    yield* Effect.sleep("50 millis")
    gc()
    const per = (process.memoryUsage().heapUsed - before) / n
    yield* Fiber.interruptAll(fibers)
    yield* Scope.close(scope, Exit.void)
    // Let go of the interrupted fibers before the next variant's baseline: held until then, they
    // were collected during its measurement and made it look ~0.4-0.7 KB per subscription smaller.
    fibers.length = 0
    yield* Effect.sleep("50 millis")
    gc()
    return per
  }).pipe(traced ? Effect.withTracer(tracer) : (effect) => effect)

const program = Effect.gen(function*() {
  // One KurrentDB store (one client) for every measurement; a memory store each.
  const makeBackend: Effect.Effect<EventStore.EventStoreShape> = backendName === "kurrentdb"
    ? Effect.succeed(
      (yield* KurrentStore.make({ connectionString: (yield* outOfProcess).connectionString })).eventStore
    )
    : Effect.map(MemoryStore.make(), (made) => made.eventStore)
  const results = new Map<string, Array<number>>(variants.map(([name]) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length])
    for (const [name, wrap, traced, handler] of order) {
      results.get(name)!.push(yield* measure(makeBackend, wrap, traced, handler))
    }
  }
  const spread = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((a, b) => a - b)
    return {
      min: Math.round(sorted[0]),
      median: Math.round(sorted[Math.floor(sorted.length / 2)]),
      max: Math.round(sorted[sorted.length - 1])
    }
  }
  const out: Record<string, unknown> = { backend: backendName, subscriptions: n, rounds, bytesPerSubscription: {} }
  for (const [name, values] of results) (out.bytesPerSubscription as Record<string, unknown>)[name] = spread(values)
  console.log(JSON.stringify(out, null, 2))
})

Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
