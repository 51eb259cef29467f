import { Aggregate, DocumentStore, EventCodec } from "@strata/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

export const Opened = EventCodec.type("Opened", { schema: Schema.Struct({ owner: Schema.String }) })
export const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Finite }) })
export const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Finite }) })
export const AccountEvents = EventCodec.make([Opened, Deposited, Withdrawn])

export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly balance: number }> {}
export class NotOpen extends Data.TaggedError("NotOpen")<{}> {}

export type AccountCommand =
  | { readonly _tag: "Open"; readonly owner: string }
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

interface State {
  readonly open: boolean
  readonly balance: number
}

export const Account = Aggregate.make({
  category: "account",
  codec: AccountEvents,
  initial: { open: false, balance: 0 } as State,
  evolve: (state, event): State => {
    switch (event._tag) {
      case "Opened":
        return { ...state, open: true }
      case "Deposited":
        return { ...state, balance: state.balance + event.amount }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.amount }
    }
  },
  decide: (command: AccountCommand, state) => {
    switch (command._tag) {
      case "Open":
        return state.open ? [] : [Opened.make({ owner: command.owner })]
      case "Deposit":
        return state.open ? [Deposited.make({ amount: command.amount })] : Effect.fail(new NotOpen())
      case "Withdraw":
        return !state.open
          ? Effect.fail(new NotOpen())
          : state.balance < command.amount
          ? Effect.fail(new InsufficientFunds({ balance: state.balance }))
          : [Withdrawn.make({ amount: command.amount })]
    }
  }
})

export const Balances = DocumentStore.collection(
  "balances",
  Schema.Struct({ owner: Schema.String, balance: Schema.Finite })
)

/** A projection of balances, keyed by account id: a consumer's filter and handler. */
export const balancesProjection = Account.consumer((decoded, id) =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    const current = Option.getOrUndefined(yield* docs.get(Balances, id))
    const before = current?.value ?? { owner: "?", balance: 0 }
    const event = decoded.event
    const after = event._tag === "Opened"
      ? { ...before, owner: event.owner }
      : { ...before, balance: before.balance + (event._tag === "Deposited" ? event.amount : -event.amount) }
    if (after.balance < 0) return yield* Effect.fail(new InsufficientFunds({ balance: after.balance }))
    yield* docs.put(Balances, id, after, { expected: current === undefined ? "missing" : current.version })
  })
)

export const projectBalances = balancesProjection.handler
