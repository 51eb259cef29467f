// Probe tests: they pin the @effect/sql-pg 4.1.5 / PostgreSQL behaviour the store relies on. When one of these
// fails after an upgrade, the store's assumptions (listed at the top of utils.ts) need revisiting.
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { PgDialect } from "@strata/postgres"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as SqlError from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import { makeSecondClient, PgTestDatabase } from "./utils.ts"

// The snapshot probe reads the cluster-wide xmin, which any other file's open transaction holds back:
// on the run's shared embedded server (test/globalSetup.ts) this file starts a server of its own. The
// next file in this worker (isolate: false) gets the shared server back.
const sharedUrl = process.env["STRATA_TEST_SHARED_PG_URL"]
if (sharedUrl !== undefined && process.env["DATABASE_URL"] === sharedUrl) {
  delete process.env["DATABASE_URL"]
  afterAll(() => {
    process.env["DATABASE_URL"] = sharedUrl
  })
}

class Boom extends Data.TaggedError("Boom")<{}> {}

const count = (sql: PgClient.PgClient, table: string) =>
  Effect.map(sql<{ n: bigint }>`SELECT count(*) AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)

/**
 * The SqlError a failed exit carries, typed or as a defect: a transaction on a session the server ended
 * fails typed when the driver already knows the session is dead (4.1 then skips the ROLLBACK), and as a
 * defect when its ROLLBACK was sent and failed (`withTransaction` dies on a failed rollback).
 */
const failedWith = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (!Exit.isFailure(exit)) return undefined
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) return error.value
  const defect = Cause.findDefect(exit.cause)
  assert.isTrue(Result.isSuccess(defect), "expected a typed failure or a defect")
  return Result.isSuccess(defect) ? defect.success : undefined
}

/** Waits (bounded) until `pid` shows up in pg_stat_activity as running a statement that matches `like`. */
const awaitActive = (other: PgClient.PgClient, pid: number, like: string) =>
  other<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE pid = ${pid} AND state = 'active' AND query LIKE ${like}
  `.pipe(
    Effect.flatMap((rows) => rows.length === 1 ? Effect.void : Effect.fail("not active yet" as const)),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeout("10 seconds")
  )

// An anonymous it.layer builds the (cached) layer in a beforeEach: if the database cannot be reached or started,
// every test FAILS with the setup error (a named it.layer would use beforeAll, and vitest reports tests under a
// failed beforeAll as skipped).
describe("PgDriver", () =>
  it.layer(PgTestDatabase.layerClient, { timeout: "90 seconds", excludeTestServices: true })((it) => {
    it.effect("connects to this file's own fresh database", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const db = yield* PgTestDatabase
        const rows = yield* sql<{ db: string; tables: bigint }>`
        SELECT current_database() AS db,
               (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') AS tables
      `
        assert.strictEqual(rows[0]!.db, db.name)
        assert.match(db.name, /^strata_test_[0-9a-f]{12}$/)
        assert.isTrue(db.connectionString.includes(`/${db.name}`))
      }))

    it.effect("basic insert and query (sql.insert helper, RETURNING)", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE basic (id bigserial PRIMARY KEY, name text NOT NULL)`
        const inserted = yield* sql<{ id: bigint; name: string }>`
        INSERT INTO basic ${sql.insert([{ name: "a" }, { name: "b" }])} RETURNING id, name
      `
        assert.deepStrictEqual(inserted.map((r) => r.name), ["a", "b"])
        assert.deepStrictEqual(inserted.map((r) => r.id), [1n, 2n])
        const rows = yield* sql<{ name: string }>`SELECT name FROM basic WHERE id > ${1n} ORDER BY id`
        assert.deepStrictEqual(rows, [{ name: "b" }])
      }))

    it.effect("int8 comes back as bigint (int4 as number, numeric as string); bigint params bind above 2^53", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE nums (big int8 NOT NULL, small int4 NOT NULL, dec numeric NOT NULL)`
        const big = 9_223_372_036_854_775_807n // int8 max: far beyond Number.MAX_SAFE_INTEGER
        yield* sql`INSERT INTO nums VALUES (${big}, ${42}, ${"1.50"})`
        const rows = yield* sql<{ big: unknown; small: unknown; dec: unknown; n: unknown }>`
        SELECT big, small, dec, count(*) OVER () AS n FROM nums
      `
        assert.strictEqual(typeof rows[0]!.big, "bigint")
        assert.strictEqual(rows[0]!.big, big)
        assert.strictEqual(rows[0]!.small, 42)
        assert.strictEqual(rows[0]!.dec, "1.50")
        assert.strictEqual(rows[0]!.n, 1n) // count(*) is int8 too
        // A bigint parameter compares as int8 against an int8 column.
        const found = yield* sql`SELECT 1 FROM nums WHERE big = ${big}`
        assert.strictEqual(found.length, 1)
      }))

    it.effect("jsonb round trip: sql.json binds a value, jsonb comes back parsed; jsonb numbers are JS numbers", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE docs (id int4 PRIMARY KEY, body jsonb NOT NULL)`
        const body = { type: "Opened", nested: { list: [1, "two", null, true] }, unicode: "é✓" }
        yield* sql`INSERT INTO docs VALUES (1, ${sql.json(body)})`
        const rows = yield* sql<{ body: unknown; type: string }>`SELECT body, body ->> 'type' AS type FROM docs`
        assert.deepStrictEqual(rows[0]!.body, body)
        assert.strictEqual(rows[0]!.type, "Opened")
        // Numbers inside jsonb decode through JSON.parse: int8-sized values lose precision.
        const [lossy] = yield* sql<{ j: { n: number } }>`SELECT '{"n": 9007199254740993}'::jsonb AS j`
        assert.strictEqual(typeof lossy!.j.n, "number")
        assert.strictEqual(lossy!.j.n, 9_007_199_254_740_992)
      }))

    it.effect("timestamptz comes back as Date (and binds from Date)", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const at = new Date("2026-11-05T10:20:30.123Z")
        const rows = yield* sql<{ bound: unknown; now: unknown }>`SELECT ${at}::timestamptz AS bound, now() AS now`
        assert.instanceOf(rows[0]!.bound, Date)
        assert.strictEqual((rows[0]!.bound as Date).toISOString(), at.toISOString())
        assert.instanceOf(rows[0]!.now, Date)
      }))

    it.effect("a duplicate key fails with SqlError reason UniqueViolation (not retryable, names the constraint)", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE events (stream text NOT NULL, version int8 NOT NULL,
                 CONSTRAINT events_stream_version_key UNIQUE (stream, version))`
        yield* sql`INSERT INTO events VALUES ('s', 0)`
        const error = yield* Effect.flip(sql`INSERT INTO events VALUES ('s', 0)`)
        assert.isTrue(SqlError.isSqlError(error))
        assert.strictEqual(error.reason._tag, "UniqueViolation")
        assert.isFalse(error.isRetryable)
        if (error.reason._tag === "UniqueViolation") {
          assert.strictEqual(error.reason.constraint, "events_stream_version_key")
        }
        // The reason is catchable by tag, which is how the store maps it to WrongExpectedVersion.
        const caught = yield* sql`INSERT INTO events VALUES ('s', 0)`.pipe(
          Effect.as("inserted"),
          Effect.catchReason("SqlError", "UniqueViolation", () => Effect.succeed("conflict"))
        )
        assert.strictEqual(caught, "conflict")
        // A NOT NULL / CHECK failure is a different reason.
        const notNull = yield* Effect.flip(sql`INSERT INTO events VALUES (NULL, 1)`)
        assert.strictEqual(notNull.reason._tag, "ConstraintError")
      }))

    it.effect("withTransaction commits on success and rolls back on a typed failure (the failure is kept)", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql`CREATE TABLE tx (id int4 PRIMARY KEY)`
        yield* sql.withTransaction(Effect.andThen(sql`INSERT INTO tx VALUES (1)`, sql`INSERT INTO tx VALUES (2)`))
        assert.strictEqual(yield* count(sql, "tx"), 2n)

        const error = yield* Effect.flip(sql.withTransaction(
          Effect.andThen(sql`INSERT INTO tx VALUES (3)`, Effect.fail(new Boom()))
        ))
        assert.strictEqual(error._tag, "Boom")
        assert.strictEqual(yield* count(sql, "tx"), 2n)

        // A failing statement rolls back the statements before it.
        const dup = yield* Effect.flip(sql.withTransaction(
          Effect.andThen(sql`INSERT INTO tx VALUES (4)`, sql`INSERT INTO tx VALUES (1)`)
        ))
        assert.strictEqual(dup.reason._tag, "UniqueViolation")
        assert.strictEqual(yield* count(sql, "tx"), 2n)

        // Nested withTransaction is a savepoint: the inner failure is undone, the outer work commits.
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO tx VALUES (5)`
          yield* Effect.ignore(
            sql.withTransaction(Effect.andThen(sql`INSERT INTO tx VALUES (6)`, Effect.fail(new Boom())))
          )
        }))
        const ids = yield* sql<{ id: number }>`SELECT id FROM tx ORDER BY id`
        assert.deepStrictEqual(ids.map((r) => r.id), [1, 2, 5])
      }))

    it.effect("listen returns once LISTEN is confirmed: an immediate NOTIFY from another connection arrives", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const queue = yield* sql.listen("strata_confirmed")
        yield* other.notify("strata_confirmed", "first")
        yield* other`SELECT pg_notify('strata_confirmed', 'second')`
        const first = yield* Queue.take(queue).pipe(Effect.timeout("10 seconds"))
        const second = yield* Queue.take(queue).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(first.channel, "strata_confirmed")
        assert.deepStrictEqual([first.payload, second.payload], ["first", "second"])
        assert.isNumber(first.processId)
      }))

    it.effect("NOTIFY in a transaction is delivered at COMMIT, never before, and never after a ROLLBACK", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const queue = yield* sql.listen("strata_tx")
        const next = Queue.take(queue).pipe(Effect.map((n) => n.payload), Effect.timeout("10 seconds"))

        yield* sql.withTransaction(Effect.gen(function*() {
          // pg_notify through the transaction's connection: queued until COMMIT.
          yield* sql`SELECT pg_notify('strata_tx', 'in-tx')`
          // A NOTIFY committed by another session while ours is open overtakes it: the listener is live and
          // 'in-tx' has not been delivered.
          yield* other`SELECT pg_notify('strata_tx', 'sentinel-1')`
          assert.strictEqual(yield* next, "sentinel-1")
        }))
        assert.strictEqual(yield* next, "in-tx")

        yield* Effect.ignore(sql.withTransaction(
          Effect.andThen(sql`SELECT pg_notify('strata_tx', 'rolled-back')`, Effect.fail(new Boom()))
        ))
        yield* other`SELECT pg_notify('strata_tx', 'sentinel-2')`
        assert.strictEqual(yield* next, "sentinel-2") // 'rolled-back' never arrives
        assert.isTrue(Option.isNone(yield* Queue.poll(queue)))
      }))

    it.effect("PgClient.notify ignores the surrounding transaction (own pooled connection): delivered at once", () =>
      Effect.gen(function*() {
        // Gotcha: `sql.notify` acquires a connection of its own, so inside withTransaction it is NOT transactional.
        // The store must send its wake-up with sql`SELECT pg_notify(...)` to have it delivered at commit.
        const sql = yield* PgClient.PgClient
        const queue = yield* sql.listen("strata_notify_helper")
        const error = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
          yield* sql.notify("strata_notify_helper", "escaped")
          const delivered = yield* Queue.take(queue).pipe(Effect.timeout("10 seconds"))
          assert.strictEqual(delivered.payload, "escaped")
          return yield* Effect.fail(new Boom())
        })))
        assert.strictEqual(error._tag, "Boom") // rolled back, yet the notification was already out
      }))

    it.effect("pg_terminate_backend on the listener: the listen queue FAILS with SqlError(UnknownError 57P01)", () =>
      Effect.gen(function*() {
        // Observed: the server sends FATAL 57P01 (admin_shutdown) on the idle listener connection and closes it.
        // PgConnection marks the session dead with that error and fails every listen queue on it
        // (Queue.failCauseUnsafe). So a Stream over the queue ERRORS: it does not end, and nothing reconnects.
        // 57P01 is not a SQLSTATE the driver classifies, so the reason is UnknownError and isRetryable is false
        // (a retry layer keyed on isRetryable would give up). The store's listener must catch any SqlError,
        // listen again (the pool hands out a fresh connection), and poll once for what it missed meanwhile.
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const queue = yield* sql.listen("strata_term")
        yield* other`SELECT pg_notify('strata_term', 'before')`
        assert.strictEqual((yield* Queue.take(queue).pipe(Effect.timeout("10 seconds"))).payload, "before")

        const listeners = yield* other<{ pid: number }>`
        SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN "strata_term"'
      `
        assert.strictEqual(listeners.length, 1)
        const terminated = yield* other<{ ok: boolean }>`SELECT pg_terminate_backend(${listeners[0]!.pid}) AS ok`
        assert.isTrue(terminated[0]!.ok)

        const error = yield* Stream.fromQueue(queue).pipe(Stream.runCollect, Effect.flip, Effect.timeout("10 seconds"))
        assert.isTrue(SqlError.isSqlError(error))
        assert.strictEqual(error.reason._tag, "UnknownError")
        assert.strictEqual((error.reason.cause as { code?: string }).code, "57P01")
        assert.isFalse(error.isRetryable)

        // Listening again works: a new connection from the pool.
        const again = yield* sql.listen("strata_term")
        yield* other`SELECT pg_notify('strata_term', 'after')`
        assert.strictEqual((yield* Queue.take(again).pipe(Effect.timeout("10 seconds"))).payload, "after")
      }))

    it.effect("pg_terminate_backend while idle in a transaction: a SqlError (57P01 UnknownError or ConnectionError), typed or a defect, no commit", () =>
      Effect.gen(function*() {
        // Observed on 4.0.5: the next statement fails with the dead session's error, then withTransaction's
        // ROLLBACK fails on the dead connection too, and withTransaction turns rollback failures into defects
        // (Effect.orDie): the exit carried only Die(SqlError). 4.1.5 skips the ROLLBACK on a session it knows
        // is dead, so the failure is now typed; a ROLLBACK sent before the driver noticed still dies, so the
        // store keeps inspecting defects of withTransaction (catchCause) to report StoreUnavailable. Which
        // error the next statement sees is a race between reading the FATAL 57P01 message (UnknownError,
        // isRetryable false) and noticing the closed socket (ConnectionError, retryable): the store must
        // treat both as transient.
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        yield* sql`CREATE TABLE term_idle (id int4)`
        const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO term_idle VALUES (1)`
          const [self] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
          yield* other`SELECT pg_terminate_backend(${self!.pid})`
          // Wait (bounded) until the backend is gone before the next statement.
          yield* other<{ n: bigint }>`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${self!.pid}`.pipe(
            Effect.flatMap((rows) => rows[0]!.n === 0n ? Effect.void : Effect.fail("still there" as const)),
            Effect.retry(Schedule.spaced("20 millis")),
            Effect.timeout("10 seconds")
          )
          yield* sql`INSERT INTO term_idle VALUES (2)`
        })))
        const defect = failedWith(exit)
        assert.isTrue(SqlError.isSqlError(defect))
        if (SqlError.isSqlError(defect)) {
          if (defect.reason._tag === "UnknownError") {
            assert.strictEqual((defect.reason.cause as { code?: string }).code, "57P01")
            assert.isFalse(defect.isRetryable)
          } else {
            assert.strictEqual(defect.reason._tag, "ConnectionError")
            assert.isTrue(defect.isRetryable)
          }
          assert.isTrue(PgDialect.dialect.isTransient(defect), "the store classifies it as StoreUnavailable")
        }
        assert.strictEqual(yield* count(sql, "term_idle"), 0n) // the pool replaced the dead connection
      }))

    it.effect("pg_terminate_backend during a statement in a transaction: a SqlError, typed or a defect, no commit", () =>
      Effect.gen(function*() {
        // Observed on 4.0.5: the socket close won (ConnectionError, "Connection closed") and the failed ROLLBACK
        // turned it into a defect. On 4.1.5 the in-flight statement fails with the FATAL 57P01 response
        // (UnknownError, "PgConnection: Query failed") and, the session being dead, there is no ROLLBACK:
        // a typed failure.
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        yield* sql`CREATE TABLE term_active (id int4)`
        const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO term_active VALUES (1)`
          const [self] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
          const killer = yield* Effect.forkChild(
            Effect.andThen(
              awaitActive(other, self!.pid, "%pg_sleep%"),
              other`SELECT pg_terminate_backend(${self!.pid})`
            )
          )
          yield* sql`SELECT pg_sleep(30)`
          yield* Fiber.join(killer)
        })))
        const defect = failedWith(exit)
        assert.isTrue(SqlError.isSqlError(defect))
        if (SqlError.isSqlError(defect)) {
          // ConnectionError (the close wins); the FATAL 57P01 can win the same race as above.
          assert.include(["ConnectionError", "UnknownError"], defect.reason._tag)
          assert.isTrue(PgDialect.dialect.isTransient(defect), "the store classifies it as StoreUnavailable")
        }
        assert.strictEqual(yield* count(sql, "term_active"), 0n)
      }))

    it.effect("pg_terminate_backend during a statement outside a transaction: a typed SqlError ConnectionError", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const query = sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(30)`
        const fiber = yield* Effect.forkChild(Effect.flip(query))
        const pid = yield* other<{ pid: number }>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(30)%'
          AND pid <> pg_backend_pid()
      `.pipe(
          Effect.flatMap((rows) => rows.length === 1 ? Effect.succeed(rows[0]!.pid) : Effect.fail("not yet" as const)),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout("10 seconds")
        )
        yield* other`SELECT pg_terminate_backend(${pid})`
        const error = yield* Fiber.join(fiber).pipe(Effect.timeout("10 seconds"))
        // Usually ConnectionError (the close wins the race with the FATAL 57P01); either is transient to the store.
        assert.include(["ConnectionError", "UnknownError"], error.reason._tag)
        assert.isTrue(PgDialect.dialect.isTransient(error))
        assert.deepStrictEqual(yield* sql`SELECT 1 AS one`, [{ one: 1 }])
      }))

    it.effect("xid8/xid/pg_snapshot columns do not decode (no binary codec): cast to text; bind xid8 as text", () =>
      Effect.gen(function*() {
        // @effect/sql-pg asks for every result column in binary. xid8 (5069), xid (28) and pg_snapshot (5038)
        // have no codec: on 4.1.5 every such row fails with "Failed to decode row" and only that statement
        // fails (4.0.5 read the bytes as a string when they were valid UTF-8 and closed the connection
        // otherwise). Casting in SQL fixes it: ::text -> string, ::text::int8 -> bigint.
        const sql = yield* PgClient.PgClient
        const small = yield* Effect.flip(sql`SELECT '5'::xid8 AS x8, '5'::xid AS x4`)
        assert.strictEqual(small.reason.message, "PgConnection: Failed to decode row")
        const invalid = yield* Effect.flip(sql`SELECT '128'::xid8 AS x`) // 0x80 alone is not UTF-8
        assert.strictEqual(invalid.reason._tag, "UnknownError")
        assert.strictEqual(invalid.reason.message, "PgConnection: Failed to decode row")
        const snapshot = yield* Effect.flip(sql`SELECT '200:300:'::pg_snapshot AS s`)
        assert.strictEqual(snapshot.reason.message, "PgConnection: Failed to decode row")

        const [row] = yield* sql<{ x: unknown; xs: unknown; xmin: unknown }>`
        SELECT pg_current_xact_id()::text::int8 AS x,
               pg_current_xact_id()::text AS xs,
               pg_snapshot_xmin(pg_current_snapshot())::text::int8 AS xmin
      `
        assert.strictEqual(typeof row!.x, "bigint")
        assert.strictEqual(typeof row!.xs, "string")
        assert.strictEqual(typeof row!.xmin, "bigint")
        assert.isTrue((row!.xmin as bigint) <= (row!.x as bigint))

        // Binding: a bigint parameter is int8, and int8 has no cast to xid8; text does.
        const noCast = yield* Effect.flip(sql`SELECT ${5n}::xid8 AS x`)
        assert.strictEqual(noCast.reason._tag, "SqlSyntaxError")
        const [cmp] = yield* sql<{ lt: boolean }>`SELECT ${String(row!.x)}::xid8 < pg_current_xact_id() AS lt`
        assert.isTrue(cmp!.lt)
      }))

    it.effect("an xid8 codec can be registered through PgClient's `types` registry (OID 5069, uint64 BE)", () =>
      Effect.gen(function*() {
        const registry = PgTypes.makeRegistry()
        registry.register<bigint>(5069, {
          encode: (value) => {
            const bytes = new Uint8Array(8)
            new DataView(bytes.buffer).setBigUint64(0, value)
            return Result.succeed(bytes)
          },
          decode: (bytes) =>
            Result.succeed(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0))
        })
        const sql = yield* makeSecondClient({ types: registry })
        const [row] = yield* sql<{ x: unknown; xmin: unknown }>`
        SELECT pg_current_xact_id() AS x, pg_snapshot_xmin(pg_current_snapshot()) AS xmin
      `
        assert.strictEqual(typeof row!.x, "bigint")
        assert.strictEqual(typeof row!.xmin, "bigint")
      }))

    it.effect("pg_current_xact_id is per transaction; pg_snapshot_xmin stays at an open writer's xid", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const xid = sql<{ x: bigint }>`SELECT pg_current_xact_id()::text::int8 AS x`.pipe(
          Effect.map((rows) => rows[0]!.x)
        )
        const inTx = yield* sql.withTransaction(Effect.all([xid, xid]))
        assert.strictEqual(inTx[0], inTx[1])
        const later = yield* xid
        assert.isTrue(later > inTx[0])

        // While a transaction with an xid is open, other sessions' snapshots have xmin <= that xid (the stall
        // design.md section 4 warns about); once it commits, xmin moves past it.
        const xmin = other<{ x: bigint }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8 AS x`.pipe(
          Effect.map((rows) => rows[0]!.x)
        )
        const open = yield* sql.withTransaction(Effect.gen(function*() {
          const mine = yield* xid
          return [mine, yield* xmin] as const
        }))
        assert.isTrue(open[1] <= open[0])
        assert.isTrue((yield* xmin) > open[0])
      }))

    it.effect("advisory locks: pg_advisory_xact_lock_shared is held until commit and blocks exclusive takers", () =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        const other = yield* makeSecondClient()
        const tryExclusive = other.withTransaction(
          other<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${4242n}) AS ok`
        ).pipe(Effect.map((rows) => rows[0]!.ok))
        const tryShared = other.withTransaction(
          other<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock_shared(${4242n}) AS ok`
        ).pipe(Effect.map((rows) => rows[0]!.ok))

        const seen = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT pg_advisory_xact_lock_shared(${4242n})`
          const xid = (yield* sql<{ x: bigint }>`SELECT pg_current_xact_id()::text::int8 AS x`)[0]!.x
          // The horizon query sketched in design.md section 4: holders of the lock and their xids.
          const holders = yield* other<{ pid: number; xid: bigint | null }>`
          SELECT l.pid, a.backend_xid::text::int8 AS xid
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.mode = 'ShareLock' AND l.granted
            AND l.objsubid = 1 AND ((l.classid::int8 << 32) | l.objid::int8) = ${4242n}
        `
          return { xid, holders, exclusive: yield* tryExclusive, shared: yield* tryShared }
        }))
        assert.isFalse(seen.exclusive)
        assert.isTrue(seen.shared)
        assert.strictEqual(seen.holders.length, 1)
        assert.strictEqual(seen.holders[0]!.xid, seen.xid)

        // Released at commit.
        assert.isTrue(yield* tryExclusive)
      }))
  }))
