/**
 * A SQLite store opened with `migrate: false` on a database nobody migrated: typed
 * `StoreUnavailable` (`NotMigrated`, naming `strata migrate`) from every operation, no defect; and
 * after the migrations, a working store. In memory and on a new file.
 */
import { notMigratedSuite } from "@strata/conformance/lifecycleSuite"
import { SqliteStore } from "@strata/sqlite"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-not-migrated-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

notMigratedSuite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:", migrate: false }))
notMigratedSuite("sqlite file", SqliteStore.layer({ filename: path.join(dir, "new.db"), migrate: false }))
