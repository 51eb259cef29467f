// Writes migrations/<dialect>/*.sql from the Effect migrations in packages/sql/src/Migrations.ts.
// Run with `npm run migrations:write`; packages/sql/test/Migrations.test.ts keeps the files equal.
import { Migrations } from "@strata/sql"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "migrations")
for (const [dialect, migrations] of [["postgres", Migrations.postgres], ["sqlite", Migrations.sqlite]] as const) {
  fs.mkdirSync(path.join(root, dialect), { recursive: true })
  for (const migration of migrations) {
    fs.writeFileSync(path.join(root, dialect, Migrations.fileName(migration)), Migrations.render(migration))
  }
}
