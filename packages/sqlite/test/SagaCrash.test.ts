// The order saga (examples/orderSaga.ts) on one SQLite file, across a crash: a process is SIGKILLed
// inside a step, before its effect; a new process resumes the execution from its stream and
// completes it, with every effect applied once.
import { assert, describe, it } from "@effect/vitest"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import { sagaCrash } from "@strata/test-utils/SagaCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const cases: ReadonlyArray<
  { readonly killBefore: string; readonly amount: number; readonly effects: ReadonlyArray<string> }
> = [
  { killBefore: "PaymentCharged", amount: 30, effects: ["StockReserved", "PaymentCharged", "Shipped"] },
  { killBefore: "Shipped", amount: 30, effects: ["StockReserved", "PaymentCharged", "Shipped"] },
  { killBefore: "StockReleased", amount: 9_000, effects: ["StockReserved", "StockReleased"] }
]

describe("order saga on SQLite across SIGKILL", () => {
  for (const c of cases) {
    it.live(`killed before ${c.killBefore}: resumed in a new process, each effect once`, () =>
      Effect.gen(function*() {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-saga-"))
        const filename = Path.join(dir, "saga.db")
        const result = yield* sagaCrash({ backend: "sqlite", target: filename }, {
          orderId: `o-${c.killBefore}`,
          amount: c.amount,
          killBefore: c.killBefore
        }).pipe(
          Effect.provide(
            SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
              Layer.provideMerge(SqliteStore.layer({ filename }))
            )
          ),
          Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
        )
        assert.strictEqual(result.first.exit, "SIGKILL", result.first.output)
        assert.deepStrictEqual([...result.afterCrash], c.effects.slice(0, c.effects.indexOf(c.killBefore)))
        assert.strictEqual(result.second.exit, 0, result.second.output)
        assert.deepStrictEqual([...result.effects], [...c.effects], "every effect applied once, in order")
        assert.include(result.second.output, c.amount > 1_000 ? `"failed":"ChargePayment"` : `"shipped":"shipment-o-`)
      }), { timeout: 60_000 })
  }
})
