/**
 * What only the D1 backend has: writes as atomic batches guarded by strata_guard.
 */
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventStore, ExpectedVersion } from "@strata/core"
import { D1Store } from "@strata/d1"
import { SqliteMigrations } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as path from "node:path"
import { D1TestDatabase } from "./utils.ts"

const Store = Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Store.layer({ db }))).pipe(
  Layer.provideMerge(D1TestDatabase.layer)
)

describe("D1Store", () => {
  it.layer(Store, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("a batch whose second stream conflicts leaves nothing behind, not even a guard row", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        yield* store.append("d1b-taken", [Event.make("A", {})])
        const error = yield* Effect.flip(store.appendMany([
          {
            stream: "d1b-fresh",
            events: [Event.make("B", {}), Event.make("C", {})],
            expected: ExpectedVersion.noStream
          },
          { stream: "d1b-taken", events: [Event.make("D", {})], expected: ExpectedVersion.noStream }
        ]))
        assert.strictEqual(error._tag, "WrongExpectedVersion")
        assert.isTrue(error._tag === "WrongExpectedVersion" && error.stream === "d1b-taken" && error.actual === 0n)
        assert.strictEqual((yield* store.streamInfo("d1b-fresh")).status, "missing")
        const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM strata_events WHERE stream = 'd1b-fresh'`
        assert.strictEqual(rows[0].n, 0)
        const guards = yield* sql<{ n: number }>`SELECT count(*) AS n FROM strata_guard`
        assert.strictEqual(guards[0].n, 0)
      }))

    it.effect("a document write with events is one batch: a document conflict writes no events", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const store = yield* EventStore.EventStore
        const Notes = DocumentStore.collection("d1notes", Schema.Struct({ text: Schema.String }))
        yield* docs.put(Notes, "n1", { text: "first" })
        const error = yield* Effect.flip(
          docs.put(Notes, "n1", { text: "second" }, {
            expected: "missing",
            events: [{ stream: "d1notes-n1", events: [Event.make("NoteWritten", {})] }]
          })
        )
        assert.strictEqual(error._tag, "DocumentConflict")
        assert.strictEqual((yield* store.streamInfo("d1notes-n1")).status, "missing")
      }))
  })
})

describe("migrations/sqlite on D1", () => {
  it.layer(D1TestDatabase.layer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("the checked-in SQL files apply to D1 as wrangler would, and the store then finds nothing to apply", () =>
      Effect.gen(function*() {
        const { db } = yield* D1TestDatabase
        const dir = path.join(import.meta.dirname, "..", "..", "..", "migrations", "sqlite")
        for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".sql")).sort()) {
          // Each file as one atomic batch of its statements, like `wrangler d1 migrations apply`.
          const statements = fs.readFileSync(path.join(dir, file), "utf8")
            .split(/;\n/)
            .map((statement) => statement.replace(/^--.*$/gm, "").trim())
            .filter((statement) => statement.length > 0)
          yield* Effect.promise(() => db.batch(statements.map((statement) => db.prepare(statement))))
        }
        const applied = yield* Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          yield* store.append("wrangler-1", [Event.make("A", {})])
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ id: number }>`SELECT id FROM strata_migrations ORDER BY id`
        }).pipe(Effect.provide(D1Store.layer({ db })))
        assert.deepStrictEqual(applied.map((row) => Number(row.id)), SqliteMigrations.migrations.map((m) => m.id))
      }))
  })
})
