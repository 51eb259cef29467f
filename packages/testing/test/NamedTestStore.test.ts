// The testing kit on a named store: scenarios run through `Orders.layer` + `Orders.unnamed`, a fresh
// store each, and code that asks for the store by name sees the same events as the aggregate.
import { assert, describe, it } from "@effect/vitest"
import { Store } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import { DeciderSpec, NamedTestStore } from "@strata/testing"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Account, Deposited, Opened } from "./fixtures.ts"

const Orders = Store.tag("orders")

for (
  const [name, backend] of [
    ["memory", undefined],
    ["sqlite :memory:", SqliteStore.layer({ filename: ":memory:" })]
  ] as const
) {
  describe(`NamedTestStore (${name})`, () => {
    const spec = DeciderSpec.make(Account, { store: NamedTestStore.make(Orders, backend) })

    it.effect("given / when / then on a named store", () =>
      spec.given([Opened.make({ owner: "ada" })]).when({ _tag: "Deposit", amount: 5 }).then([
        Deposited.make({ amount: 5 })
      ]))

    it.effect("provided by name and unnamed: the aggregate (unnamed EventStore) writes into the named store", () =>
      Effect.gen(function*() {
        const orders = yield* Orders.EventStore
        assert.strictEqual(yield* Stream.runCount(orders.readAll()), 0)
        yield* Account.decide("1", { _tag: "Open", owner: "ada" })
        const types = yield* Stream.runCollect(orders.read("account-1"))
        assert.deepStrictEqual(types.map((event) => event.type), ["Opened"])
      }).pipe(Effect.provide(NamedTestStore.make(Orders, backend))))
  })
}
