/**
 * A prototype, not an API (issue 23, many subscribers): heap per idle subscription when the shared
 * reader runs a callback-style subscription itself, without a fiber per idle subscription, against
 * `Stream.runForEach(store.subscribe(...))` under `Store.layer`'s decorators on the same store.
 *
 * The callback subscription is a `LiveFeed.Member`: it joins the feed, catches up with its own reads
 * in a fiber that ends once it reaches the head, and then is only the member (its cursor, its handler,
 * the services it runs with). When the feed hands it events, `resume` forks a fiber that runs the
 * handler over what is buffered (events at or below the cursor dropped, as `Subscription` does) and
 * ends when the buffer is empty; an overflow reads for itself again in that fiber. A handler's
 * failure ends the subscription (here: recorded; an API would fail an `await` or a supervisor).
 *
 * The feed here is the prototype's own over the memory store's `readAll` (woken by the bench after
 * each append): the store's own feed is not exported.
 *
 *   node --conditions=@strata/source --expose-gc bench/callbackSubscriptions.ts [n] [rounds]
 */
import { MemoryStore, Metrics, Retry } from "@strata/core"
import type { Event, EventStore } from "@strata/core"
import { LiveFeed, Tracing } from "@strata/core/backend"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { collectGarbage } from "./Memory.ts"

const n = Number(process.argv[2] ?? 5_000)
const rounds = Number(process.argv[3] ?? 3)
const gc = collectGarbage

type Handler = (events: ReadonlyArray<Event.RecordedEvent>) => Effect.Effect<void>

// Per store: the feed, the store, and what every callback subscription shares.
interface Shared {
  readonly feed: LiveFeed.LiveFeed<unknown>
  readonly store: EventStore.EventStoreShape
  readonly failures: Array<unknown>
}

const always = () => true

class CallbackSubscription extends LiveFeed.Member<unknown> {
  cursor = -1n
  draining = true
  readonly stream: string
  readonly handler: Handler
  readonly services: Context.Context<never>
  readonly shared: Shared
  constructor(stream: string, handler: Handler, services: Context.Context<never>, shared: Shared) {
    super({ stream, matches: always })
    this.stream = stream
    this.handler = handler
    this.services = services
    this.shared = shared
  }
  // A fiber only while there is something to do: catching up, or handing buffered events over.
  override resume(): void {
    if (this.draining) return
    this.draining = true
    Effect.runForkWith(this.services)(this.drain())
  }
  // Reads after the cursor until a short page, handing each page to the handler.
  catchUp(): Effect.Effect<void, unknown> {
    return Effect.flatMap(
      Stream.runCollect(this.shared.store.read(this.stream, { from: this.cursor + 1n, limit: 500 })),
      (events) => {
        if (events.length === 0) return Effect.void
        this.cursor = events[events.length - 1].version
        const handled = this.handler(events)
        return events.length < 500 ? handled : Effect.andThen(handled, Effect.suspend(() => this.catchUp()))
      }
    )
  }
  drain(): Effect.Effect<void> {
    return Effect.suspend((): Effect.Effect<void, unknown> => {
      const buffer = this.buffer
      if (buffer !== undefined) {
        this.buffer = undefined
        const fresh = buffer.filter((event) => event.version > this.cursor)
        if (fresh.length === 0) return this.drain()
        this.cursor = fresh[fresh.length - 1].version
        return Effect.andThen(this.handler(fresh), this.drain())
      }
      if (this.overflowed) {
        // Fell behind: join again, read for itself, then take what the feed hands it.
        return this.shared.feed.enter(this).pipe(Effect.andThen(this.catchUp()), Effect.andThen(this.drain()))
      }
      this.draining = false
      // Handed something between the last look and now: go on.
      if (this.buffer !== undefined || this.overflowed) this.resume()
      return Effect.void
    }).pipe(Effect.catchCause((cause) =>
      Effect.sync(() => {
        this.leaveNow()
        this.shared.failures.push(cause)
      })
    ))
  }
}

// subscribe-with-a-callback: joins, catches up in a fiber that then ends; the caller's services run
// every later delivery. Leaves the feed when the scope closes.
const subscribeWith = (shared: Shared, stream: string, handler: Handler) =>
  Effect.gen(function*() {
    const services = yield* Effect.context<never>()
    const member = new CallbackSubscription(stream, handler, services, shared)
    yield* shared.feed.enter(member)
    yield* Effect.forkDetach(Effect.andThen(
      member.catchUp().pipe(Effect.catchCause((cause) => Effect.sync(() => shared.failures.push(cause)))),
      // Still `draining`: what the feed handed it meanwhile is handed over now, then the fiber ends.
      Effect.suspend(() => member.drain())
    ))
    yield* Effect.addFinalizer(() => member.leave)
    return member
  })

const measure = (variant: "callback" | "fiber") =>
  Effect.gen(function*() {
    const backend = yield* MemoryStore.make()
    const store = Metrics.withMetrics(Retry.withRetry(Tracing.eventStore(backend.eventStore)))
    const signal = yield* PubSub.sliding<void>(1)
    const feed = LiveFeed.make({
      readPage: (after, want) =>
        Effect.map(
          Stream.runCollect(backend.eventStore.readAll({ from: after + 1n, limit: want })),
          (events) => ({ events })
        ),
      head: Effect.map(
        Stream.runCollect(backend.eventStore.readAll({ direction: "backwards", limit: 1 })),
        (events) => events[0]?.position ?? -1n
      ),
      wakeups: PubSub.subscribe(signal),
      pollInterval: "5 seconds",
      pageSize: 500
    })
    const shared: Shared = { feed, store, failures: [] }
    const tag = Date.now().toString(36)
    for (let i = 0; i < n; i++) yield* store.append(`c${tag}-${i}`, [{ type: "E", data: {} }])
    let delivered = 0
    const count = (events: ReadonlyArray<Event.RecordedEvent>) => Effect.sync(() => void (delivered += events.length))
    gc()
    const before = process.memoryUsage().heapUsed
    const fibers: Array<Fiber.Fiber<void, unknown>> = []
    for (let i = 0; i < n; i++) {
      if (variant === "fiber") {
        fibers.push(yield* Effect.forkChild(Stream.runForEachArray(store.subscribe(`c${tag}-${i}`), count)))
      } else {
        yield* subscribeWith(shared, `c${tag}-${i}`, count)
      }
    }
    while (delivered < n) yield* Effect.sleep("10 millis")
    yield* Effect.sleep("50 millis")
    gc()
    const perIdle = (process.memoryUsage().heapUsed - before) / n
    // Delivery: one more event on every stream, each delivered once.
    for (let i = 0; i < n; i++) yield* store.append(`c${tag}-${i}`, [{ type: "E", data: {} }])
    yield* PubSub.publish(signal, undefined)
    const deadline = Date.now() + 30_000
    while (delivered < 2 * n && Date.now() < deadline) yield* Effect.sleep("10 millis")
    if (delivered !== 2 * n || shared.failures.length > 0) {
      return yield* Effect.die(
        new Error(`${variant}: delivered ${delivered} of ${2 * n}, ${shared.failures.length} failed`)
      )
    }
    yield* Fiber.interruptAll(fibers)
    fibers.length = 0
    return perIdle
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const results = { callback: [] as Array<number>, fiber: [] as Array<number> }
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? ["callback", "fiber"] as const : ["fiber", "callback"] as const) {
      results[variant].push(yield* measure(variant))
      yield* Effect.sleep("50 millis")
      gc()
    }
  }
  const spread = (values: ReadonlyArray<number>) => {
    const sorted = [...values].sort((a, b) => a - b)
    return {
      min: Math.round(sorted[0]),
      median: Math.round(sorted[Math.floor(sorted.length / 2)]),
      max: Math.round(sorted.at(-1)!)
    }
  }
  console.log(JSON.stringify(
    {
      subscriptions: n,
      rounds,
      bytesPerIdleSubscription: {
        callback: spread(results.callback),
        "Store.layer subscribe + runForEach": spread(results.fiber)
      }
    },
    null,
    2
  ))
})

Effect.runPromise(program)
