import { assert, describe, it } from "@effect/vitest"
import { Startup } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as SqlError from "effect/sql/SqlError"

const refused = new SqlError.SqlError({ reason: new SqlError.ConnectionError({ cause: new Error("ECONNREFUSED") }) })

describe("Startup", () => {
  it.effect("the boot retry retries a transient failure until the database answers", () =>
    Effect.gen(function*() {
      let attempts = 0
      const step = Effect.suspend(() => ++attempts < 3 ? Effect.fail(refused) : Effect.succeed("up"))
      const result = yield* Startup.retrying(step, { schedule: Schedule.recurs(5), isTransient: () => true })
      assert.strictEqual(result, "up")
      assert.strictEqual(attempts, 3)
    }))

  it.effect("a failure that is not transient, or no schedule, is tried once", () =>
    Effect.gen(function*() {
      let attempts = 0
      const step = Effect.suspend(() => (attempts++, Effect.fail(refused)))
      yield* Effect.flip(Startup.retrying(step, { schedule: Schedule.recurs(5), isTransient: () => false }))
      yield* Effect.flip(Startup.retrying(step, { schedule: undefined, isTransient: () => true }))
      assert.strictEqual(attempts, 2)
    }))

  it("redact masks the password of every URL in a text", () => {
    assert.strictEqual(
      Startup.redact("failed: postgres://app:s3cr:et@db:5432/x and postgres://u:p@h/y"),
      "failed: postgres://app:***@db:5432/x and postgres://u:***@h/y"
    )
  })
})
