/**
 * `npm start`: a small bank on the embedded SQLite default (.strata/bank.db).
 *
 * - Typed, versioned events: MoneyDeposited v1 stored only an amount; v2 adds the currency, and the
 *   v1 events imported on the first run are upcast when read.
 * - An aggregate definition (`Aggregate.make`): the account's stream naming, fold and command
 *   handler in one place. Decisions are retried on conflict: two tellers withdraw from one account
 *   at the same time; the loser re-reads and decides again (and is refused if the money is gone).
 * - A live subscription (a checkpointed consumer, its filter from the aggregate) projects balances
 *   into the DocumentStore.
 * - Its tests (examples/test/examples.test.ts) use @strata/testing: given / when / then.
 *
 * Run it again: the file keeps everything, the consumer resumes from its checkpoint, and the
 * balances grow.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Aggregate, Consumer, DocumentStore, Event, EventCodec, EventStore } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import { Data, Effect, Fiber, Option, Schema, Stream } from "effect"
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

// ---- the projection ----

const Balance = Schema.Struct({ owner: Schema.String, balance: Schema.Finite, transactions: Schema.Int })
export const Balances = DocumentStore.collection("balances", Balance, { indexes: ["balance"] })

// The consumer's filter (the account category, the codec's types) and its decoding handler.
export const projectBalances = Account.consumer(({ event }, id) =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    const current = Option.getOrUndefined(yield* docs.get(Balances, id))
    const before = current?.value ?? { owner: "?", balance: 0, transactions: 0 }
    const after = event._tag === "AccountOpened"
      ? { ...before, owner: event.owner }
      : {
        ...before,
        balance: before.balance + (event._tag === "MoneyDeposited" ? event.amount : -event.amount),
        transactions: before.transactions + 1
      }
    yield* docs.put(Balances, id, after, { expected: current === undefined ? "missing" : current.version })
  })
)

// ---- the program ----

export const program = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const docs = yield* DocumentStore.DocumentStore
  const projection = yield* Consumer.run("balances", projectBalances).pipe(Effect.forkChild)

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

  // Wait for the projection to catch up with everything appended so far.
  const head = yield* Stream.runLast(store.readAll({ direction: "backwards", limit: 1 }))
  const target = Option.match(head, { onNone: () => 0n, onSome: (event) => event.position })
  for (;;) {
    const checkpoint = yield* store.loadCheckpoint("balances")
    if (Option.getOrElse(checkpoint, () => 0n) >= target) break
    yield* Effect.sleep("20 millis")
  }
  yield* Fiber.interrupt(projection)

  const balances = yield* Stream.runCollect(docs.find(Balances, { orderBy: [{ field: "balance", direction: "desc" }] }))
  const history = yield* Stream.runCollect(BankEvents.read(Account.streamName("ada")))
  return {
    tellers,
    balances: balances.map(({ id, value }) => ({ id, ...value })),
    adaHistory: history.map(({ event, schemaVersion, version }) =>
      `#${version} ${event._tag}${"amount" in event ? ` ${event.amount}` : ""} (stored as v${schemaVersion})${
        event._tag === "MoneyDeposited" && schemaVersion < 2 ? `, upcast to v2: currency ${event.currency}` : ""
      }`
    ),
    events: target
  }
})

const print = (summary: Effect.Success<typeof program>) => {
  console.log("Tellers withdrawing 40 from Ada at the same time:", summary.tellers.join(", "))
  console.log("\nBalances (projected live into the DocumentStore):")
  for (const row of summary.balances) {
    console.log(`  ${row.owner.padEnd(14)} ${String(row.balance).padStart(6)} EUR  (${row.transactions} transactions)`)
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
    program.pipe(Effect.map(print), Effect.provide(SqliteStore.layer({ filename: ".strata/bank.db" })))
  )
}
