/**
 * `npm start`: a small bank on the embedded SQLite default (.strata/bank.db).
 *
 * - Typed, versioned events: MoneyDeposited v1 stored only an amount; v2 adds the currency, and the
 *   v1 events imported on the first run are upcast when read.
 * - An aggregate definition (`Aggregate.make`): the account's stream naming, fold and command
 *   handler in one place. Decisions are retried on conflict: two tellers withdraw from one account
 *   at the same time; the loser re-reads and decides again (and is refused if the money is gone).
 * - A declarative projection (`Projection.multiStream`), registered inline with the store layer:
 *   balances are written in the same transaction as the events that change them.
 * - A supervised consumer (`Consumer.layer`) that follows the log and totals what each teller paid
 *   out; the program waits for it with `waitFor(position)` instead of polling its checkpoint.
 * - Its tests (examples/test/examples.test.ts) use @strata/testing: given / when / then.
 *
 * Run it again: the file keeps everything, the consumer resumes from its checkpoint, and the
 * balances grow.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Aggregate, Consumer, DocumentStore, Event, EventCodec, EventStore, Projection } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import { Data, Effect, Layer, Option, Schema, Stream } from "effect"
import * as fs from "node:fs"

// ---- events ----

const AccountOpened = EventCodec.type("AccountOpened", { schema: Schema.Struct({ owner: Schema.String }) })
const DepositedV1 = Schema.Struct({ amount: Schema.Finite })
const DepositedV2 = Schema.Struct({ amount: Schema.Finite, currency: Schema.String })
const MoneyDeposited = EventCodec.type("MoneyDeposited", {
  schema: DepositedV2,
  version: 2,
  // The old system only knew euros.
  upcasts: { 1: EventCodec.upcast(DepositedV1, DepositedV2, (v1) => ({ amount: v1.amount, currency: "EUR" })) }
})
const MoneyWithdrawn = EventCodec.type("MoneyWithdrawn", {
  schema: Schema.Struct({ amount: Schema.Finite, currency: Schema.String, teller: Schema.String })
})
export const BankEvents = EventCodec.make([AccountOpened, MoneyDeposited, MoneyWithdrawn])
export { AccountOpened, MoneyDeposited, MoneyWithdrawn }

// ---- the account aggregate ----

interface AccountState {
  readonly owner: string | undefined
  readonly balance: number
}

export type AccountCommand =
  | { readonly _tag: "Open"; readonly owner: string }
  | { readonly _tag: "Deposit"; readonly amount: number; readonly currency: string }
  | { readonly _tag: "Withdraw"; readonly amount: number; readonly teller: string }

export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly balance: number }> {}
export class AccountNotOpen extends Data.TaggedError("AccountNotOpen")<{}> {}

// One definition: accounts live in the streams "account-<id>", and loading, deciding and the
// projection's filter all come from it.
export const Account = Aggregate.make({
  category: "account",
  codec: BankEvents,
  initial: { owner: undefined, balance: 0 } as AccountState,
  evolve: (state, event): AccountState => {
    switch (event._tag) {
      case "AccountOpened":
        return { ...state, owner: event.owner }
      case "MoneyDeposited":
        return { ...state, balance: state.balance + event.amount }
      case "MoneyWithdrawn":
        return { ...state, balance: state.balance - event.amount }
    }
  },
  decide: (command: AccountCommand, state) => {
    switch (command._tag) {
      case "Open":
        // Opening an open account is a no-op, so the program can run again.
        return state.owner === undefined ? [AccountOpened.make({ owner: command.owner })] : []
      case "Deposit":
        return state.owner === undefined
          ? Effect.fail(new AccountNotOpen())
          : [MoneyDeposited.make({ amount: command.amount, currency: command.currency })]
      case "Withdraw":
        return state.owner === undefined
          ? Effect.fail(new AccountNotOpen())
          : state.balance < command.amount
          ? Effect.fail(new InsufficientFunds({ balance: state.balance }))
          : [MoneyWithdrawn.make({ amount: command.amount, currency: "EUR", teller: command.teller })]
    }
  }
})

// ---- the projection (inline: in the append's transaction) ----

const Balance = Schema.Struct({ owner: Schema.String, balance: Schema.Finite, transactions: Schema.Int })
export const Balances = DocumentStore.collection("balances", Balance, { indexes: ["balance"] })

// One balance document per account, updated in the same transaction as every append (registered
// with the store layer below): when an append returns, its balance is there. It handles only the
// codec's types, and events of streams outside the account category are skipped (no id).
export const BalancesProjection = Projection.multiStream({
  name: "balances",
  collection: Balances,
  events: BankEvents,
  id: ({ stream }) => Account.idOf(stream),
  evolve: (current, { event }) => {
    const before = current ?? { owner: "?", balance: 0, transactions: 0 }
    switch (event._tag) {
      case "AccountOpened":
        return { ...before, owner: event.owner }
      case "MoneyDeposited":
        return { ...before, balance: before.balance + event.amount, transactions: before.transactions + 1 }
      case "MoneyWithdrawn":
        return { ...before, balance: before.balance - event.amount, transactions: before.transactions + 1 }
    }
  }
})

// ---- a supervised consumer (asynchronous: it follows the log) ----

const TellerStats = Schema.Struct({ withdrawals: Schema.Int, paidOut: Schema.Finite })
export const Tellers = DocumentStore.collection("tellers", TellerStats)

// What each teller paid out. Its filter (the account category, the codec's types) comes from the
// aggregate; the checkpoint commits in the same transaction as its document writes.
export const tellerStats = Account.consumer(({ event }) =>
  event._tag !== "MoneyWithdrawn"
    ? Effect.void
    : Effect.asVoid(DocumentStore.update(Tellers, event.teller, (current) => ({
      withdrawals: (current?.withdrawals ?? 0) + 1,
      paidOut: (current?.paidOut ?? 0) + event.amount
    })))
)

/**
 * The bank's store: SQLite with the balances projection inline, and the teller-stats consumer
 * running (supervised: restarted on failure, outages retried) for as long as the layer.
 */
export const layer = (filename: string) =>
  Consumer.layer("teller-stats", tellerStats).pipe(
    Layer.provideMerge(SqliteStore.layer({ filename, projections: [BalancesProjection] }))
  )

// ---- the program ----

export const program = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const docs = yield* DocumentStore.DocumentStore

  const opened = yield* Account.decide("ada", { _tag: "Open", owner: "Ada Lovelace" })
  yield* Account.decide("alan", { _tag: "Open", owner: "Alan Turing" })
  if (opened.events.length > 0) {
    // Imported from the old system: schema version 1, no currency.
    yield* store.append(Account.streamName("ada"), [
      Event.make("MoneyDeposited", { amount: 120 }, { schemaVersion: 1 })
    ])
  }
  yield* Account.decide("alan", { _tag: "Deposit", amount: 50, currency: "EUR" })

  // Two tellers withdraw from Ada's account at once: one conflicts, re-reads and decides again.
  const tellers = yield* Effect.forEach(
    ["teller-1", "teller-2"],
    (teller) =>
      Account.decide("ada", { _tag: "Withdraw", amount: 40, teller }).pipe(
        Effect.map(() => "paid" as const),
        Effect.catchTag("InsufficientFunds", (e) => Effect.succeed(`refused (balance ${e.balance})` as const))
      ),
    { concurrency: "unbounded" }
  )

  // The balances are already up to date (inline); the consumer is waited for, not polled.
  const head = yield* Stream.runLast(store.readAll({ direction: "backwards", limit: 1 }))
  const last = Option.match(head, { onNone: () => 0n, onSome: (event) => event.position })
  yield* (yield* Consumer.get("teller-stats")).waitFor(last)

  const balances = yield* Stream.runCollect(docs.find(Balances, { orderBy: [{ field: "balance", direction: "desc" }] }))
  const paidOut = yield* Stream.runCollect(docs.find(Tellers, {}))
  const history = yield* Stream.runCollect(BankEvents.read(Account.streamName("ada")))
  return {
    tellers,
    balances: balances.map(({ id, value }) => ({ id, ...value })),
    paidOut: paidOut.map(({ id, value }) => ({ teller: id, ...value })).sort((a, b) => a.teller < b.teller ? -1 : 1),
    adaHistory: history.map(({ event, schemaVersion, version }) =>
      `#${version} ${event._tag}${"amount" in event ? ` ${event.amount}` : ""} (stored as v${schemaVersion})${
        event._tag === "MoneyDeposited" && schemaVersion < 2 ? `, upcast to v2: currency ${event.currency}` : ""
      }`
    ),
    events: last
  }
})

const print = (summary: Effect.Success<typeof program>) => {
  console.log("Tellers withdrawing 40 from Ada at the same time:", summary.tellers.join(", "))
  console.log("\nBalances (an inline projection, updated in each append's transaction):")
  for (const row of summary.balances) {
    console.log(`  ${row.owner.padEnd(14)} ${String(row.balance).padStart(6)} EUR  (${row.transactions} transactions)`)
  }
  console.log("\nPaid out per teller (a supervised consumer):")
  for (const row of summary.paidOut) {
    console.log(`  ${row.teller.padEnd(14)} ${String(row.paidOut).padStart(6)} EUR  (${row.withdrawals} withdrawals)`)
  }
  console.log("\nAda's account, decoded to the current event versions:")
  for (const line of summary.adaHistory.slice(-6)) console.log(`  ${line}`)
  console.log(
    `\nLast event at position ${summary.events} in .strata/bank.db. Run npm start again to continue from here.`
  )
}

// runMain prints a failure's message and cause and sets the exit code; Ctrl-C interrupts the program cleanly.
if (import.meta.main) {
  fs.mkdirSync(".strata", { recursive: true })
  NodeRuntime.runMain(
    program.pipe(Effect.map(print), Effect.provide(layer(".strata/bank.db")))
  )
}
