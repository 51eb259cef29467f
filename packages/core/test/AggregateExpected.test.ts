// Aggregate.decide with `expected` (the version a caller saw, an HTTP If-Match): a mismatch fails with
// WrongExpectedVersion before deciding and writes nothing; a match appends; noStream creates only.
import { assert, describe, it } from "@effect/vitest"
import { Aggregate, EventCodec, EventStore, ExpectedVersion, MemoryStore, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const Added = EventCodec.type("Added", { schema: Schema.Struct({ n: Schema.Finite }) })
let decisions = 0
const Counter = Aggregate.make({
  category: "counter",
  codec: EventCodec.make([Added]),
  initial: 0,
  evolve: (total, event) => total + event.n,
  decide: (n: number) => {
    decisions++
    return [Added.make({ n })]
  }
})

describe("Aggregate.decide with an expected version", () => {
  it.effect("exact: matches append, a stale one fails before deciding; noStream only creates", () =>
    Effect.gen(function*() {
      const created = yield* Counter.decide("1", 1, { expected: ExpectedVersion.noStream })
      assert.strictEqual(created.version, 0n)
      const again = yield* Effect.flip(Counter.decide("1", 1, { expected: ExpectedVersion.noStream }))
      assert.instanceOf(again, StoreError.WrongExpectedVersion)
      yield* Counter.decide("1", 2, { expected: ExpectedVersion.exact(0) })
      decisions = 0
      const stale = yield* Effect.flip(Counter.decide("1", 5, { expected: ExpectedVersion.exact(0) }))
      assert.instanceOf(stale, StoreError.WrongExpectedVersion)
      assert.strictEqual((stale as StoreError.WrongExpectedVersion).actual, 1n)
      assert.strictEqual(decisions, 0, "a stale precondition never reaches the decision")
      const info = yield* Effect.flatMap(EventStore.EventStore, (store) => store.streamInfo("counter-1"))
      assert.strictEqual(info.lastVersion, 1n, "nothing written")
      const exists = yield* Counter.decide("1", 1, { expected: ExpectedVersion.streamExists })
      assert.strictEqual(exists.state, 4)
      const missing = yield* Effect.flip(Counter.decide("2", 1, { expected: ExpectedVersion.streamExists }))
      assert.instanceOf(missing, StoreError.WrongExpectedVersion)
    }).pipe(Effect.provide(MemoryStore.layer())))
})
