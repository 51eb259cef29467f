// The README's quick start, verbatim (examples/test/examples.test.ts runs it; so does the tarball
// test, outside the workspace, on memory: and SQLite).
import { NodeRuntime } from "@effect/platform-node"
import { EventCodec, ExpectedVersion, Store, Strata } from "@strata/strata"
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

// EventStore and DocumentStore, both with retry, metrics and spans (Store.layer). STRATA_URL picks
// the backend: memory: (the default here), sqlite:./app.db, postgres://user:password@host/db.
export const StoreLive = Store.layer(Strata.layerConfig({ defaultUrl: "memory:" }))

if (import.meta.main) NodeRuntime.runMain(program.pipe(Effect.tap(Effect.log), Effect.provide(StoreLive)))
