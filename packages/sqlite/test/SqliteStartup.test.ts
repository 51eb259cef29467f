// Startup errors: a SQLite file that cannot be opened fails the layer with one StartupFailed naming
// the file and what to check.
import { assert, describe, it } from "@effect/vitest"
import { StoreError } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

describe("SqliteStore startup errors", () => {
  it.effect("a file in a directory that does not exist names the path and says to check the directory", () =>
    Effect.gen(function*() {
      const filename = "/nonexistent-strata-directory/app.db"
      const exit = yield* Effect.exit(Layer.build(SqliteStore.layer({ filename })).pipe(Effect.scoped))
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail") : undefined
      assert.isDefined(failure, "a typed failure, not a defect")
      const error = (failure as { readonly error: unknown }).error
      assert.instanceOf(error, StoreError.StartupFailed)
      assert.include((error as StoreError.StartupFailed).message, filename)
      assert.include((error as StoreError.StartupFailed).hint, "directory exists")
    }))
})
