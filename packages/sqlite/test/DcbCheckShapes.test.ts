// SQLite compiles a condition's check once per query shape (SqliteAppend) and binds each append's
// own values into it: conditions of one shape but different types, tags and `after` must each be
// checked with their own values, on the synchronous append path.
import { assert, layer } from "@effect/vitest"
import { EventStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"

const outcome = (effect: Effect.Effect<unknown, unknown>) =>
  effect.pipe(
    Effect.map(() => "ok"),
    Effect.catch((error) => Effect.succeed((error as { readonly _tag?: string })._tag ?? "?"))
  )

layer(SqliteStore.layer({ filename: ":memory:" }), { excludeTestServices: true })("SQLite check shapes", (it) => {
  it.effect("conditions of one shape are checked with their own values", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const a = yield* store.append("s-a", [{ type: "T1", data: {}, tags: ["a", "x"] }])
      yield* store.append("s-b", [{ type: "T2", data: {}, tags: ["b"] }])
      const append = (failIfEventsMatch: EventStore.Query, after?: bigint) =>
        outcome(
          store.append("s-new", [{ type: "N", data: {}, tags: ["n"] }], {
            condition: after === undefined ? { failIfEventsMatch } : { failIfEventsMatch, after }
          })
        )
      // One type and one tag per item, no `after`: each outcome depends on both values.
      assert.strictEqual(yield* append([{ types: ["T2"], tags: ["a"] }]), "ok")
      assert.strictEqual(yield* append([{ types: ["T1"], tags: ["b"] }]), "ok")
      assert.strictEqual(yield* append([{ types: ["T1"], tags: ["a"] }]), "AppendConditionFailed")
      assert.strictEqual(yield* append([{ types: ["T2"], tags: ["b"] }]), "AppendConditionFailed")
      // Two tags in one item, in either order.
      assert.strictEqual(yield* append([{ tags: ["x", "a"] }]), "AppendConditionFailed")
      assert.strictEqual(yield* append([{ tags: ["x", "b"] }]), "ok")
      // With `after`: the same shape, different positions.
      assert.strictEqual(yield* append([{ tags: ["a"] }], a.position - 1n), "AppendConditionFailed")
      assert.strictEqual(yield* append([{ tags: ["a"] }], a.position), "ok")
      // Types only, two items.
      assert.strictEqual(yield* append([{ types: ["T9"] }, { types: ["T8"] }]), "ok")
      assert.strictEqual(yield* append([{ types: ["T9"] }, { types: ["T2"] }]), "AppendConditionFailed")
      const written = yield* store.streamInfo("s-new")
      assert.strictEqual(written.lastVersion, 4n)
    }))
})
