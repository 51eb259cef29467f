// A consumer group of OS processes on one SQLite file: members SIGKILLed mid-batch and restarted, a
// member added while running; every event is handled exactly once overall, each stream in order.
import { assert, it } from "@effect/vitest"
import { SqliteStore } from "@strata/sqlite"
import { killAndJoinScenario } from "@strata/test-utils"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

it.live(
  "consumer group across processes on one SQLite file: exactly once, in stream order",
  () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-group-"))
      const filename = Path.join(dir, "group.db")
      const result = yield* killAndJoinScenario({ backend: "sqlite", target: filename }).pipe(
        Effect.provide(SqliteStore.layer({ filename })),
        Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      )
      const context = result.outputs.join("\n").slice(-6_000)
      assert.strictEqual(result.reached.events, result.total, `every event handled\n${context}`)
      assert.strictEqual(result.final.rows, result.total, `no event handled twice\n${context}`)
      assert.deepStrictEqual(result.outOfOrder, [], "every stream handled in order")
      // Not asserted here: that the committed work is spread over members. On one SQLite file a member
      // waiting for the write lock waits synchronously (busyTimeout), which also delays its lease
      // renewals, so under load one member can end up committing everything (seen once with two test
      // workers: {"m3":448}). Exactly once and stream order are what must hold; PostgreSQL's test
      // also asserts the sharing.
    }),
  { timeout: 120_000 }
)
