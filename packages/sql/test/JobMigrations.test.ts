// The job queue's migrations: mirrored as plain SQL under migrations/<dialect>-jobs/, recorded in
// their own ledger (never strata_migrations), and safe to run again (a second run applies nothing;
// a run that died half-way is completed, every statement being idempotent).
import { assert, describe, it } from "@effect/vitest"
import { Migrator, SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteClient } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..", "..", "migrations")

describe("job queue migrations", () => {
  for (const dialect of ["postgres-jobs", "sqlite-jobs"]) {
    it(`migrations/${dialect} has one file per migration, equal to SqlJobs.render`, () => {
      const files = fs.readdirSync(path.join(root, dialect)).filter((file) => file.endsWith(".sql")).sort()
      assert.deepStrictEqual(files, SqlJobs.migrations.map(Migrator.fileName))
      for (const [name, text] of SqlJobs.files()) {
        assert.strictEqual(
          fs.readFileSync(path.join(root, dialect, name), "utf8"),
          text,
          `${dialect}/${name} is stale: run node --conditions=@strata/source scripts/write-job-migrations.ts`
        )
      }
    })
  }

  it.effect("run in their own ledger, once; the rendered file applies on top (idempotent)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      assert.deepStrictEqual(yield* SqlJobs.migrate(SqliteDialect.dialect), [1, 2, 3])
      assert.deepStrictEqual(yield* SqlJobs.migrate(SqliteDialect.dialect), [])
      const ledger = yield* sql<{ id: unknown; name: string }>`SELECT id, name FROM strata_job_migrations`
      assert.deepStrictEqual(ledger.map((row) => [Number(row.id), row.name]), [
        [1, "create_job_queue"],
        [2, "index_finished_jobs"],
        [3, "index_dead_jobs"]
      ])
      const shared = yield* sql<
        { n: unknown }
      >`SELECT count(*) AS n FROM sqlite_master WHERE name = 'strata_migrations'`
      assert.strictEqual(Number(shared[0].n), 0, "the job migrations touched strata_migrations")
      for (const [, text] of SqlJobs.files()) {
        for (const statement of text.split(";\n").map((s) => s.replace(/^--.*$/gm, "").trim()).filter(Boolean)) {
          yield* sql.unsafe(statement)
        }
      }
      assert.strictEqual((yield* sql<{ id: unknown }>`SELECT id FROM strata_job_migrations`).length, 3)
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:", safeIntegers: true }))))
})
