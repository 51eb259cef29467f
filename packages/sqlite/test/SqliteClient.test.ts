import { assert, describe, it } from "@effect/vitest"
import { SqliteClient } from "@strata/sqlite"
import { spanNames } from "@strata/test-utils/Spans"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Client from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

// A temporary directory, removed when the test's scope closes.
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "strata-sqlite-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

// A client whose database lives as long as the enclosing scope.
const client = (config: SqliteClient.SqliteClientConfig) =>
  SqliteClient.make(config).pipe(Effect.provide(Reactivity.layer))

const memory = client({ filename: ":memory:" })

const reasonOf = (error: SqlError.SqlError) => error.reason

describe("SqliteClient", () => {
  it.effect("creates a table, inserts with sql.insert and selects", () =>
    Effect.gen(function*() {
      const sql = yield* SqliteClient.SqliteClient
      yield* sql`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)`
      yield* sql`INSERT INTO people ${sql.insert([{ name: "Ada", age: 36 }, { name: "Alan", age: 41 }])}`
      const rows = yield* sql<{ id: number; name: string; age: number }>`SELECT * FROM people WHERE age > ${40}`
      assert.deepStrictEqual(rows, [{ id: 2, name: "Alan", age: 41 }])
      // plain objects, not node:sqlite's null-prototype rows
      assert.strictEqual(Object.getPrototypeOf(rows[0]), Object.prototype)
      const returned = yield* sql`INSERT INTO people ${sql.insert({ name: "Grace", age: 85 }).returning("*")}`
      assert.deepStrictEqual(returned, [{ id: 3, name: "Grace", age: 85 }])
      const raw = yield* sql`UPDATE people SET age = age + 1`.raw
      assert.deepStrictEqual(raw, { changes: 3, lastInsertRowid: 3 })
      const values = yield* sql`SELECT name, age FROM people ORDER BY id`.values
      assert.deepStrictEqual(values, [["Ada", 37], ["Alan", 42], ["Grace", 86]])
      assert.strictEqual(sql.driver, "strata-sqlite-node")
      // the same client under the generic tag
      const generic = yield* Client.SqlClient
      assert.strictEqual(generic, sql)
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))

  it.effect("binds every parameter type and reads 64-bit integers exactly", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE p (
        s TEXT, i INTEGER, f REAL, big INTEGER, low INTEGER, yes INTEGER, no INTEGER,
        nil TEXT, undef TEXT, bytes BLOB, at TEXT, loose)`
      const big = 2n ** 62n + 1n
      const low = -(2n ** 63n)
      const at = new Date("2026-11-22T03:24:00.000Z")
      yield* sql`INSERT INTO p ${
        sql.insert({
          s: "héllo 'quoted'",
          i: 42,
          f: 1.5,
          big,
          low,
          yes: true,
          no: false,
          nil: null,
          undef: undefined,
          bytes: new Uint8Array([0, 1, 255]),
          at,
          loose: 7
        })
      }`

      // Integers beyond 2^53 come back exact as bigints when asked for...
      const [row] = yield* sql`SELECT * FROM p`.pipe(Effect.provideService(Client.SafeIntegers, true))
      assert.deepStrictEqual(row, {
        s: "héllo 'quoted'",
        i: 42n,
        f: 1.5,
        big,
        low,
        yes: 1n,
        no: 0n,
        nil: null,
        undef: null,
        bytes: new Uint8Array([0, 1, 255]),
        at: "2026-11-22T03:24:00.000Z",
        loose: 7n
      })
      // ...and are never rounded into a number otherwise: the read fails instead.
      const error = yield* Effect.flip(sql`SELECT big FROM p`)
      assert.strictEqual(error.reason._tag, "UnknownError")
      assert.match(error.message, /too large/)
      // Small integers are plain numbers by default, and BigInt(x) of them is exact.
      const [small] = yield* sql<{ i: number; yes: number }>`SELECT i, yes FROM p`
      assert.deepStrictEqual(small, { i: 42, yes: 1 })
      // A bigint parameter compares exactly against a 64-bit column.
      const [found] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM p WHERE big = ${big} AND big <> ${big - 1n}`
      assert.strictEqual(found.n, 1)
      // Integral numbers are bound as integers, not as REALs (node:sqlite's default).
      const [types] = yield* sql<{ a: string; b: string; j: string }>`
        SELECT typeof(${1}) AS a, typeof(${1.5}) AS b, json_object('v', ${1}) AS j`
      assert.deepStrictEqual(types, { a: "integer", b: "real", j: "{\"v\":1}" })
    }))

  it.effect("safeIntegers: true reads every integer as a bigint", () =>
    Effect.gen(function*() {
      const sql = yield* client({ filename: ":memory:", safeIntegers: true })
      const [row] = yield* sql`SELECT 1 AS one, ${2n ** 60n} AS big, 1.5 AS real`
      assert.deepStrictEqual(row, { one: 1n, big: 2n ** 60n, real: 1.5 })
    }))

  it.effect("classifies unique, primary-key, other constraint and syntax errors", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE events (
        stream TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL UNIQUE,
        PRIMARY KEY (stream, version))`
      yield* sql`INSERT INTO events ${sql.insert({ stream: "s", version: 0, event_id: "a" })}`

      const pk = yield* Effect.flip(sql`INSERT INTO events ${sql.insert({ stream: "s", version: 0, event_id: "b" })}`)
      assert.strictEqual(pk.reason._tag, "UniqueViolation")
      assert.strictEqual(pk.reason._tag === "UniqueViolation" && pk.reason.constraint, "events.stream, events.version")
      assert.isFalse(pk.isRetryable)

      const unique = yield* Effect.flip(
        sql`INSERT INTO events ${sql.insert({ stream: "s", version: 1, event_id: "a" })}`
      )
      assert.strictEqual(unique.reason._tag, "UniqueViolation")
      assert.strictEqual(unique.reason._tag === "UniqueViolation" && unique.reason.constraint, "events.event_id")
      assert.match(unique.message, /UNIQUE constraint failed: events\.event_id/)

      // catchReason, as the event store will use it
      const caught = yield* sql`INSERT INTO events ${sql.insert({ stream: "s", version: 0, event_id: "c" })}`.pipe(
        Effect.as("inserted"),
        Effect.catchReason("SqlError", "UniqueViolation", (reason) => Effect.succeed(reason.constraint))
      )
      assert.strictEqual(caught, "events.stream, events.version")

      const notNull = yield* Effect.flip(sql`INSERT INTO events (stream, version) VALUES ('s', 9)`)
      assert.strictEqual(notNull.reason._tag, "ConstraintError")

      const syntax = yield* Effect.flip(sql`SELEC 1`)
      assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
      assert.strictEqual(reasonOf(syntax).operation, "execute")

      const missing = yield* Effect.flip(sql`SELECT * FROM nope`)
      assert.strictEqual(missing.reason._tag, "UnknownError")
      assert.match(missing.message, /no such table: nope/)

      const unbindable = yield* Effect.flip(sql`SELECT ${{ an: "object" }}`)
      assert.strictEqual(unbindable.reason._tag, "UnknownError")
    }))

  it.effect("commits a transaction, and rolls it back on failure", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE t (x INTEGER)`
      yield* sql.withTransaction(Effect.all([sql`INSERT INTO t VALUES (1)`, sql`INSERT INTO t VALUES (2)`]))
      const failed = yield* sql.withTransaction(
        Effect.andThen(sql`INSERT INTO t VALUES (3)`, Effect.fail("boom" as const))
      ).pipe(Effect.flip)
      assert.strictEqual(failed, "boom")
      const died = yield* sql.withTransaction(Effect.andThen(sql`INSERT INTO t VALUES (4)`, Effect.die("bug"))).pipe(
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(died))
      const rows = yield* sql<{ x: number }>`SELECT x FROM t ORDER BY x`
      assert.deepStrictEqual(rows.map((r) => r.x), [1, 2])
      // the connection is usable again: no transaction was left open
      yield* sql.withTransaction(sql`INSERT INTO t VALUES (5)`)
      assert.deepStrictEqual((yield* sql<{ n: number }>`SELECT count(*) AS n FROM t`)[0].n, 3)
    }))

  it.effect("rolls back a nested transaction to its savepoint and keeps the outer one", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE t (x INTEGER)`
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (1)`
        const inner = yield* sql.withTransaction(
          Effect.andThen(sql`INSERT INTO t VALUES (2)`, Effect.fail("inner" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(inner, "inner")
        // a nested transaction that succeeds is kept, and its savepoint released
        // (`effect_sql_<depth>` is the name effect's SqlClient gives it)
        yield* sql.withTransaction(sql`INSERT INTO t VALUES (3)`)
        const released = yield* Effect.flip(sql`ROLLBACK TO SAVEPOINT effect_sql_1`)
        assert.match(released.message, /no such savepoint/)
        // inside the transaction: 2 was rolled back, 1 and 3 are visible
        const seen = yield* sql<{ x: number }>`SELECT x FROM t ORDER BY x`
        assert.deepStrictEqual(seen.map((r) => r.x), [1, 3])
      }))
      const rows = yield* sql<{ x: number }>`SELECT x FROM t ORDER BY x`
      assert.deepStrictEqual(rows.map((r) => r.x), [1, 3])
    }))

  it.effect("enforces foreign keys, and recovers when COMMIT fails on a deferred one", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE parent (id INTEGER PRIMARY KEY)`
      yield* sql`CREATE TABLE child (parent_id INTEGER REFERENCES parent (id))`
      yield* sql`CREATE TABLE late (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`
      const immediate = yield* Effect.flip(sql`INSERT INTO child VALUES (1)`)
      assert.strictEqual(immediate.reason._tag, "ConstraintError")
      assert.match(immediate.message, /FOREIGN KEY constraint failed/)
      // SQLite keeps the transaction open when COMMIT fails: the client must roll it back
      const atCommit = yield* Effect.flip(sql.withTransaction(sql`INSERT INTO late VALUES (1)`))
      assert.strictEqual(atCommit.reason._tag, "ConstraintError")
      yield* sql.withTransaction(Effect.all([sql`INSERT INTO parent VALUES (1)`, sql`INSERT INTO late VALUES (1)`]))
      assert.deepStrictEqual(yield* sql`SELECT parent_id FROM late`, [{ parent_id: 1 }])
    }))

  it.live("serialises concurrent transactions on one client", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE counter (n INTEGER NOT NULL)`
      yield* sql`INSERT INTO counter VALUES (0)`
      const log = yield* Ref.make<Array<string>>([])
      // read-modify-write with a yield in the middle: lost updates or interleaved logs if not serialised
      const increment = (i: number) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* Ref.update(log, (l) => [...l, `begin ${i}`])
          const [{ n }] = yield* sql<{ n: number }>`SELECT n FROM counter`
          yield* Effect.sleep("2 millis")
          yield* sql`UPDATE counter SET n = ${n + 1}`
          yield* Ref.update(log, (l) => [...l, `end ${i}`])
        }))
      yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), increment, { concurrency: "unbounded" })
      const [{ n }] = yield* sql<{ n: number }>`SELECT n FROM counter`
      assert.strictEqual(n, 10)
      const entries = yield* Ref.get(log)
      assert.strictEqual(entries.length, 20)
      for (let k = 0; k < entries.length; k += 2) {
        assert.strictEqual(entries[k].replace("begin", "end"), entries[k + 1])
      }
    }))

  it.live("keeps other fibers' statements out of an open transaction", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE t (x INTEGER)`
      const inside = yield* Deferred.make<void>()
      const writer = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO t VALUES (1)`
        yield* Deferred.succeed(inside, undefined)
        yield* Effect.sleep("30 millis")
        return yield* Effect.fail("abort" as const)
      })).pipe(Effect.flip, Effect.forkChild)
      yield* Deferred.await(inside)
      // waits for the transaction to end, so never sees its rolled-back row
      const [{ n }] = yield* sql<{ n: number }>`SELECT count(*) AS n FROM t`
      assert.strictEqual(n, 0)
      assert.strictEqual(yield* Fiber.join(writer), "abort")
    }))

  it.live("rolls back an interrupted transaction and frees the connection for queued ones", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE t (x INTEGER)`
      const inside = yield* Deferred.make<void>()
      const running = yield* sql.withTransaction(
        Effect.andThen(sql`INSERT INTO t VALUES (1)`, Effect.andThen(Deferred.succeed(inside, undefined), Effect.never))
      ).pipe(Effect.forkChild)
      yield* Deferred.await(inside)
      // queued behind the running transaction, then given up
      const queued = yield* sql.withTransaction(sql`INSERT INTO t VALUES (2)`).pipe(Effect.forkChild)
      yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(queued)
      yield* Fiber.interrupt(running)
      yield* sql.withTransaction(sql`INSERT INTO t VALUES (3)`).pipe(Effect.timeout("1 second"))
      assert.deepStrictEqual(yield* sql`SELECT x FROM t`, [{ x: 3 }])
    }))

  it.effect("synchronous: FULL syncs every commit, on request", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const level = (config: Partial<SqliteClient.SqliteClientConfig>) =>
        Effect.flatMap(
          client({ filename: join(dir, `${Math.random()}.db`), ...config }),
          (sql) => Effect.map(sql<{ synchronous: number }>`PRAGMA synchronous`, ([row]) => row.synchronous)
        )
      // 1 = NORMAL, 2 = FULL
      assert.strictEqual(yield* level({}), 1)
      assert.strictEqual(yield* level({ synchronous: "NORMAL" }), 1)
      assert.strictEqual(yield* level({ synchronous: "FULL" }), 2)
    }))

  // 200 rows of 500 bytes: ~100 KB of pages, in the WAL until a checkpoint copies them into the file.
  const writeRows = (sql: Client.SqlClient) =>
    Effect.gen(function*() {
      yield* sql`CREATE TABLE t (x TEXT)`
      for (let i = 0; i < 200; i++) yield* sql`INSERT INTO t VALUES (${"x".repeat(500)})`
    })
  const fileSize = (filename: string) => Effect.sync(() => statSync(filename).size)
  // The database file's size once the rows are in it, or after 10 s (a loaded machine starts
  // threads slowly).
  const untilCopied = (filename: string) =>
    Effect.gen(function*() {
      let size = yield* fileSize(filename)
      for (let i = 0; i < 500 && size < 100_000; i++) {
        yield* Effect.sleep("20 millis")
        size = yield* fileSize(filename)
      }
      return size
    })

  it.live("checkpoint: a worker copies the WAL into the file, so commits do not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const background = join(dir, "background.db")
      const inline = join(dir, "inline.db")
      const [sqlA, sqlB] = [
        yield* client({ filename: background }),
        yield* client({ filename: inline, checkpoint: "inline" })
      ]
      assert.strictEqual(
        (yield* sqlA<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`)[0].wal_autocheckpoint,
        4000
      )
      assert.strictEqual(
        (yield* sqlB<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`)[0].wal_autocheckpoint,
        1000
      )
      yield* writeRows(sqlA)
      yield* writeRows(sqlB)
      // Only a checkpoint moves pages from the WAL into the database file, so the file's size says
      // whether one ran (nothing else here checkpoints: no probe, well below SQLite's 1,000 pages).
      // The worker runs every 5 ms once started: waited for, up to 10 s on a loaded machine.
      assert.isAtLeast(yield* untilCopied(background), 100_000, "the worker copied the rows into the file")
      assert.isBelow(yield* fileSize(inline), 50_000, "inline: the rows are still only in the WAL")
    }))

  it.live("checkpoint: no worker for in-memory, read-only or non-WAL databases; closing stops it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "closing.db")
      const scope = yield* Scope.make()
      const sql = yield* client({ filename }).pipe(Scope.provide(scope))
      yield* writeRows(sql)
      // Once the worker has checkpointed, its connection is open.
      assert.isAtLeast(yield* untilCopied(filename), 100_000)
      assert.isTrue(existsSync(`${filename}-wal`))
      // SQLite removes the WAL when the last connection to the file closes: closing the client stops
      // and waits for the worker's connection first, so the client's own is the last.
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(existsSync(`${filename}-wal`), "the worker's connection was closed before the client's")
      const mark = (config: SqliteClient.SqliteClientConfig) =>
        Effect.flatMap(
          client(config),
          (sql) =>
            Effect.map(
              sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`,
              ([row]) => row.wal_autocheckpoint
            )
        )
      assert.strictEqual(yield* mark({ filename: ":memory:" }), 1000)
      assert.strictEqual(yield* mark({ filename, readonly: true }), 1000)
      assert.strictEqual(yield* mark({ filename: join(dir, "plain.db"), walMode: false }), 1000)
    }))

  it.live(
    "checkpoint: a process with nothing else to do still finishes closing its store",
    () =>
      Effect.gen(function*() {
        const filename = join(yield* tempDir, "exit.db")
        const fixture = fileURLToPath(new URL("./fixtures/closeStore.ts", import.meta.url))
        const output = yield* Effect.promise(() =>
          new Promise<string>((resolve) =>
            execFile(
              process.execPath,
              ["--conditions=@strata/source", fixture, filename],
              (_error, stdout, stderr) => resolve(stdout + stderr)
            )
          )
        )
        assert.strictEqual(output.trim(), "closed")
      }),
    { timeout: 30_000 }
  )

  it.live("shares a WAL file database between two clients", () =>
    Effect.gen(function*() {
      const filename = join(yield* tempDir, "shared.db")
      const writer = yield* client({ filename })
      const reader = yield* client({ filename })
      const [pragmas] = yield* reader<
        { journal_mode: string; synchronous: number; foreign_keys: number; timeout: number }
      >`
        SELECT (SELECT journal_mode FROM pragma_journal_mode) AS journal_mode,
               (SELECT synchronous FROM pragma_synchronous) AS synchronous,
               (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys,
               (SELECT timeout FROM pragma_busy_timeout) AS timeout`
      assert.deepStrictEqual(pragmas, { journal_mode: "wal", synchronous: 1, foreign_keys: 1, timeout: 5000 })

      yield* writer`CREATE TABLE t (x INTEGER)`
      yield* writer`INSERT INTO t ${writer.insert([{ x: 1 }, { x: 2 }])}`
      assert.deepStrictEqual(yield* reader`SELECT x FROM t ORDER BY x`, [{ x: 1 }, { x: 2 }])

      // WAL: a reader is not blocked by an open write transaction and sees the last commit
      const inside = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const fiber = yield* writer.withTransaction(Effect.gen(function*() {
        yield* writer`INSERT INTO t VALUES (3)`
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(commit)
      })).pipe(Effect.forkChild)
      yield* Deferred.await(inside)
      assert.deepStrictEqual((yield* reader<{ n: number }>`SELECT count(*) AS n FROM t`)[0].n, 2)
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual((yield* reader<{ n: number }>`SELECT count(*) AS n FROM t`)[0].n, 3)
    }))

  it.live("begins transactions IMMEDIATE: a second writer gets a retryable lock timeout", () =>
    Effect.gen(function*() {
      const filename = join(yield* tempDir, "locks.db")
      const first = yield* client({ filename })
      // node:sqlite blocks the thread while it waits for a lock: keep the wait short in-process.
      const second = yield* client({ filename, busyTimeout: "50 millis" })
      yield* first`CREATE TABLE t (x INTEGER)`
      const inside = yield* Deferred.make<void>()
      const commit = yield* Deferred.make<void>()
      const fiber = yield* first.withTransaction(Effect.gen(function*() {
        yield* first`INSERT INTO t VALUES (1)`
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(commit)
      })).pipe(Effect.forkChild)
      yield* Deferred.await(inside)
      // A deferred BEGIN would let this read-only transaction start; IMMEDIATE asks for the write lock.
      const error = yield* Effect.flip(second.withTransaction(second`SELECT count(*) FROM t`))
      assert.strictEqual(error.reason._tag, "LockTimeoutError")
      assert.isTrue(error.isRetryable)
      // A plain read outside a transaction is not blocked (WAL).
      assert.deepStrictEqual(yield* second`SELECT count(*) AS n FROM t`, [{ n: 0 }])
      // A per-transaction BeginTransaction overrides IMMEDIATE.
      const deferred = yield* second.withTransaction(second`SELECT count(*) AS n FROM t`).pipe(
        Effect.provideService(Client.BeginTransaction, "BEGIN DEFERRED")
      )
      assert.deepStrictEqual(deferred, [{ n: 0 }])
      yield* Deferred.succeed(commit, undefined)
      yield* Fiber.join(fiber)
      yield* second.withTransaction(second`INSERT INTO t VALUES (2)`)
      assert.deepStrictEqual(yield* first`SELECT count(*) AS n FROM t`, [{ n: 2 }])
    }))

  it.effect("closes the database when its scope closes", () =>
    Effect.gen(function*() {
      const filename = join(yield* tempDir, "closed.db")
      const scope = yield* Scope.make()
      const sql = yield* client({ filename }).pipe(Scope.provide(scope))
      yield* sql`CREATE TABLE t (x INTEGER)`
      yield* sql`INSERT INTO t VALUES (1)`
      assert.isTrue(existsSync(`${filename}-wal`))
      yield* Scope.close(scope, Exit.void)
      // closing the last connection checkpoints the WAL and removes it
      assert.isFalse(existsSync(`${filename}-wal`))
      const error = yield* Effect.flip(sql`SELECT x FROM t`)
      assert.match(error.message, /not open/)
      // the data was committed to the file
      const again = yield* client({ filename })
      assert.deepStrictEqual(yield* again`SELECT x FROM t`, [{ x: 1 }])
    }))

  it.effect("fails to open with a ConnectionError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const error = yield* Effect.flip(client({ filename: join(dir, "missing", "x.db") }))
      assert.strictEqual(error.reason._tag, "ConnectionError")
      assert.strictEqual(error.reason.operation, "open")
    }))

  it.effect("opens read-only: reads work, writes fail with AuthorizationError", () =>
    Effect.gen(function*() {
      const filename = join(yield* tempDir, "ro.db")
      const writer = yield* client({ filename })
      yield* writer`CREATE TABLE t (x INTEGER)`
      yield* writer`INSERT INTO t VALUES (1)`
      const reader = yield* client({ filename, readonly: true })
      assert.deepStrictEqual(yield* reader.withTransaction(reader`SELECT x FROM t`), [{ x: 1 }])
      const error = yield* Effect.flip(reader`INSERT INTO t VALUES (2)`)
      assert.strictEqual(error.reason._tag, "AuthorizationError")
    }))

  it.effect("streams rows in chunks and releases the statement when stopped early", () =>
    Effect.gen(function*() {
      const sql = yield* client({ filename: ":memory:", transformResultNames: String.snakeToCamel })
      yield* sql`CREATE TABLE t (row_number INTEGER)`
      yield* sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
                 INSERT INTO t SELECT i FROM n`
      const all = yield* Stream.runCollect(sql<{ rowNumber: number }>`SELECT row_number FROM t ORDER BY 1`.stream)
      assert.strictEqual(all.length, 300)
      assert.deepStrictEqual(all[299], { rowNumber: 300 })
      const big = yield* Stream.runCollect(sql`SELECT ${2n ** 60n} AS big`.stream).pipe(
        Effect.provideService(Client.SafeIntegers, true)
      )
      assert.deepStrictEqual(big, [{ big: 2n ** 60n }])
      const first = yield* Stream.runCollect(Stream.take(sql`SELECT row_number FROM t`.stream, 1))
      assert.deepStrictEqual(first, [{ rowNumber: 1 }])
      // an unfinished statement would keep the table locked: "database table is locked"
      yield* sql`DROP TABLE t`
      const error = yield* Effect.flip(Stream.runCollect(sql`SELECT * FROM nope`.stream))
      assert.strictEqual(error.reason._tag, "UnknownError")
    }))

  it.effect("transforms query and result names", () =>
    Effect.gen(function*() {
      const sql = yield* client({
        filename: ":memory:",
        transformQueryNames: String.camelToSnake,
        transformResultNames: String.snakeToCamel
      })
      yield* sql`CREATE TABLE ${sql("streamEvents")} (${sql("streamId")} TEXT, ${sql("eventType")} TEXT)`
      yield* sql`INSERT INTO ${sql("streamEvents")} ${sql.insert({ streamId: "s-1", eventType: "Opened" })}`
      assert.deepStrictEqual(yield* sql`SELECT * FROM stream_events`, [{ streamId: "s-1", eventType: "Opened" }])
      assert.deepStrictEqual(yield* sql`SELECT * FROM stream_events`.withoutTransform, [
        { stream_id: "s-1", event_type: "Opened" }
      ])
    }))

  it.effect("refuses to silently drop statements, and runs scripts unprepared", () =>
    Effect.gen(function*() {
      const sql = yield* memory
      const error = yield* Effect.flip(sql`CREATE TABLE a (x); CREATE TABLE b (y)`)
      assert.strictEqual(error.reason._tag, "SqlSyntaxError")
      assert.deepStrictEqual(yield* sql`SELECT name FROM sqlite_master`, [])
      // a trailing semicolon or comment is not a second statement
      yield* sql`CREATE TABLE c (z);  -- done`
      yield* sql.unsafe(`
        CREATE TABLE a (x);
        /* a comment */
        CREATE TABLE b (y);
        INSERT INTO b VALUES (1);
      `).unprepared
      assert.deepStrictEqual(yield* sql`SELECT name FROM sqlite_master ORDER BY name`, [
        { name: "a" },
        { name: "b" },
        { name: "c" }
      ])
      assert.deepStrictEqual(yield* sql`SELECT y FROM b`.unprepared, [{ y: 1 }])
    }))

  it.effect("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const layer = SqliteClient.layerConfig({
        filename: Config.String("SQLITE_FILE"),
        busyTimeout: Config.Duration("SQLITE_BUSY_TIMEOUT")
      }).pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          SQLITE_FILE: join(dir, "config.db"),
          SQLITE_BUSY_TIMEOUT: "250 millis"
        })))
      )
      const rows = yield* Effect.gen(function*() {
        const sql = yield* Client.SqlClient
        return yield* sql<{ mode: string; timeout: number }>`
          SELECT (SELECT journal_mode FROM pragma_journal_mode) AS mode,
                 (SELECT timeout FROM pragma_busy_timeout) AS timeout`
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(rows, [{ mode: "wal", timeout: 250 }])
      assert.isTrue(existsSync(join(dir, "config.db")))
    }))

  describe("writeSync", () => {
    const setup = Effect.gen(function*() {
      const sql = yield* memory
      yield* sql`CREATE TABLE w (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`
      const insert = (name: string) =>
        sql.writeSync(
          "test",
          ({ prepare }) => Number(prepare("INSERT INTO w (name) VALUES (?)").run(name).lastInsertRowid)
        )
      const names = Effect.map(
        sql<{ name: string }>`SELECT name FROM w ORDER BY id`,
        (rows) => rows.map((row) => row.name)
      )
      return { sql, insert, names }
    })

    it.effect("commits what the function wrote and returns its value", () =>
      Effect.gen(function*() {
        const { insert, names } = yield* setup
        assert.strictEqual(yield* insert("a"), 1)
        assert.strictEqual(yield* insert("b"), 2)
        assert.deepStrictEqual(yield* names, ["a", "b"])
      }))

    it.effect("a throw rolls back every statement of the call and fails with a classified SqlError", () =>
      Effect.gen(function*() {
        const { names, sql } = yield* setup
        yield* sql`INSERT INTO w (name) VALUES ('taken')`
        const error = yield* Effect.flip(sql.writeSync("test", ({ prepare }) => {
          prepare("INSERT INTO w (name) VALUES (?)").run("first")
          prepare("INSERT INTO w (name) VALUES (?)").run("taken")
        }))
        assert.strictEqual(reasonOf(error)._tag, "UniqueViolation")
        assert.deepStrictEqual(yield* names, ["taken"])
        // the connection is usable afterwards, outside any transaction
        assert.strictEqual(yield* sql.writeSync("test", ({ prepare }) => prepare("SELECT 1 AS one").get()?.one), 1)
      }))

    it.effect("inside withTransaction: joins it (the outer rollback undoes it) and undoes only itself on a throw", () =>
      Effect.gen(function*() {
        const { insert, names, sql } = yield* setup
        const outer = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO w (name) VALUES ('outer')`
          yield* insert("inner")
          const failed = yield* Effect.flip(insert("outer"))
          assert.strictEqual(reasonOf(failed)._tag, "UniqueViolation")
          assert.deepStrictEqual(yield* names, ["outer", "inner"])
          return yield* Effect.fail("abort" as const)
        })))
        assert.isTrue(Exit.isFailure(outer))
        assert.deepStrictEqual(yield* names, [])
        yield* sql.withTransaction(Effect.andThen(insert("kept"), sql`INSERT INTO w (name) VALUES ('also')`))
        assert.deepStrictEqual(yield* names, ["kept", "also"])
      }))

    it.effect("inside withTransaction: a call failing on its second statement keeps none of its rows; the rest commits", () =>
      Effect.gen(function*() {
        const { names, sql } = yield* setup
        yield* sql`INSERT INTO w (name) VALUES ('taken')`
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO w (name) VALUES ('before')`
          const failed = yield* Effect.flip(sql.writeSync("test", ({ prepare }) => {
            prepare("INSERT INTO w (name) VALUES (?)").run("first")
            prepare("INSERT INTO w (name) VALUES (?)").run("taken")
          }))
          assert.strictEqual(reasonOf(failed)._tag, "UniqueViolation")
          assert.deepStrictEqual(yield* names, ["taken", "before"], "the call's first row is undone at once")
          yield* sql`INSERT INTO w (name) VALUES ('after')`
        }))
        // The transaction committed without the failed call's first row.
        assert.deepStrictEqual(yield* names, ["taken", "before", "after"])
      }))

    it.effect("waits for another fiber's transaction instead of writing inside it", () =>
      Effect.gen(function*() {
        const { insert, names, sql } = yield* setup
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO w (name) VALUES ('held')`
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("rolled back" as const)
        })).pipe(Effect.exit, Effect.forkChild)
        yield* Deferred.await(started)
        const writer = yield* Effect.forkChild(insert("other"))
        yield* Effect.yieldNow
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Fiber.join(writer)
        // Had it written inside the holder's transaction, the rollback would have taken it too.
        assert.deepStrictEqual(yield* names, ["other"])
      }))
  })

  // Inside a transaction a statement runs in the step that evaluates it (internal/inPlace.ts); what
  // it returns, how it fails and what a tracer sees stay as they are outside.
  describe("statements inside a transaction", () => {
    it.effect("read, write, fail classified and roll back as outside one", () =>
      Effect.gen(function*() {
        const sql = yield* client({
          filename: ":memory:",
          transformQueryNames: String.camelToSnake,
          transformResultNames: String.snakeToCamel
        })
        yield* sql`CREATE TABLE ${sql("countedStreams")} (${sql("streamId")} TEXT PRIMARY KEY, n INTEGER NOT NULL)`
        const bump = (stream: string) =>
          sql`INSERT INTO ${sql("countedStreams")} (${sql("streamId")}, n) VALUES (${stream}, 1)
            ON CONFLICT (${sql("streamId")}) DO UPDATE SET n = n + 1`
        const inside = yield* sql.withTransaction(Effect.gen(function*() {
          yield* bump("a")
          yield* bump("a")
          yield* sql.unsafe("INSERT INTO counted_streams (stream_id, n) VALUES (?, ?)", ["b", 2 ** 53 + 2])
          const big = yield* sql<{ n: bigint }>`SELECT n FROM counted_streams WHERE stream_id = ${"b"}`.pipe(
            Effect.provideService(Client.SafeIntegers, true)
          )
          // A number beyond 2^53 is refused, not rounded, as outside a transaction.
          const unsafe = yield* Effect.flip(sql`SELECT n FROM counted_streams WHERE stream_id = ${"b"}`)
          const duplicate = yield* Effect.flip(sql`INSERT INTO counted_streams (stream_id, n) VALUES (${"a"}, 1)`)
          return {
            rows: yield* sql`SELECT * FROM counted_streams WHERE stream_id = ${"a"}`,
            big: big[0].n,
            unsafe: unsafe.reason._tag,
            duplicate: duplicate.reason
          }
        }))
        assert.deepStrictEqual(inside.rows, [{ streamId: "a", n: 2 }])
        assert.strictEqual(inside.big, 2n ** 53n + 2n)
        assert.strictEqual(inside.unsafe, "UnknownError")
        assert.strictEqual(inside.duplicate._tag, "UniqueViolation")
        assert.strictEqual(
          inside.duplicate._tag === "UniqueViolation" && inside.duplicate.constraint,
          "counted_streams.stream_id"
        )
        // A failure after statements rolls them all back.
        const failed = yield* Effect.flip(sql.withTransaction(Effect.andThen(bump("a"), Effect.fail("stop"))))
        assert.strictEqual(failed, "stop")
        assert.deepStrictEqual(yield* sql`SELECT n FROM counted_streams WHERE stream_id = ${"a"}`, [{ n: 2 }])
      }))

    it.effect("a fiber forked inside a transaction that has ended fails its statement", () =>
      Effect.gen(function*() {
        const sql = yield* memory
        yield* sql`CREATE TABLE t (x INTEGER)`
        const ended = yield* Deferred.make<void>()
        const fiber = yield* sql.withTransaction(
          Effect.forkDetach(Effect.andThen(Deferred.await(ended), sql`INSERT INTO t (x) VALUES (1)`))
        )
        yield* Deferred.succeed(ended, undefined)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        assert.deepStrictEqual(yield* sql`SELECT count(*) AS n FROM t`, [{ n: 0 }])
      }))

    it.effect("a tracer that exports spans still gets each statement's span", () =>
      Effect.gen(function*() {
        const sql = yield* memory
        yield* sql`CREATE TABLE t (x INTEGER)`
        const names = yield* spanNames(sql.withTransaction(sql`INSERT INTO t (x) VALUES (${1})`))
        // effect names a statement's span after its target (the database) alone.
        assert.deepStrictEqual(names, ["sql.transaction", "BEGIN :memory:", ":memory:", "COMMIT :memory:"])
      }))
  })
})
