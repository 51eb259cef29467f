// Writes migrations/<dialect>/*.sql from the Effect migrations (packages/postgres/src/PgMigrations.ts,
// packages/sql/src/SqliteMigrations.ts). Run with `npm run migrations:write`;
// packages/sql/test/Migrations.test.ts keeps the files equal.
import { PgMigrations } from "@strata/postgres"
import { Migrator, SqliteMigrations } from "@strata/sql"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "migrations")
for (
  const [dialect, migrations] of [["postgres", PgMigrations.migrations], [
    "sqlite",
    SqliteMigrations.migrations
  ]] as const
) {
  fs.mkdirSync(path.join(root, dialect), { recursive: true })
  for (const migration of migrations) {
    fs.writeFileSync(path.join(root, dialect, Migrator.fileName(migration)), Migrator.render(migration))
  }
}
