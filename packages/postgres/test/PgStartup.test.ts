// Startup errors: a store layer that cannot reach, log into or find its database fails with one
// StartupFailed naming host, port, database and user (never the password) and what to check.
import { assert, describe, it } from "@effect/vitest"
import { StoreError } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { PgTestServer } from "./utils.ts"

const startupFailure = (url: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(
      Layer.build(PgStore.layer({ url: Redacted.make(url), connectTimeout: "5 seconds" })).pipe(Effect.scoped)
    )
    assert.isTrue(Exit.isFailure(exit), `expected ${url} to fail`)
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail") : undefined
    assert.isDefined(error, "a typed failure, not a defect")
    const failure = (error as { readonly error: unknown }).error
    assert.instanceOf(failure, StoreError.StartupFailed)
    const startup = failure as StoreError.StartupFailed
    assert.notInclude(startup.message, "s3cret", "the password never appears")
    assert.notInclude(JSON.stringify(startup.toJSON()), "s3cret")
    return startup
  })

// With a server: the admin URL with its user, host and port, pointed elsewhere.
const onServer = (change: (url: URL) => void) =>
  Effect.map(PgTestServer, (server) => {
    const url = new URL(server.adminUrl)
    change(url)
    return url.toString()
  })

describe("PgStore startup errors", () => {
  it.effect("an unknown host names the host and says to check it", () =>
    Effect.gen(function*() {
      const error = yield* startupFailure("postgres://app:s3cret@nonexistent-host.invalid:5432/app")
      assert.include(error.message, "postgres://app@nonexistent-host.invalid:5432/app")
      assert.include(error.problem, "does not resolve")
    }))

  it.effect("a refused port names host and port and says to check the server is running", () =>
    Effect.gen(function*() {
      const error = yield* startupFailure("postgres://app:s3cret@127.0.0.1:1/app")
      assert.include(error.target, "127.0.0.1:1")
      assert.include(error.problem, "nothing accepts connections")
      assert.include(error.hint, "startupRetry")
    }))

  it.effect("a malformed URL is a typed error naming the expected form", () =>
    Effect.gen(function*() {
      const error = yield* startupFailure("postgres://app:s3cret@:::nonsense")
      assert.include(error.hint, "postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    }))

  it.effect("a user the server refuses names the user", () =>
    Effect.gen(function*() {
      const url = yield* onServer((url) => {
        url.username = "strata_no_such_role"
        url.password = "s3cret"
      })
      const error = yield* startupFailure(url)
      assert.include(error.target, "strata_no_such_role@")
      // Under password authentication the server does not say whether the role exists (28P01); under
      // trust it does (28000). Either way the hint points at the user.
      assert.match(error.hint, /user/)
    }).pipe(Effect.provide(PgTestServer.layer)), { timeout: 60_000 })

  it.effect("a missing database names the database and says to create it", () =>
    Effect.gen(function*() {
      const url = yield* onServer((url) => {
        url.pathname = "/strata_no_such_database"
      })
      const error = yield* startupFailure(url)
      assert.include(error.target, "/strata_no_such_database")
      assert.include(error.problem, "does not exist")
      assert.include(error.hint, "createdb")
    }).pipe(Effect.provide(PgTestServer.layer)), { timeout: 60_000 })
})
