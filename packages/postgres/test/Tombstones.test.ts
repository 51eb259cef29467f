/**
 * A live subscription ends with StreamDeleted when another process (a store on its own connection
 * pool, with its own listener) tombstones its stream: the tombstone appends nothing and notifies
 * nobody, so the shared live reader checks its members' streams on the poll tick (issue 23).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Event, EventStore, type StoreError } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { makeSecondClient, PgTestDatabase } from "./utils.ts"

const StoreLayer = PgStore.layerFromClient({ pollInterval: "100 millis" }).pipe(
  Layer.provideMerge(PgTestDatabase.layerClient)
)

/** A full PgStore on its own connection pool, as another process would run it. */
const otherProcess = Effect.gen(function*() {
  const client = yield* makeSecondClient({ maxConnections: 2 })
  const context = yield* Layer.build(
    PgStore.layerFromClient({ pollInterval: "100 millis" }).pipe(
      Layer.provide(Layer.succeedContext(
        Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client))
      ))
    )
  )
  return Context.get(context, EventStore.EventStore)
})

layer(StoreLayer, { timeout: "60 seconds", excludeTestServices: true })("tombstones", (it) => {
  it.effect("a live subscription fails with StreamDeleted when another process tombstones its stream", () =>
    Effect.gen(function*() {
      const mine = yield* EventStore.EventStore
      const other = yield* otherProcess
      const stream = `order-${Math.random().toString(16).slice(2, 10)}`
      const neighbour = `${stream}-other`
      yield* mine.append(stream, [Event.make("Placed", {})])
      yield* mine.append(neighbour, [Event.make("Placed", {})])
      const got: Array<bigint> = []
      const kept: Array<bigint> = []
      const outcome = yield* Deferred.make<StoreError.StreamDeleted | "ended">()
      yield* Stream.runForEach(mine.subscribe(stream), (event) => Effect.sync(() => got.push(event.version))).pipe(
        Effect.as("ended" as const),
        Effect.catchTag("StreamDeleted", Effect.succeed),
        Effect.orDie,
        Effect.flatMap((result) => Deferred.succeed(outcome, result)),
        Effect.forkScoped
      )
      yield* Stream.runForEach(mine.subscribe(neighbour), (event) => Effect.sync(() => kept.push(event.version)))
        .pipe(Effect.forkScoped)
      // Live: an event the other process appends arrives (NOTIFY or the poll).
      yield* other.append(stream, [Event.make("Paid", {})])
      while (got.length < 2 || kept.length < 1) yield* Effect.sleep("10 millis")
      yield* other.tombstoneStream(stream)
      const result = yield* Deferred.await(outcome).pipe(Effect.timeout("3 seconds"))
      assert.notStrictEqual(result, "ended")
      const error = result as StoreError.StreamDeleted
      assert.strictEqual(error._tag, "StreamDeleted")
      assert.strictEqual(error.stream, stream)
      assert.isTrue(error.tombstoned)
      assert.deepStrictEqual(got, [0n, 1n])
      // The neighbour's subscription on the same reader goes on.
      yield* other.append(neighbour, [Event.make("Paid", {})])
      while (kept.length < 2) yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(kept, [0n, 1n])
    }).pipe(Effect.scoped))
})
