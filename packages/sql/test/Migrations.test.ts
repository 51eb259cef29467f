import { assert, describe, it } from "@effect/vitest"
import { Migrations } from "@strata/sql"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..", "..", "migrations")

describe("migrations/ holds exactly what the Effect migrations apply", () => {
  for (const [dialect, migrations] of [["postgres", Migrations.postgres], ["sqlite", Migrations.sqlite]] as const) {
    it(`migrations/${dialect} has one file per migration, equal to Migrations.render`, () => {
      const files = fs.readdirSync(path.join(root, dialect)).filter((file) => file.endsWith(".sql")).sort()
      assert.deepStrictEqual(files, migrations.map(Migrations.fileName))
      for (const migration of migrations) {
        const text = fs.readFileSync(path.join(root, dialect, Migrations.fileName(migration)), "utf8")
        assert.strictEqual(
          text,
          Migrations.render(migration),
          `${dialect}/${Migrations.fileName(migration)} is stale: run npm run migrations:write`
        )
      }
    })
  }

  it("migration ids are 1, 2, 3... in order in every dialect", () => {
    for (const migrations of [Migrations.postgres, Migrations.sqlite]) {
      assert.deepStrictEqual(migrations.map((m) => m.id), migrations.map((_, i) => i + 1))
    }
  })
})
