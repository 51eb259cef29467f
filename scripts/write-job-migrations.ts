// Writes migrations/postgres-jobs/*.sql and migrations/sqlite-jobs/*.sql from the job queue's Effect
// migrations (packages/sql/src/SqlJobs.ts; one set for both: every statement is one both accept).
// Run with `node --conditions=@strata/source scripts/write-job-migrations.ts`;
// packages/sql/test/JobMigrations.test.ts keeps the files equal.
import { SqlJobs } from "@strata/sql"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "migrations")
for (const dialect of ["postgres-jobs", "sqlite-jobs"]) {
  fs.mkdirSync(path.join(root, dialect), { recursive: true })
  for (const [name, text] of SqlJobs.files()) fs.writeFileSync(path.join(root, dialect, name), text)
}
