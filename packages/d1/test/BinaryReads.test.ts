// D1's results are JSON, where a BLOB comes back as an array of numbers: event reads select
// hex(data_bytes) through the dialect's column list instead (two characters a byte), and read it
// back byte for byte, on every read path.
import * as D1Client from "@effect/sql-d1/D1Client"
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { D1Dialect, D1Store } from "@strata/d1"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { D1TestDatabase } from "./utils.ts"

const Store = Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Store.layer({ db }))).pipe(
  Layer.provideMerge(D1TestDatabase.layer)
)

const everyByte = () => Uint8Array.from({ length: 256 }, (_, i) => i)

describe("D1 binary reads", () => {
  it.layer(Store, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("select hex(data_bytes) and read every byte back, large payloads too", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const large = globalThis.crypto.getRandomValues(new Uint8Array(64 * 1024))
        yield* store.append("d1-bytes", [
          Event.binary("Blob", everyByte()),
          Event.make("Json", { a: 1 }),
          Event.binary("Blob", new Uint8Array(0), { contentType: "image/png" }),
          Event.binary("Blob", large)
        ])
        const columns = D1Dialect.make(yield* D1Client.D1Client).eventColumns
        assert.include(columns, "hex(data_bytes)")
        const [row] = yield* sql.unsafe(`SELECT ${columns} FROM strata_events WHERE stream = 'd1-bytes' LIMIT 1`)
          .values
        const hex = Array.from(everyByte(), (byte) => byte.toString(16).padStart(2, "0")).join("")
        assert.strictEqual(row[10], hex.toUpperCase())
        const check = (events: ReadonlyArray<Event.RecordedEvent>, path: string) => {
          assert.strictEqual(events.length, 4, path)
          assert.deepStrictEqual(events[0].data, everyByte(), path)
          assert.deepStrictEqual(events[1].data, { a: 1 }, path)
          assert.isUndefined(events[1].contentType, path)
          assert.deepStrictEqual(events[2].data, new Uint8Array(0), path)
          assert.strictEqual(events[2].contentType, "image/png", path)
          assert.deepStrictEqual(events[3].data, large, path)
        }
        check(yield* Stream.runCollect(store.read("d1-bytes")), "read")
        check(
          Array.from(yield* Stream.runCollect(store.readAll({ filter: { streamPrefixes: ["d1-bytes"] } }))),
          "readAll"
        )
        check(Array.from(yield* Stream.runCollect(Stream.take(store.subscribe("d1-bytes"), 4))), "subscribe")
      }))
  })
})
