// The outbox on one SQLite file, across a crash: a writer process commits units of work that append
// an event and enqueue a job, and is SIGKILLed inside the last unit, between its writes and its
// commit. Every committed unit has its event and its job; the killed one has neither.
import { assert, it } from "@effect/vitest"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import { outboxCrash } from "@strata/test-utils/OutboxCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

it.live(
  "outbox on SQLite: SIGKILL between append and commit, and after commits: events present <=> jobs present",
  () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-outbox-"))
      const filename = Path.join(dir, "outbox.db")
      const result = yield* outboxCrash({ backend: "sqlite", target: filename }, 20).pipe(
        Effect.provide(
          SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
            Layer.provideMerge(SqliteStore.layer({ filename }))
          )
        ),
        Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      )
      assert.strictEqual(result.exit, "SIGKILL", result.output)
      const committed = Array.from({ length: 20 }, (_, n) => n)
      assert.deepStrictEqual(result.events, committed, "every committed unit's event, not the killed one's")
      assert.deepStrictEqual(result.jobs, result.events, "jobs present exactly where events are")
    }),
  { timeout: 60_000 }
)
