import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventStore } from "@strata/core"
import { Expectation, ProjectionSpec, TestStore } from "@strata/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  AccountEvents,
  Balances,
  balancesProjection,
  Deposited,
  InsufficientFunds,
  Opened,
  projectBalances,
  Withdrawn
} from "./fixtures.ts"

const failure = <R>(scenario: Effect.Effect<void, Expectation.ExpectationFailed, R>) =>
  Effect.map(Effect.flip(scenario), (error) => {
    assert.strictEqual(error._tag, "ExpectationFailed")
    return error
  })

for (const [name, store] of TestStore.all) {
  describe(`ProjectionSpec (${name})`, () => {
    const spec = ProjectionSpec.make(projectBalances, { codec: AccountEvents, store: store() })
    const history = [
      { stream: "account-1", events: [Opened.make({ owner: "Ada" }), Deposited.make({ amount: 10 })] },
      { stream: "account-2", events: [Opened.make({ owner: "Alan" })] },
      { stream: "account-1", events: [Withdrawn.make({ amount: 4 })] }
    ]

    it.effect("then: the collection holds exactly these documents", () =>
      spec.given(history).then(Balances, [
        { id: "2", value: { owner: "Alan", balance: 0 } },
        { id: "1", value: { owner: "Ada", balance: 6 } }
      ]))

    it.effect("then fails on a wrong value, a missing document or an extra one", () =>
      Effect.gen(function*() {
        const wrong = yield* failure(
          spec.given(history).then(Balances, [
            { id: "1", value: { owner: "Ada", balance: 10 } },
            { id: "2", value: { owner: "Alan", balance: 0 } }
          ])
        )
        assert.include(wrong.message, "the documents of balances")
        const extra = yield* failure(
          spec.given(history).then(Balances, [{ id: "1", value: { owner: "Ada", balance: 6 } }])
        )
        assert.strictEqual((extra.actual as ReadonlyArray<unknown>).length, 2)
      }))

    it.effect("thenDocument and thenMissing", () =>
      Effect.gen(function*() {
        yield* spec.given(history).thenDocument(Balances, "1", { owner: "Ada", balance: 6 })
        yield* spec.given(history).thenMissing(Balances, "3")
        const missing = yield* failure(spec.given(history).thenDocument(Balances, "3", { owner: "?", balance: 0 }))
        assert.include(missing.message, "does not exist")
        const present = yield* failure(spec.given(history).thenMissing(Balances, "1"))
        assert.include(present.message, "exists")
      }))

    it.effect("thenFails: the projection's error; a document check fails when the projection does", () =>
      Effect.gen(function*() {
        const overdrawn = [{
          stream: "account-9",
          events: [Opened.make({ owner: "Eve" }), Withdrawn.make({ amount: 1 })]
        }]
        yield* spec.given(overdrawn).thenFails(new InsufficientFunds({ balance: -1 }))
        const error = yield* failure(spec.given(overdrawn).thenMissing(Balances, "1"))
        assert.include(error.message, "the projection failed")
        const handledAll = yield* failure(spec.given(history).thenFails())
        assert.include(handledAll.message, "handled every event")
      }))

    it.effect("a consumer's { filter, handler } is given only the events its filter selects", () =>
      Effect.gen(function*() {
        const foreign = [
          { stream: "audit-1", events: [Opened.make({ owner: "not an account" })] },
          { stream: "account-1", events: [Opened.make({ owner: "Ada" })] }
        ]
        yield* ProjectionSpec.make(balancesProjection, { codec: AccountEvents, store: store() }).given(foreign)
          .then(Balances, [{ id: "1", value: { owner: "Ada", balance: 0 } }])
        // The bare handler is given the audit event too, and cannot file it under an account id.
        yield* spec.given(foreign).then(Balances, [{ id: "1", value: { owner: "Ada", balance: 0 } }]).pipe(
          Effect.flip,
          Effect.map((error) => assert.include(error.message, "the projection failed on a given event"))
        )
      }))

    it.effect("a raw handler over untyped events; events it appends carry the handled event as cause", () =>
      Effect.gen(function*() {
        const Causes = DocumentStore.collection("causes", Schema.Struct({ causationId: Schema.Unknown }))
        // Reacts to a Ping by appending a Pong, and records the Pong's causation id as stored.
        const handler = (event: Event.RecordedEvent) =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const docs = yield* DocumentStore.DocumentStore
            yield* store.append("pong-1", [Event.make("Pong", {})])
            const [pong] = yield* Stream.runCollect(store.read("pong-1", { direction: "backwards", limit: 1 }))
            yield* docs.put(Causes, event.type, { causationId: pong.metadata.causationId })
          })
        const raw = ProjectionSpec.make(handler, { store: store() })
        const pingId = "0190a5d2-0000-7000-8000-0000000000aa"
        yield* raw.given([{ stream: "ping-1", events: [{ id: pingId, type: "Ping", data: {} }] }])
          .thenDocument(Causes, "Ping", { causationId: pingId })
      }))
  })
}
