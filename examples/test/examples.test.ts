import { assert, describe, it } from "@effect/vitest"
import { DeciderSpec, ProjectionSpec, TestStore } from "@strata/testing"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Bank from "../bank.ts"
import { AccountOpened, MoneyDeposited, MoneyWithdrawn } from "../bank.ts"
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
      const run = Bank.program.pipe(Effect.provide(Bank.layer(path.join(dir, "bank.db"))))
      const first = yield* run
      // Two concurrent 40 withdrawals from 120: both are paid, one after a conflict and a re-read.
      assert.deepStrictEqual(first.tellers, ["paid", "paid"])
      assert.deepStrictEqual(first.balances.map((b) => [b.owner, b.balance, b.transactions]), [
        ["Alan Turing", 50, 1],
        ["Ada Lovelace", 40, 3]
      ])
      assert.include(first.adaHistory[1], "MoneyDeposited 120 (stored as v1)")
      // The consumer has handled both withdrawals when waitFor returns.
      assert.deepStrictEqual(first.paidOut, [
        { teller: "teller-1", withdrawals: 1, paidOut: 40 },
        { teller: "teller-2", withdrawals: 1, paidOut: 40 }
      ])
      const second = yield* run
      // 40 left: one teller is paid, the other is refused after re-reading the new balance.
      assert.sameMembers([...second.tellers], ["paid", "refused (balance 0)"])
      assert.deepStrictEqual(second.balances.map((b) => [b.owner, b.balance, b.transactions]), [
        ["Alan Turing", 100, 2],
        ["Ada Lovelace", 0, 4]
      ])
      assert.strictEqual(second.events, first.events + 2n)
      assert.strictEqual(second.paidOut.reduce((sum, row) => sum + row.paidOut, 0), 120)
    }))
})

// The bank's account and its balances projection, given / when / then, on memory and on SQLite.
for (const [name, store] of TestStore.all) {
  describe(`bank account (${name})`, () => {
    const account = DeciderSpec.make(Bank.Account, { store: store(), id: "ada" })
    const opened = AccountOpened.make({ owner: "Ada" })
    const deposited = (amount: number) => MoneyDeposited.make({ amount, currency: "EUR" })

    it.effect("opens a new account", () => account.given().when({ _tag: "Open", owner: "Ada" }).then([opened]))

    it.effect("opening an open account does nothing (the program can run again)", () =>
      account.given([opened]).when({ _tag: "Open", owner: "Someone else" }).thenNothing())

    it.effect("a teller withdraws what is there", () =>
      account.given([opened, deposited(120)])
        .when({ _tag: "Withdraw", amount: 40, teller: "teller-1" })
        .then([MoneyWithdrawn.make({ amount: 40, currency: "EUR", teller: "teller-1" })]))

    it.effect("a withdrawal above the balance is refused with the balance", () =>
      account.given([opened, deposited(30)])
        .when({ _tag: "Withdraw", amount: 40, teller: "teller-1" })
        .thenFails(new Bank.InsufficientFunds({ balance: 30 })))

    it.effect("an account that was never opened takes no deposit", () =>
      account.given().when({ _tag: "Deposit", amount: 5, currency: "EUR" }).thenFails(new Bank.AccountNotOpen()))

    it.effect("the balance after a deposit", () =>
      account.given([opened, deposited(10)])
        .when({ _tag: "Deposit", amount: 5, currency: "EUR" })
        .thenState({ owner: "Ada", balance: 15 }))
  })

  describe(`bank balances projection (${name})`, () => {
    const balances = ProjectionSpec.make(Bank.BalancesProjection, { codec: Bank.BankEvents, store: store() })

    it.effect("projects each account's owner, balance and number of transactions", () =>
      balances.given([
        { stream: Bank.Account.streamName("ada"), events: [AccountOpened.make({ owner: "Ada" })] },
        { stream: Bank.Account.streamName("alan"), events: [AccountOpened.make({ owner: "Alan" })] },
        {
          stream: Bank.Account.streamName("ada"),
          events: [
            MoneyDeposited.make({ amount: 120, currency: "EUR" }),
            MoneyWithdrawn.make({ amount: 40, currency: "EUR", teller: "t" })
          ]
        }
      ]).then(Bank.Balances, [
        { id: "ada", value: { owner: "Ada", balance: 80, transactions: 2 } },
        { id: "alan", value: { owner: "Alan", balance: 0, transactions: 0 } }
      ]))

    it.effect("ignores events of streams outside the account category", () =>
      balances.given([
        { stream: "audit-1", events: [AccountOpened.make({ owner: "not an account" })] },
        { stream: Bank.Account.streamName("ada"), events: [AccountOpened.make({ owner: "Ada" })] }
      ]).then(Bank.Balances, [{ id: "ada", value: { owner: "Ada", balance: 0, transactions: 0 } }]))
  })

  describe(`bank teller stats consumer (${name})`, () => {
    const tellers = ProjectionSpec.make(Bank.tellerStats, { codec: Bank.BankEvents, store: store() })

    it.effect("totals what each teller paid out, from withdrawals only", () =>
      tellers.given([
        {
          stream: Bank.Account.streamName("ada"),
          events: [
            AccountOpened.make({ owner: "Ada" }),
            MoneyDeposited.make({ amount: 120, currency: "EUR" }),
            MoneyWithdrawn.make({ amount: 40, currency: "EUR", teller: "t1" }),
            MoneyWithdrawn.make({ amount: 25, currency: "EUR", teller: "t1" }),
            MoneyWithdrawn.make({ amount: 10, currency: "EUR", teller: "t2" })
          ]
        }
      ]).then(Bank.Tellers, [
        { id: "t1", value: { withdrawals: 2, paidOut: 65 } },
        { id: "t2", value: { withdrawals: 1, paidOut: 10 } }
      ]))
  })
}
