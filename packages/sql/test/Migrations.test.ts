import { assert, describe, it } from "@effect/vitest"
import { PgMigrations } from "@strata/postgres"
import { Migrator, SqliteMigrations } from "@strata/sql"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..", "..", "migrations")

describe("migrations/ holds exactly what the Effect migrations apply", () => {
  for (
    const [dialect, migrations] of [["postgres", PgMigrations.migrations], [
      "sqlite",
      SqliteMigrations.migrations
    ]] as const
  ) {
    it(`migrations/${dialect} has one file per migration, equal to Migrator.render`, () => {
      const files = fs.readdirSync(path.join(root, dialect)).filter((file) => file.endsWith(".sql")).sort()
      assert.deepStrictEqual(files, migrations.map(Migrator.fileName))
      for (const migration of migrations) {
        const text = fs.readFileSync(path.join(root, dialect, Migrator.fileName(migration)), "utf8")
        assert.strictEqual(
          text,
          Migrator.render(migration),
          `${dialect}/${Migrator.fileName(migration)} is stale: run npm run migrations:write`
        )
      }
    })
  }

  it("migration ids are 1, 2, 3... in order in every dialect", () => {
    for (const migrations of [PgMigrations.migrations, SqliteMigrations.migrations]) {
      assert.deepStrictEqual(migrations.map((m) => m.id), migrations.map((_, i) => i + 1))
    }
  })
})
