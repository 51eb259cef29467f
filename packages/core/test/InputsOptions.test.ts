// Unknown option keys are refused with InvalidArgument naming them (Inputs), so a plain-JavaScript
// caller's typo or a key of another operation is not silently ignored.
import { assert, describe, it } from "@effect/vitest"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"

const detail = (effect: Effect.Effect<unknown, { readonly detail: string }>) =>
  Effect.map(Effect.flip(effect), (error) => error.detail)

describe("Inputs options", () => {
  it.effect("subscribeAllOptions refuses a query (pointing to Dcb.subscribe) and unknown keys", () =>
    Effect.gen(function*() {
      assert.match(yield* detail(Inputs.subscribeAllOptions("subscribeAll", { query: [] })), /Dcb\.subscribe/)
      assert.match(yield* detail(Inputs.subscribeAllOptions("subscribeAll", { form: "end" })), /"form"/)
      assert.match(
        yield* detail(Inputs.subscribeAllOptions("subscribeAll", { filter: { type: ["A"] } })),
        /filter has no "type"/
      )
      assert.match(yield* detail(Inputs.subscribeAllOptions("subscribeAll", { from: { after: -1n } })), /from\.after/)
      assert.match(yield* detail(Inputs.subscribeAllOptions("subscribeAll", "end")), /must be an object/)
      // Known keys, and unknown ones spread as undefined, pass.
      yield* Inputs.subscribeAllOptions("subscribeAll", undefined)
      yield* Inputs.subscribeAllOptions("subscribeAll", {
        from: { after: 3n },
        filter: { types: ["A"] },
        query: undefined
      })
    }))

  it.effect("readOptions refuses what read and readAll do not take", () =>
    Effect.gen(function*() {
      assert.match(yield* detail(Inputs.readOptions("read", { filter: {} } as never)), /read has no option "filter"/)
      assert.match(yield* detail(Inputs.readOptions("readAll", { limt: 1 } as never)), /"limt"/)
      const checked = yield* Inputs.readOptions("readAll", { limit: 2, query: [{ tags: ["a"] }] })
      assert.deepStrictEqual(checked.query, [{ tags: ["a"] }])
    }))
})
