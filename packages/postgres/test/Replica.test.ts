// Reads from a real hot standby (PostgreSQL 15 streaming replication started by the test, see
// test/replica/cluster.ts): fresh reads, the seam of a subscription under concurrent writers, a
// stalled standby (replay paused) never giving a gapped read, waitFor, lag and the URL form.
import { assert, it, layer } from "@effect/vitest"
import { EventStore } from "@strata/core"
import { PgReplica, PgUrl } from "@strata/postgres"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { describe } from "vitest"
import { pause, primarySettled, resume, standby, standbySettled, storeLayer } from "./replica/store.ts"

const unique = () => crypto.randomUUID().replaceAll("-", "").slice(0, 12)

const fallbackCount = Effect.map(Metric.value(PgReplica.fallbacks), (state) => Number(state.count))

// Appends `perWriter` one-event appends from each of `writers` fibers, to streams of `category`.
const write = (category: string, type: string, writers: number, perWriter: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      (w) =>
        Effect.forEach(
          Array.from({ length: perWriter }, (_, i) => i),
          (i) => store.append(`${category}-${w}-${i % 5}`, [{ type, data: { w, i } }]),
          { discard: true }
        ),
      { concurrency: "unbounded", discard: true }
    )
  })

const positionsOf = (category: string, consistency: PgReplica.Consistency) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = yield* store.readAll({ filter: { categories: [category] } }).pipe(
      Stream.provideService(PgReplica.Consistency, consistency),
      Stream.runCollect
    )
    return Array.from(events, (event) => event.position)
  })

// Tests in a file run one after the other (the project does not run them concurrently): they pause the
// standby's replay, which would stall the others' reads.
layer(storeLayer({ standbys: 1, replicaTimeout: "5 seconds" }), { timeout: "240 seconds", excludeTestServices: true })(
  "PgReplica",
  (it) =>
    describe("on a primary and a hot standby", () => {
      it.effect("reads from the standby see everything committed before they began, and no fallback was needed", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const category = `fresh${unique()}`
          const before = yield* fallbackCount
          for (let round = 0; round < 20; round++) {
            const appended = yield* store.append(`${category}-a`, [{ type: "Fresh", data: { round } }])
            // The very next read, from the standby: it waits for the standby to replay the primary's WAL.
            const read = yield* store.read(`${category}-a`).pipe(Stream.runCollect)
            assert.strictEqual(read.length, round + 1)
            const global = yield* positionsOf(category, "replica")
            assert.strictEqual(global[global.length - 1], appended.position)
          }
          assert.strictEqual(yield* fallbackCount, before, "every read was served by the standby")
        }), { timeout: 120_000 })

      it.effect("a paused standby never serves a gapped read; routed reads fall back to the primary", () =>
        Effect.gen(function*() {
          const category = `stall${unique()}`
          const replica = yield* standby()
          const writers = yield* Effect.forkChild(write(category, "Stalled", 8, 40))
          yield* Effect.sleep("300 millis")
          yield* pause()
          yield* Fiber.join(writers)
          // Appended while replay is paused, so the standby is behind however fast the first wave was
          // (on a quiet machine all 320 can be written, and replayed, before the pause).
          yield* write(category, "Stalled", 8, 5)
          // While replay is paused, the standby's own horizon (its published row) bounds what it shows.
          const direct = yield* replica.store.eventStore.readAll({ filter: { categories: [category] } }).pipe(
            Stream.runCollect
          )
          const onPrimary = yield* positionsOf(category, "primary")
          assert.strictEqual(onPrimary.length, 360)
          const shown = Array.from(direct, (event) =>
            event.position)
          assert.isBelow(shown.length, onPrimary.length, "the paused standby is behind")
          // A prefix of the primary's log: nothing below the last shown position is missing.
          assert.deepStrictEqual(shown, onPrimary.slice(0, shown.length))
          // A routed read cannot be served by the paused standby in time: the primary serves it, whole.
          const before = yield* fallbackCount
          const routed = yield* Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            return yield* store.readAll({ filter: { categories: [category] } }).pipe(Stream.runCollect)
          }).pipe(Effect.provideService(PgReplica.Consistency, "replica"))
          assert.deepStrictEqual(
            Array.from(routed, (event) =>
              event.position),
            onPrimary
          )
          assert.isAbove(yield* fallbackCount, before)
          yield* resume()
        }).pipe(Effect.ensuring(Effect.ignore(resume()))), { timeout: 120_000 })

      it.effect(
        "subscribeAll from the standby: every event once, in order, across the seam, with replay paused mid-way",
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const category = `seam${unique()}`
            // Catch-up material first, then live appends from 8 writers while subscribed.
            yield* write(category, "Seam", 4, 10)
            const total = 40 + 8 * 30
            const subscriber = yield* store.subscribeAll({ from: "start", filter: { categories: [category] } }).pipe(
              Stream.take(total),
              Stream.runCollect,
              Effect.timeout("90 seconds"),
              Effect.forkChild
            )
            const writers = yield* Effect.forkChild(write(category, "Seam", 8, 30))
            yield* Effect.sleep("200 millis")
            yield* pause()
            yield* Effect.sleep("1 second")
            yield* resume()
            yield* Fiber.join(writers)
            const received = Array.from(yield* Fiber.join(subscriber), (event) =>
              event.position)
            const onPrimary = yield* positionsOf(category, "primary")
            assert.strictEqual(onPrimary.length, total)
            assert.deepStrictEqual(received, onPrimary)
          }).pipe(Effect.ensuring(Effect.ignore(resume()))),
        { timeout: 150_000 }
      )

      // The subscriptions of a store share one live reader, started under the first one's fence: the
      // replica horizon must still never go below one it returned before (a later subscription's catch-up
      // read under an older fence skipped events at the seam before it was made monotonic).
      it.effect("subscriptions started under different fences share the live reader without a gap", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          for (let round = 0; round < 15; round++) {
            const category = `shared${unique()}`
            const filter = { categories: [category] }
            const collect = Stream.take(9)
            const one = yield* store.subscribeAll({ filter }).pipe(
              collect,
              Stream.runCollect,
              Effect.timeout("30 seconds"),
              Effect.forkChild
            )
            yield* store.append(`${category}-a`, [1, 2, 3].map((i) => ({ type: "S", data: { i } })))
            const two = yield* store.subscribeAll({ filter }).pipe(
              collect,
              Stream.runCollect,
              Effect.timeout("30 seconds"),
              Effect.forkChild
            )
            yield* Effect.forEach(
              ["b", "c", "d"],
              (s) =>
                store.append(`${category}-${s}`, [1, 2].map((i) => ({ type: "S", data: { i } }))),
              { concurrency: "unbounded", discard: true }
            )
            const onPrimary = yield* positionsOf(category, "primary")
            assert.deepStrictEqual(
              Array.from(yield* Fiber.join(one), (event) =>
                event.position),
              onPrimary
            )
            assert.deepStrictEqual(
              Array.from(yield* Fiber.join(two), (event) =>
                event.position),
              onPrimary
            )
          }
        }), { timeout: 120_000 })

      it.effect("a read inside a transaction on the primary sees the transaction's own writes", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          const stream = `tx${unique()}-1`
          const inside = yield* sql.withTransaction(Effect.gen(function*() {
            yield* store.append(stream, [{ type: "T", data: {} }])
            return yield* store.read(stream).pipe(Stream.runCollect)
          }))
          assert.strictEqual(inside.length, 1)
        }), { timeout: 60_000 })

      it.effect("subscribe from the end on the standby delivers what follows the call, not what preceded it", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const stream = `end${unique()}-1`
          yield* pause()
          yield* store.append(stream, [{ type: "Before", data: {} }])
          yield* resume()
          const subscriber = yield* store.subscribe(stream, { from: "end" }).pipe(
            Stream.take(1),
            Stream.runCollect,
            Effect.timeout("30 seconds"),
            Effect.forkChild
          )
          yield* Effect.sleep("500 millis")
          yield* store.append(stream, [{ type: "After", data: {} }])
          const got = yield* Fiber.join(subscriber)
          assert.deepStrictEqual(
            Array.from(got, (event) =>
              event.type),
            ["After"]
          )
        }).pipe(Effect.ensuring(Effect.ignore(resume()))), { timeout: 60_000 })

      it.effect(
        "waitFor: returns once the standby settled the position; a paused standby fails it with ReplicaTimeout",
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const stream = `wait${unique()}-1`
            const first = yield* store.append(stream, [{ type: "W", data: {} }])
            yield* PgReplica.waitFor(first.position, { timeout: "20 seconds" })
            assert.isTrue((yield* standbySettled()) > first.position)
            yield* pause()
            const second = yield* store.append(stream, [{ type: "W", data: {} }])
            const exit = yield* Effect.exit(PgReplica.waitFor(second.position, { timeout: "500 millis" }))
            assert.isTrue(Exit.isFailure(exit))
            const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
            assert.strictEqual(error?._tag === "Fail" ? error.error._tag : undefined, "ReplicaTimeout")
            yield* resume()
            yield* PgReplica.waitFor(second.position, { timeout: "20 seconds" })
          }).pipe(Effect.ensuring(Effect.ignore(resume()))),
        { timeout: 60_000 }
      )

      it.effect(
        "the store with replicas publishes the settled position after a commit, with no read asking; lag shows a paused standby",
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const stream = `lag${unique()}-1`
            const appended = yield* store.append(stream, [{ type: "L", data: {} }])
            // Published after the commit (at most 20 ms later, plus the statement).
            let published = yield* primarySettled
            for (let i = 0; i < 200 && published <= appended.position; i++) {
              yield* Effect.sleep("10 millis")
              published = yield* primarySettled
            }
            assert.isTrue(published > appended.position)
            const replicas = yield* Effect.service(PgReplica.Replicas)
            yield* pause()
            yield* store.append(stream, [{ type: "L", data: {} }])
            yield* Effect.sleep("300 millis")
            const [lagging] = yield* replicas.lag
            assert.isAbove(Number(lagging!.positions), 0)
            assert.isAbove(Number(lagging!.bytes), 0)
            yield* resume()
            let caught = lagging!
            for (let i = 0; i < 200 && (caught.positions > 0n || caught.bytes > 0n); i++) {
              yield* Effect.sleep("50 millis")
              caught = (yield* replicas.lag)[0]!
            }
            assert.strictEqual(caught.positions, 0n)
          }).pipe(Effect.ensuring(Effect.ignore(resume()))),
        { timeout: 60_000 }
      )

      it.effect("consistency \"primary\" per call never touches the standby", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const stream = `primary${unique()}-1`
          yield* pause()
          yield* store.append(stream, [{ type: "P", data: {} }])
          const before = yield* fallbackCount
          const started = Date.now()
          const read = yield* store.read(stream).pipe(
            Stream.provideService(PgReplica.Consistency, "primary"),
            Stream.runCollect
          )
          assert.strictEqual(read.length, 1)
          assert.strictEqual(yield* fallbackCount, before)
          assert.isBelow(Date.now() - started, Duration.toMillis("25 seconds"), "did not wait for the standby")
          yield* resume()
        }).pipe(Effect.ensuring(Effect.ignore(resume()))), { timeout: 60_000 })
    })
)

describe("PgUrl replicas", () => {
  it.effect("?replica= names standbys sharing the primary's credentials and database; ?consistency= the default", () =>
    Effect.gen(function*() {
      const parsed = yield* PgUrl.parse(
        Redacted.make(
          "postgres://app:secret@db1:5432/app?replica=db2:5433&replica=db3&consistency=primary&sslmode=require"
        )
      )
      assert.strictEqual(parsed.consistency, "primary")
      assert.deepStrictEqual(parsed.replicas?.map(Redacted.value), [
        "postgres://app:secret@db2:5433/app?sslmode=require",
        "postgres://app:secret@db3/app?sslmode=require"
      ])
      assert.strictEqual(Redacted.value(parsed.url!), "postgres://app:secret@db1:5432/app?sslmode=require")
      const bad = yield* Effect.flip(PgUrl.parse(Redacted.make("postgres://app:secret@db1/app?replica=db2:99999")))
      assert.notInclude(bad.message, "secret")
      const level = yield* Effect.flip(PgUrl.parse(Redacted.make("postgres://db1/app?consistency=stale")))
      assert.include(level.message, "consistency")
    }))
})
