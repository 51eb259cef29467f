import { assert, describe, it } from "@effect/vitest"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bank from "../bank.ts"
import * as QuickStart from "../quickstart.ts"

describe("examples", () => {
  it.live("the README quick start appends, reads and subscribes with typed events through retry and metrics", () =>
    Effect.gen(function*() {
      const result = yield* QuickStart.program.pipe(Effect.provide(QuickStart.StoreLive))
      assert.deepStrictEqual(result, { balance: 75, delivered: ["Deposited", "Withdrawn", "Deposited"] })
    }))

  it.live("npm start's bank runs twice on one SQLite file and continues where it stopped", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bank-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const run = Bank.program.pipe(Effect.provide(SqliteStore.layer({ filename: path.join(dir, "bank.db") })))
      const first = yield* run
      // Two concurrent 40 withdrawals from 120: both are paid, one after a conflict and a re-read.
      assert.deepStrictEqual(first.tellers, ["paid", "paid"])
      assert.deepStrictEqual(first.balances.map((b) => [b.owner, b.balance, b.transactions]), [
        ["Alan Turing", 50, 1],
        ["Ada Lovelace", 40, 3]
      ])
      assert.include(first.adaHistory[1], "MoneyDeposited 120 (stored as v1)")
      const second = yield* run
      // 40 left: one teller is paid, the other is refused after re-reading the new balance.
      assert.sameMembers([...second.tellers], ["paid", "refused (balance 0)"])
      assert.deepStrictEqual(second.balances.map((b) => [b.owner, b.balance, b.transactions]), [
        ["Alan Turing", 100, 2],
        ["Ada Lovelace", 0, 4]
      ])
      assert.strictEqual(second.events, first.events + 2n)
    }))
})
