import { assert, describe, it } from "@effect/vitest"
import { Aggregate, Event, EventCodec, EventStore, ExpectedVersion, MemoryStore } from "@strata/core"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Number }) })
const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Number }) })
const AccountEvents = EventCodec.make([Deposited, Withdrawn])
type AccountEvent = EventCodec.Type<typeof AccountEvents>

const AccountState = Schema.Struct({ balance: Schema.Number })
type AccountState = typeof AccountState.Type

class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly balance: number }> {}

// Counts evolve calls, to see how many events a load folded.
const makeAccount = (snapshot?: Aggregate.SnapshotOptions<AccountState>) => {
  const counter = { evolved: 0 }
  const options = {
    codec: AccountEvents,
    initial: { balance: 0 } as AccountState,
    evolve: (state: AccountState, event: AccountEvent): AccountState => {
      counter.evolved++
      switch (event._tag) {
        case "Deposited":
          return { balance: state.balance + event.amount }
        case "Withdrawn":
          return { balance: state.balance - event.amount }
      }
    },
    snapshot
  }
  return { options, counter }
}

const withdraw = (amount: number) => (state: AccountState) =>
  state.balance >= amount
    ? Effect.succeed([Withdrawn.make({ amount })])
    : Effect.fail(new InsufficientFunds({ balance: state.balance }))

const deposit = (amount: number) => () => Effect.succeed([Deposited.make({ amount })])

describe("Aggregate", () => {
  it.effect("decides on a fresh stream with noStream, then with the exact version", () =>
    Effect.gen(function*() {
      const { options } = makeAccount()
      const first = yield* Aggregate.decide("account-1", { ...options, decide: deposit(100) })
      assert.deepStrictEqual(
        [first.state, first.version, first.snapshotVersion, first.events],
        [{ balance: 100 }, 0n, undefined, [{ _tag: "Deposited", amount: 100 }]]
      )
      const second = yield* Aggregate.decide("account-1", { ...options, decide: withdraw(30) })
      assert.deepStrictEqual([second.state, second.version], [{ balance: 70 }, 1n])
      const nothing = yield* Aggregate.decide("account-1", { ...options, decide: () => Effect.succeed([]) })
      assert.deepStrictEqual([nothing.state, nothing.version, nothing.events, nothing.position], [
        { balance: 70 },
        1n,
        [],
        undefined
      ])
      const loaded = yield* Aggregate.load("account-1", options)
      assert.deepStrictEqual([loaded.state, loaded.version], [{ balance: 70 }, 1n])
      const missing = yield* Aggregate.load("account-none", options)
      assert.deepStrictEqual([missing.state, missing.version], [{ balance: 0 }, undefined])
      // The events carry their schema version.
      const store = yield* EventStore.EventStore
      const raw = yield* Stream.runCollect(store.read("account-1"))
      assert.deepStrictEqual(raw.map((e) => e.metadata.schemaVersion), [1, 1])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a decision that loses a race to a concurrent writer decides again on the new state", () =>
    Effect.gen(function*() {
      const { options } = makeAccount()
      yield* Aggregate.decide("account-2", { ...options, decide: deposit(100) })
      const aLoaded = yield* Deferred.make<void>()
      const bDone = yield* Deferred.make<void>()
      const seenByA: Array<number> = []
      const a = yield* Aggregate.decide("account-2", {
        ...options,
        decide: (state) =>
          Effect.gen(function*() {
            seenByA.push(state.balance)
            if (seenByA.length === 1) {
              // Hold A between its load and its append until B has written.
              yield* Deferred.succeed(aLoaded, undefined)
              yield* Deferred.await(bDone)
            }
            return yield* withdraw(70)(state)
          })
      }).pipe(Effect.forkChild)
      yield* Deferred.await(aLoaded)
      const b = yield* Aggregate.decide("account-2", { ...options, decide: withdraw(20) })
      assert.deepStrictEqual([b.state, b.version], [{ balance: 80 }, 1n])
      yield* Deferred.succeed(bDone, undefined)
      const result = yield* Fiber.join(a)
      assert.deepStrictEqual(seenByA, [100, 80])
      assert.deepStrictEqual([result.state, result.version], [{ balance: 10 }, 2n])
      const store = yield* EventStore.EventStore
      const events = yield* Stream.runCollect(AccountEvents.read("account-2"))
      assert.deepStrictEqual(events.map((e) => [e.version, e.event]), [
        [0n, { _tag: "Deposited", amount: 100 }],
        [1n, { _tag: "Withdrawn", amount: 20 }],
        [2n, { _tag: "Withdrawn", amount: 70 }]
      ])
      assert.strictEqual((yield* store.streamInfo("account-2")).lastVersion, 2n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("after a conflict the decision's own failure is final and not retried", () =>
    Effect.gen(function*() {
      const { options } = makeAccount()
      yield* Aggregate.decide("account-3", { ...options, decide: deposit(100) })
      const aLoaded = yield* Deferred.make<void>()
      const bDone = yield* Deferred.make<void>()
      let calls = 0
      const a = yield* Aggregate.decide("account-3", {
        ...options,
        decide: (state) =>
          Effect.gen(function*() {
            calls++
            if (calls === 1) {
              yield* Deferred.succeed(aLoaded, undefined)
              yield* Deferred.await(bDone)
            }
            return yield* withdraw(70)(state)
          })
      }).pipe(Effect.flip, Effect.forkChild)
      yield* Deferred.await(aLoaded)
      yield* Aggregate.decide("account-3", { ...options, decide: withdraw(50) })
      yield* Deferred.succeed(bDone, undefined)
      const error = yield* Fiber.join(a)
      assert.strictEqual(error._tag, "InsufficientFunds")
      assert.deepStrictEqual(error, new InsufficientFunds({ balance: 50 }))
      assert.strictEqual(calls, 2)
      const loaded = yield* Aggregate.load("account-3", options)
      assert.deepStrictEqual([loaded.state, loaded.version], [{ balance: 50 }, 1n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("gives up with WrongExpectedVersion when the schedule is exhausted", () =>
    Effect.gen(function*() {
      const { options } = makeAccount()
      const store = yield* EventStore.EventStore
      let calls = 0
      const error = yield* Aggregate.decide("account-4", {
        ...options,
        schedule: Schedule.recurs(2),
        decide: () =>
          Effect.gen(function*() {
            calls++
            // Another writer always gets in between the load and the append.
            yield* store.append("account-4", [Event.make("Deposited", { amount: 1 })]).pipe(Effect.orDie)
            return [Deposited.make({ amount: 5 })]
          })
      }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "WrongExpectedVersion")
      assert.strictEqual(calls, 3)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a WrongExpectedVersion raised by the decision itself is not retried", () =>
    Effect.gen(function*() {
      const { options } = makeAccount()
      const store = yield* EventStore.EventStore
      let calls = 0
      const error = yield* Aggregate.decide("account-5", {
        ...options,
        decide: () =>
          Effect.gen(function*() {
            calls++
            yield* store.append("elsewhere-1", [Event.make("X", {})], { expected: ExpectedVersion.exact(7) })
            return [Deposited.make({ amount: 5 })]
          })
      }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "WrongExpectedVersion")
      if (error._tag === "WrongExpectedVersion") assert.strictEqual(error.stream, "elsewhere-1")
      assert.strictEqual(calls, 1)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("snapshots every N events and loads from the snapshot", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const { counter, options } = makeAccount({ schema: AccountState, version: 1, every: 3 })
      const snapshotVersions: Array<bigint | undefined> = []
      for (let amount = 1; amount <= 7; amount++) {
        const decided = yield* Aggregate.decide("account-6", { ...options, decide: deposit(amount) })
        snapshotVersions.push(decided.snapshotVersion)
      }
      // A snapshot at version 2 (3 events), then at version 5 (3 more).
      assert.deepStrictEqual(snapshotVersions, [undefined, undefined, undefined, 2n, 2n, 2n, 5n])
      const snapshot = yield* store.loadSnapshot("account-6")
      assert.isTrue(Option.isSome(snapshot))
      if (Option.isSome(snapshot)) {
        assert.deepStrictEqual([snapshot.value.version, snapshot.value.schemaVersion, snapshot.value.state], [
          5n,
          1,
          { balance: 1 + 2 + 3 + 4 + 5 + 6 }
        ])
      }
      // Hide everything the snapshot covers: only the snapshot can explain the balance now.
      yield* store.setRetention("account-6", { truncateBefore: 6n })
      counter.evolved = 0
      const loaded = yield* Aggregate.load("account-6", options)
      assert.deepStrictEqual([loaded.state, loaded.version, loaded.snapshotVersion], [{ balance: 28 }, 6n, 5n])
      assert.strictEqual(counter.evolved, 1)
      // Without the snapshot, the fold sees only the visible event.
      const { options: plain } = makeAccount()
      assert.deepStrictEqual((yield* Aggregate.load("account-6", plain)).state, { balance: 7 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("ignores a snapshot of another state version, or one that no longer decodes", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const v1 = makeAccount({ schema: AccountState, version: 1, every: 2 })
      for (let amount = 1; amount <= 4; amount++) {
        yield* Aggregate.decide("account-7", { ...v1.options, decide: deposit(amount) })
      }
      const saved = yield* store.loadSnapshot("account-7")
      assert.deepStrictEqual(Option.getOrUndefined(Option.map(saved, (s) => [s.version, s.schemaVersion])), [3n, 1])

      v1.counter.evolved = 0
      assert.strictEqual((yield* Aggregate.load("account-7", v1.options)).snapshotVersion, 3n)
      assert.strictEqual(v1.counter.evolved, 0)

      // The state shape changed and its version was bumped: the old snapshot is ignored.
      const v2 = makeAccount({ schema: AccountState, version: 2, every: 2 })
      const loaded = yield* Aggregate.load("account-7", v2.options)
      assert.deepStrictEqual([loaded.state, loaded.version, loaded.snapshotVersion], [{ balance: 10 }, 3n, undefined])
      assert.strictEqual(v2.counter.evolved, 4)

      // The next decision replaces it with a snapshot of the new version.
      yield* Aggregate.decide("account-7", { ...v2.options, decide: deposit(5) })
      const replaced = yield* store.loadSnapshot("account-7")
      assert.deepStrictEqual(
        Option.getOrUndefined(Option.map(replaced, (s) => [s.version, s.schemaVersion, s.state])),
        [
          4n,
          2,
          { balance: 15 }
        ]
      )

      // Same version, but the schema no longer matches what was saved: ignored too.
      const Renamed = Schema.Struct({ funds: Schema.Number })
      const renamed = {
        codec: AccountEvents,
        initial: { funds: 0 },
        evolve: (state: typeof Renamed.Type, event: AccountEvent) => ({
          funds: state.funds + (event._tag === "Deposited" ? event.amount : -event.amount)
        }),
        snapshot: { schema: Renamed, version: 2 }
      }
      const fromEvents = yield* Aggregate.load("account-7", renamed)
      assert.deepStrictEqual([fromEvents.state, fromEvents.snapshotVersion], [{ funds: 15 }, undefined])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a decode error fails the load instead of skipping the event", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const { options } = makeAccount()
      yield* store.append("account-8", [Event.make("Deposited", { amount: "lots" })])
      const error = yield* Effect.flip(Aggregate.decide("account-8", { ...options, decide: deposit(1) }))
      assert.strictEqual(error._tag, "EventDecodeError")
      assert.strictEqual((yield* store.streamInfo("account-8")).lastVersion, 0n)
    }).pipe(Effect.provide(MemoryStore.layer())))
})

type AccountCommand =
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

const makeDefinition = (snapshot?: Aggregate.SnapshotOptions<AccountState>) => {
  const { counter, options } = makeAccount(snapshot)
  const Account = Aggregate.make({
    ...options,
    category: "account",
    decide: (command: AccountCommand, state: AccountState) =>
      command._tag === "Deposit"
        ? [Deposited.make({ amount: command.amount })]
        : withdraw(command.amount)(state)
  })
  return { Account, counter }
}

describe("Aggregate.make", () => {
  it.effect("names instance streams <category>-<id>, decides on them and loads them back", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      assert.strictEqual(Account.streamName("a-1"), "account-a-1")
      assert.strictEqual(Account.idOf("account-a-1"), "a-1")
      assert.strictEqual(Account.idOf("cart-1"), undefined)
      assert.strictEqual(Account.idOf("account-"), undefined)
      const first = yield* Account.decide("a-1", { _tag: "Deposit", amount: 100 })
      const second = yield* Account.decide("a-1", { _tag: "Withdraw", amount: 30 })
      assert.deepStrictEqual([first.version, second.state, second.version], [0n, { balance: 70 }, 1n])
      const stored = yield* Stream.runCollect(AccountEvents.read("account-a-1"))
      assert.deepStrictEqual(stored.map((d) => d.event), [
        Deposited.make({ amount: 100 }),
        Withdrawn.make({ amount: 30 })
      ])
      const loaded = yield* Account.load("a-1")
      assert.deepStrictEqual([loaded.state, loaded.version], [{ balance: 70 }, 1n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a rejected command appends nothing and fails with the decision's error", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      yield* Account.decide("a-2", { _tag: "Deposit", amount: 10 })
      const error = yield* Effect.flip(Account.decide("a-2", { _tag: "Withdraw", amount: 30 }))
      assert.deepStrictEqual(error, new InsufficientFunds({ balance: 10 }))
      const store = yield* EventStore.EventStore
      assert.strictEqual((yield* store.streamInfo("account-a-2")).lastVersion, 0n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("decide gets the instance id as its last argument, so its errors can name it", () =>
    Effect.gen(function*() {
      class Overdrawn extends Data.TaggedError("Overdrawn")<{ readonly account: string; readonly balance: number }> {}
      const { options } = makeAccount()
      const seen: Array<string> = []
      const Account = Aggregate.make({
        ...options,
        category: "account",
        decide: (command: AccountCommand, state: AccountState, _loaded: Aggregate.Loaded<AccountState>, id: string) => {
          seen.push(id)
          return command._tag === "Deposit"
            ? [Deposited.make({ amount: command.amount })]
            : state.balance >= command.amount
            ? Effect.succeed([Withdrawn.make({ amount: command.amount })])
            : Effect.fail(new Overdrawn({ account: id, balance: state.balance }))
        }
      })
      yield* Account.decide("b-1", { _tag: "Deposit", amount: 10 })
      const error = yield* Effect.flip(Account.decide("b-1", { _tag: "Withdraw", amount: 30 }))
      assert.deepStrictEqual(error, new Overdrawn({ account: "b-1", balance: 10 }))
      yield* Account.decide("b-2", { _tag: "Deposit", amount: 5 })
      assert.deepStrictEqual(seen, ["b-1", "b-1", "b-2"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a command that loses a race decides again on the new state", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      yield* Account.decide("a-3", { _tag: "Deposit", amount: 50 })
      const results = yield* Effect.forEach(
        [1, 2],
        () => Effect.result(Account.decide("a-3", { _tag: "Withdraw", amount: 30 })),
        { concurrency: "unbounded" }
      )
      const refused = results.filter((r) => r._tag === "Failure")
      assert.strictEqual(refused.length, 1, "one withdrawal is refused after re-reading the balance")
      assert.deepStrictEqual((yield* Account.load("a-3")).state, { balance: 20 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("uses its snapshot policy for load and decide", () =>
    Effect.gen(function*() {
      const { Account, counter } = makeDefinition({ schema: AccountState, every: 2 })
      for (let i = 0; i < 3; i++) yield* Account.decide("a-4", { _tag: "Deposit", amount: 1 })
      const store = yield* EventStore.EventStore
      assert.isTrue(Option.isSome(yield* store.loadSnapshot("account-a-4")))
      counter.evolved = 0
      const loaded = yield* Account.load("a-4")
      assert.deepStrictEqual([loaded.state, loaded.snapshotVersion], [{ balance: 3 }, 1n])
      assert.strictEqual(counter.evolved, 1, "only the event after the snapshot is folded")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("an empty id is InvalidStreamName, not a stream named after the category", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      const error = yield* Effect.flip(Account.decide("", { _tag: "Deposit", amount: 1 }))
      assert.strictEqual(error._tag, "InvalidStreamName")
      assert.strictEqual((yield* Effect.flip(Account.load("")))._tag, "InvalidStreamName")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it("refuses a category with '-' or that is not a stream name", () => {
    const { options } = makeAccount()
    const decide = () => []
    assert.throws(() => Aggregate.make({ ...options, category: "bank-account", decide }), /contains "-"/)
    assert.throws(() => Aggregate.make({ ...options, category: "", decide }), /not valid/)
    assert.throws(() => Aggregate.make({ ...options, category: "$system", decide }), /not valid/)
  })

  it.effect("its filter and consumer handler select and decode exactly its own events", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      assert.deepStrictEqual(Account.filter, { categories: ["account"], types: ["Deposited", "Withdrawn"] })
      const store = yield* EventStore.EventStore
      yield* Account.decide("a-5", { _tag: "Deposit", amount: 5 })
      // Same types in another category, and another type in this category: neither is selected.
      yield* store.append("cart-1", [Event.make("Deposited", { amount: 1 })])
      yield* store.append("account-a-5", [Event.make("Audited", {})])
      yield* Account.decide("a-6", { _tag: "Deposit", amount: 6 })
      const seen: Array<[string, number]> = []
      const { filter, handler } = Account.consumer((decoded, id) =>
        Effect.sync(() => seen.push([id, decoded.event.amount]))
      )
      yield* Stream.runForEach(store.readAll({ filter }), handler)
      assert.deepStrictEqual(seen, [["a-5", 5], ["a-6", 6]])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("events a command appends while handling an event carry its causation", () =>
    Effect.gen(function*() {
      const { Account } = makeDefinition()
      const cause = { id: "0190a5d2-0000-7000-8000-000000000001", metadata: { correlationId: "c-1" } }
      yield* Account.decide("a-7", { _tag: "Deposit", amount: 5 }, { metadata: { tenant: "t" } }).pipe(
        Event.causedBy(cause)
      )
      const [event] = yield* Stream.runCollect(AccountEvents.read("account-a-7"))
      assert.strictEqual(event.metadata.causationId, cause.id)
      assert.strictEqual(event.metadata.correlationId, "c-1")
      assert.strictEqual(event.metadata.tenant, "t")
    }).pipe(Effect.provide(MemoryStore.layer())))
})
