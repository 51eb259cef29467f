// DCB races on SQLite (see @strata/conformance dcbRaceSuite): rounds of each two-writer
// interleaving with random delays inside the transactions, and the 16-writer enrolment.
// 100 rounds by default; STRATA_DCB_ROUNDS=1000 for the long run (about 10 ms a round).
import { layer } from "@effect/vitest"
import { dcbRaceSuite } from "@strata/conformance"
import { SqliteStore } from "@strata/sqlite"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-dcb-"))

layer(SqliteStore.layer({ filename: path.join(dir, "dcb.db") }), { timeout: "60 seconds", excludeTestServices: true })(
  "sqlite file",
  (it) => dcbRaceSuite(it, { rounds: Number(process.env.STRATA_DCB_ROUNDS ?? 100) })
)
