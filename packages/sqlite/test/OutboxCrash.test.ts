// The outbox on one SQLite file, across a crash: a writer process commits units of work that append
// an event and enqueue a job, and is SIGKILLed inside the last unit, between its writes and its
// commit. Every committed unit has its event and its job; the killed one has neither. The same for
// jobs carried by an append (JobQueue.append, appendMany, put), killed between the last job's insert
// and the commit, or just after the commit.
import { assert, it } from "@effect/vitest"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import { carriedCrash, type CarriedCrashResult, kinds } from "@strata/test-utils/CarriedCrash"
import { outboxCrash } from "@strata/test-utils/OutboxCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

// Units 0..killAt-1 committed whole; unit killAt has everything (after its commit) or nothing.
const checkCarried = (result: CarriedCrashResult, killAt: number, when: "before-commit" | "after-commit") => {
  assert.strictEqual(result.exit, "SIGKILL", result.output)
  assert.include(result.output, when === "before-commit" ? "not committed; killing" : `committed ${killAt}; killing`)
  for (const unit of result.units) {
    const whole = unit.n < killAt || when === "after-commit"
    const streams = unit.kind === "appendMany" ? 2 : 1
    assert.deepStrictEqual(
      unit,
      whole
        ? { ...unit, streams, document: unit.kind === "put", jobs: 2 }
        : { ...unit, streams: 0, document: false, jobs: 0 },
      `unit ${unit.n} (${unit.kind}), ${when}: events present <=> jobs present`
    )
  }
}

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

const withFile = <A, E>(run: (filename: string) => Effect.Effect<A, E, never>) =>
  Effect.gen(function*() {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-carried-"))
    return yield* run(Path.join(dir, "carried.db")).pipe(
      Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
    )
  })

const carriedOnFile = (killAt: number, when: "before-commit" | "after-commit") =>
  withFile((filename) =>
    carriedCrash({ backend: "sqlite", target: filename }, killAt, when).pipe(
      Effect.provide(
        SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
          Layer.provideMerge(SqliteStore.layer({ filename }))
        )
      )
    )
  )

// Unit k carries its jobs through kinds[k % 3]: killing in units 3, 4 and 5 kills each kind.
for (const killAt of [3, 4, 5]) {
  it.live(
    `carried jobs on SQLite (${
      kinds[killAt % 3]
    }): SIGKILL between the last job's insert and the commit: events present <=> jobs present`,
    () => Effect.map(carriedOnFile(killAt, "before-commit"), (result) => checkCarried(result, killAt, "before-commit")),
    { timeout: 90_000 }
  )
}

it.live(
  "carried jobs on SQLite (put): SIGKILL just after the commit: the unit's events, document and jobs are all there",
  () => Effect.map(carriedOnFile(5, "after-commit"), (result) => checkCarried(result, 5, "after-commit")),
  { timeout: 90_000 }
)
