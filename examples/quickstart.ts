// The README's quick start, verbatim (examples/test/examples.test.ts runs it).
import { EventCodec, ExpectedVersion, MemoryStore, Store } from "@strata/core"
import { Effect, Fiber, Schema, Stream } from "effect"

const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Finite }) })
const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Finite }) })
const Account = EventCodec.make([Deposited, Withdrawn])

export const program = Effect.gen(function*() {
  const live = yield* Account.subscribe("account-1").pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
  yield* Account.append("account-1", [Deposited.make({ amount: 100 }), Withdrawn.make({ amount: 30 })], {
    expected: ExpectedVersion.noStream
  })
  yield* Account.append("account-1", [Deposited.make({ amount: 5 })], { expected: ExpectedVersion.exact(1) })
  const history = yield* Stream.runCollect(Account.read("account-1"))
  const balance = history.reduce(
    (sum, { event }) => sum + (event._tag === "Deposited" ? event.amount : -event.amount),
    0
  )
  return { balance, delivered: (yield* Fiber.join(live)).map(({ event }) => event._tag) }
})

// EventStore and DocumentStore, both with retry, metrics and spans. Swap MemoryStore.layer() for
// SqliteStore.layer({ filename: "app.db" }) or PgStore.layer({ url }): nothing else changes.
export const StoreLive = Store.layer(MemoryStore.layer())

if (import.meta.main) Effect.runPromise(program.pipe(Effect.provide(StoreLive))).then(console.log)
