// Binary events on PostgreSQL's append paths: a single-stream append carrying them (alone or mixed
// with JSON events) takes the one-statement path (no transaction) with the bytes as bytea; with tags
// it takes the transaction; a multi-stream append writes them in its transaction. Every path reads
// back byte for byte.
import { assert, layer } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import { PgStore } from "@strata/postgres"
import { spanNames } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { PgTestDatabase } from "./utils.ts"

const everyByte = () => Uint8Array.from({ length: 256 }, (_, i) => i)

layer(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)), { timeout: "60 seconds" })(
  "PostgreSQL binary append paths",
  (it) => {
    it.effect("one statement for binary and mixed appends, a transaction with tags; all read back", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const stream = `binary-path-${Math.random().toString(16).slice(2, 10)}`
        const alone = yield* spanNames(store.append(stream, [Event.binary("Blob", everyByte())]))
        assert.notInclude(alone, "sql.transaction")
        const mixed = yield* spanNames(store.append(stream, [
          Event.make("Json", { a: 1 }),
          Event.binary("Blob", new Uint8Array(0), { contentType: "image/png" }),
          Event.binary("Blob", everyByte().reverse(), { contentType: "text/plain; charset=utf-8" })
        ]))
        assert.notInclude(mixed, "sql.transaction")
        const tagged = yield* spanNames(
          store.append(stream, [{ ...Event.binary("Blob", Uint8Array.of(7)), tags: [`t:${stream}`] }])
        )
        assert.include(tagged, "sql.transaction")
        yield* store.appendMany([
          { stream: `${stream}a`, events: [Event.binary("Blob", Uint8Array.of(1, 2))] },
          { stream: `${stream}b`, events: [Event.make("Json", 2)] }
        ])
        const read = yield* Stream.runCollect(store.read(stream))
        assert.deepStrictEqual(new Uint8Array(read[0].data as Uint8Array), everyByte())
        assert.deepStrictEqual(read[1].data, { a: 1 })
        assert.isUndefined(read[1].contentType)
        assert.deepStrictEqual(new Uint8Array(read[2].data as Uint8Array), new Uint8Array(0))
        assert.strictEqual(read[2].contentType, "image/png")
        assert.deepStrictEqual(new Uint8Array(read[3].data as Uint8Array), everyByte().reverse())
        assert.strictEqual(read[3].contentType, "text/plain; charset=utf-8")
        assert.deepStrictEqual(new Uint8Array(read[4].data as Uint8Array), Uint8Array.of(7))
        assert.deepStrictEqual(read[4].tags, [`t:${stream}`])
        const [many] = yield* Stream.runCollect(store.read(`${stream}a`))
        assert.deepStrictEqual(new Uint8Array(many.data as Uint8Array), Uint8Array.of(1, 2))
      }))
  }
)
