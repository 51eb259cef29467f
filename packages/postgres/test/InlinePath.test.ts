// An append that no inline projection acts on keeps the one-statement path (one round trip, no
// transaction); an append carrying a type a projection handles runs in a transaction with it.
import { assert, layer } from "@effect/vitest"
import { DocumentStore, Event, EventCodec, EventStore, Projection } from "@strata/core"
import { PgStore } from "@strata/postgres"
import { spanNames } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { PgTestDatabase } from "./utils.ts"

const Counted = EventCodec.type("Counted", { schema: Schema.Struct({}) })
const Counts = DocumentStore.collection("inline_path_counts", Schema.Struct({ n: Schema.Number }))
const CountProjection = Projection.singleStream({
  name: "inline-path-counts",
  collection: Counts,
  events: EventCodec.make([Counted]),
  evolve: (current) => ({ n: (current?.n ?? 0) + 1 })
})

layer(
  PgStore.layerFromClient({ projections: [CountProjection] }).pipe(Layer.provideMerge(PgTestDatabase.layerClient)),
  { timeout: "60 seconds" }
)("PostgreSQL appends with inline projections", (it) => {
  it.effect("take the one-statement path unless a projection handles one of their types", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const docs = yield* DocumentStore.DocumentStore
      const stream = `inline-path-${Math.random().toString(16).slice(2, 10)}`
      const unrelated = yield* spanNames(store.append(stream, [Event.make("Unrelated", {})]))
      assert.notInclude(unrelated, "sql.transaction")
      const handled = yield* spanNames(store.append(stream, [Event.make("Counted", {})]))
      assert.include(handled, "sql.transaction")
      const mixed = yield* spanNames(store.append(stream, [Event.make("Unrelated", {}), Event.make("Counted", {})]))
      assert.include(mixed, "sql.transaction")
      const count = yield* docs.get(Counts, stream)
      assert.deepStrictEqual(Option.map(count, (document) => document.value), Option.some({ n: 2 }))
      assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 3n)
    }))
})
