import { assert, describe, it } from "@effect/vitest"
import { SqliteUrl } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const parse = (url: string) => SqliteUrl.parse(Redacted.make(url))

describe("SqliteUrl", () => {
  it.effect("reads synchronous and checkpoint from the query; a URL without one leaves both to the defaults", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parse("sqlite:./app.db"), { filename: "./app.db" })
      assert.deepStrictEqual(yield* parse("sqlite:./app.db?synchronous=FULL&checkpoint=inline"), {
        filename: "./app.db",
        synchronous: "FULL",
        checkpoint: "inline"
      })
      assert.deepStrictEqual(yield* parse("sqlite:///var/lib/app.db?checkpoint=background"), {
        filename: "/var/lib/app.db",
        checkpoint: "background"
      })
    }))

  it.effect("the store a URL opens runs with what its query says", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "strata-url-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const pragmas = (url: string) =>
        Effect.flatMap(Layer.build(SqliteUrl.layer(Redacted.make(url))), (context) => {
          const sql = context.mapUnsafe.get(SqlClient.SqlClient.key) as SqlClient.SqlClient
          return Effect.all({
            // The store's client reads integers as bigints.
            synchronous: Effect.map(
              sql<{ synchronous: bigint }>`PRAGMA synchronous`,
              ([row]) => Number(row.synchronous)
            ),
            mark: Effect.map(
              sql<{ wal_autocheckpoint: bigint }>`PRAGMA wal_autocheckpoint`,
              ([row]) => Number(row.wal_autocheckpoint)
            )
          })
        })
      // 1 = NORMAL, 2 = FULL; 4,000 pages while a checkpoint worker runs, SQLite's 1,000 without one.
      assert.deepStrictEqual(yield* pragmas(`sqlite:${join(dir, "a.db")}`), { synchronous: 1, mark: 4000 })
      assert.deepStrictEqual(yield* pragmas(`sqlite:${join(dir, "b.db")}?synchronous=FULL&checkpoint=inline`), {
        synchronous: 2,
        mark: 1000
      })
    }))

  it.effect("mustExist: a missing file is refused with its name and not created; an existing one opens", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "strata-url-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const file = join(dir, "typo.db")
      const exit = yield* Effect.exit(
        Effect.scoped(Layer.build(SqliteUrl.layer(Redacted.make(`sqlite:${file}`), { mustExist: true })))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        assert.strictEqual(error?._tag === "Fail" ? error.error._tag : undefined, "StartupFailed")
        assert.include(error?._tag === "Fail" ? error.error.message : "", `${file}: no such file`)
      }
      assert.isFalse(existsSync(file), "mustExist created the file")
      // Without it the file is created (and migrated); with it, the existing file opens.
      yield* Effect.scoped(Layer.build(SqliteUrl.layer(Redacted.make(`sqlite:${file}`))))
      yield* Effect.scoped(Layer.build(SqliteUrl.layer(Redacted.make(`sqlite:${file}`), { mustExist: true })))
      // An in-memory database has no file to miss.
      yield* Effect.scoped(Layer.build(SqliteUrl.layer(Redacted.make("sqlite::memory:"), { mustExist: true })))
    }))
})
