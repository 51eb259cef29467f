/**
 * Issue 22: a unit of work that appends and then idles holds every global reader below its position
 * (the horizon) until it ends. Pinned here: the readers' horizon reports it (the gauge
 * `strata_horizon_held_seconds`, one warning per stall past `PgHorizon.HeldWarning`, one info line
 * with the total when it ends), and `UnitOfWork.Timeout` ends it: the unit is rolled back and an
 * append committed meanwhile reaches a subscriber once the limit has passed, not never.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Event, EventStore, Metrics, UnitOfWork } from "@strata/core"
import { PgHorizon, PgStore } from "@strata/postgres"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const StoreLayer = PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient))

const lines: Array<{ readonly level: string; readonly text: string }> = []
const capture = Logger.layer([
  Logger.make(({ logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    if (text.startsWith("strata: global readers")) lines.push({ level: logLevel, text })
  })
])

const held = Effect.map(Metric.value(Metrics.horizonHeldSeconds), (state) => state.value)

describe("PostgreSQL held horizon", () => {
  layer(StoreLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("an idle unit: the gauge and one warning report the held horizon; UnitOfWork.Timeout ends it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const tag = `held${Math.random().toString(16).slice(2, 10)}`
        const delivered: Array<{ readonly type: string; readonly at: number }> = []
        yield* store.subscribeAll({ from: "end", filter: { categories: [tag] } }).pipe(
          Stream.runForEach((event) => Effect.sync(() => delivered.push({ type: event.type, at: Date.now() }))),
          Effect.forkChild
        )
        yield* Effect.sleep("300 millis") // the subscription is at the head
        const appended = yield* Deferred.make<void>()
        const unit = yield* Effect.forkChild(
          UnitOfWork.transaction(Effect.gen(function*() {
            yield* store.append(`${tag}-held`, [Event.make("Held", {})])
            yield* Deferred.succeed(appended, undefined)
            return yield* Effect.never // a slow call that never answers
          })).pipe(Effect.provideService(UnitOfWork.Timeout, "3 seconds"), Effect.exit)
        )
        yield* Deferred.await(appended)
        yield* store.append(`${tag}-other`, [Event.make("Other", {})])
        const committed = Date.now()
        // Held: committed, yet not delivered, and the gauge and the warning say so.
        yield* Effect.sleep("1500 millis")
        assert.deepStrictEqual(delivered, [], "held below the idle unit's append")
        const during = yield* held
        assert.isAtLeast(during, 0.7, `gauge while held: ${during}`)
        const warnings = lines.filter((line) => line.level === "Warn")
        assert.strictEqual(warnings.length, 1, JSON.stringify(lines))
        assert.match(warnings[0].text, /held back for \d+\.\d s by an append in flight/)
        // The limit ends the unit; the other append arrives, the unit's never.
        const ended = yield* Fiber.join(unit).pipe(Effect.timeoutOption("10 seconds"))
        assert.isTrue(Option.isSome(ended), "the idle unit ended by itself (UnitOfWork.Timeout)")
        assert.strictEqual(Option.getOrThrow(ended)._tag, "Failure")
        for (let i = 0; i < 100 && delivered.length === 0; i++) yield* Effect.sleep("20 millis")
        assert.deepStrictEqual(delivered.map((event) => event.type), ["Other"])
        const heldFor = delivered[0].at - committed
        assert.isAtLeast(heldFor, 2500, `held for ${heldFor} ms`)
        assert.isAtMost(heldFor, 5000, `held for ${heldFor} ms`)
        yield* Effect.sleep("100 millis")
        assert.strictEqual(yield* held, 0, "the gauge is back to 0 once nothing holds readers")
        assert.strictEqual(lines.filter((line) => line.level === "Warn").length, 1, "one warning per stall")
        const info = lines.filter((line) => line.level === "Info")
        assert.strictEqual(info.length, 1, JSON.stringify(lines))
        assert.match(info[0].text, /held back for \d+\.\d s .* it has ended/)
        assert.deepStrictEqual(
          yield* Stream.runCollect(store.read(`${tag}-held`)),
          [],
          "the unit was rolled back"
        )
      }).pipe(Effect.provideService(PgHorizon.HeldWarning, "500 millis"), Effect.provide(capture)))
  })
})
