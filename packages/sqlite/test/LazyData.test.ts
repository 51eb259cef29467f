// An event's JSON data on SQLite is parsed when it is first read, not when its row is (issue 23,
// consumer speed: Rows.fromValues). What a caller sees is the same: `data` is an own enumerable
// property holding the parsed value (once parsed, the same value), a spread, JSON.stringify and
// structuredClone carry it, and it can be replaced. Stored text that is not JSON (a row changed
// outside Strata) does not fail the read: it throws, naming the event, where `data` is first read.
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"

const payload = { order: "o-1", lines: [{ sku: "A", quantity: 2 }], note: "ring twice" }

describe("SQLite: an event's data is parsed when first read", () => {
  it.effect("reads back as an own enumerable property with the parsed value", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("order-1", [Event.make("Placed", payload), Event.make("Noted", "just a string")])
      const [placed, noted] = yield* Stream.runCollect(store.read("order-1"))
      assert.deepStrictEqual(Object.keys(placed), [
        "id",
        "stream",
        "version",
        "position",
        "type",
        "data",
        "metadata",
        "createdAt"
      ])
      assert.deepStrictEqual(placed.data, payload)
      // Parsed once: the same value each time.
      assert.strictEqual(placed.data, placed.data)
      assert.strictEqual(noted.data, "just a string")
      const spread = { ...placed }
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(spread, "data")?.value, payload)
      const json = JSON.stringify(placed, (_, value) => typeof value === "bigint" ? String(value) : value)
      assert.deepStrictEqual(JSON.parse(json).data, payload)
      assert.deepStrictEqual(structuredClone(placed).data, payload) // Replaced: the new value, the stored text no longer parsed.
      ;(noted as { data: unknown }).data = { replaced: true }
      assert.deepStrictEqual(noted.data, { replaced: true })
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:" }))))

  it.effect("data that is not JSON fails where it is read, naming the event, not the read", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      yield* store.append("order-2", [Event.make("Placed", payload), Event.make("Placed", payload)])
      yield* sql`UPDATE strata_events SET data = 'not json' WHERE stream = 'order-2' AND version = 1`
      const [first, second] = yield* Stream.runCollect(store.read("order-2"))
      assert.deepStrictEqual(first.data, payload)
      assert.throws(() => second.data, `event ${second.position} of order-2: its stored data is not JSON`)
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:" }))))
})
