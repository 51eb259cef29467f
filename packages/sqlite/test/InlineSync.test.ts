// Inline projections on SQLite's synchronous append: a single-stream append that an inline projection
// acts on runs it inside the one synchronous write (no `sql.transaction` span, no document spans),
// reading and writing its documents with statements on the same connection: one read and one guarded
// write per document, several documents in one read, versions counted per append as on the
// transactional path, and a failure leaves neither events nor documents. What cannot run there takes
// the transaction (the span shows it): a projection whose schema is asynchronous, and the first write
// of a collection with declared indexes (which makes them). A stored document that no longer decodes
// fails the append typed on the synchronous path. The conformance suite runs every inline topic over
// both paths.
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventCodec, EventStore, ExpectedVersion, Projection } from "@strata/core"
import { SqliteClient, SqliteStore } from "@strata/sqlite"
import { recordingTracer, spanNames } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Stream from "effect/Stream"

const Deposited = EventCodec.type("Deposited", {
  schema: Schema.Struct({ account: Schema.String, amount: Schema.Number })
})
const Account = EventCodec.make([Deposited])
const Balance = Schema.Struct({ balance: Schema.Finite, deposits: Schema.Number })

// One document per account named in the event: an append may touch several.
const Balances = DocumentStore.collection("balances", Balance)
const balances = Projection.multiStream({
  name: "balances",
  collection: Balances,
  events: Account,
  id: (event) => event.event.account,
  evolve: (current, { event }) => ({
    balance: (current?.balance ?? 0) + event.amount,
    deposits: (current?.deposits ?? 0) + 1
  })
})

// The same fold into a collection with a declared index.
const Indexed = DocumentStore.collection("indexed_balances", Balance, { indexes: ["balance"] })
const Noted = EventCodec.type("Noted", { schema: Schema.Struct({ account: Schema.String, amount: Schema.Number }) })
const indexed = Projection.multiStream({
  name: "indexed",
  collection: Indexed,
  events: EventCodec.make([Noted]),
  id: (event) => event.event.account,
  evolve: (current, { event }) => ({
    balance: (current?.balance ?? 0) + event.amount,
    deposits: (current?.deposits ?? 0) + 1
  })
})

// A document schema that encodes and decodes asynchronously.
const Later = Schema.Number.pipe(Schema.decodeTo(Schema.Number, {
  decode: SchemaGetter.transformEffect((value: number) => Effect.promise(() => Promise.resolve(value))),
  encode: SchemaGetter.transformEffect((value: number) => Effect.promise(() => Promise.resolve(value)))
}))
const Ticked = EventCodec.type("Ticked", { schema: Schema.Struct({}) })
const Ticks = DocumentStore.collection("ticks", Schema.Struct({ ticks: Later }))
const ticking = Projection.singleStream({
  name: "ticking",
  collection: Ticks,
  events: EventCodec.make([Ticked]),
  evolve: (current) => ({ ticks: (current?.ticks ?? 0) + 1 })
})

const store = SqliteStore.layer({ filename: ":memory:", projections: [balances, indexed, ticking] })

const deposit = (account: string, amount: number) => Event.make(Deposited.name, { account, amount })

const documents = <A, I>(collection: DocumentStore.Collection<A, I>) =>
  Effect.flatMap(DocumentStore.DocumentStore, (docs) =>
    Effect.map(
      Stream.runCollect(docs.find(collection)),
      (found) => Object.fromEntries(found.map((d) => [d.id, { value: d.value, version: d.version }]))
    ))

const count = (stream: string) =>
  Effect.flatMap(
    EventStore.EventStore,
    (events) => Effect.map(Stream.runCollect(events.read(stream)), (read) => read.length)
  )

describe("SQLite inline projections on the synchronous append", () => {
  it.effect("a projected append runs in the synchronous write: documents up to date, one version per append", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      const first = yield* spanNames(events.append("acct-1", [deposit("a", 5), deposit("b", 1), deposit("a", 2)]))
      assert.notInclude(first, "sql.transaction")
      assert.notInclude(first, "strata.document.getMany")
      // Some documents stored, some new: one read of all of them, a guarded write each.
      const second = yield* spanNames(
        events.append("acct-1", [deposit("b", 3), deposit("c", 4)], { expected: ExpectedVersion.exact(2n) })
      )
      assert.notInclude(second, "sql.transaction")
      assert.deepStrictEqual(yield* documents(Balances), {
        a: { value: { balance: 7, deposits: 2 }, version: 1n },
        b: { value: { balance: 4, deposits: 2 }, version: 2n },
        c: { value: { balance: 4, deposits: 1 }, version: 1n }
      })
      assert.strictEqual(yield* count("acct-1"), 5)
    }).pipe(Effect.provide(store)))

  it.effect("a failing projection on the synchronous write leaves neither events nor documents", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      yield* events.append("acct-2", [deposit("x", 1e308), deposit("y", 1)])
      const before = yield* documents(Balances)
      // x's balance becomes Infinity, which Schema.Finite refuses to store; y's write comes first.
      const error = yield* Effect.flip(events.append("acct-2", [deposit("y", 1), deposit("x", 1e308)]))
      assert.strictEqual(error._tag, "ProjectionFailed")
      assert.deepStrictEqual(yield* documents(Balances), before)
      assert.strictEqual(yield* count("acct-2"), 2)
      // The stream takes its next event as if nothing had happened.
      yield* events.append("acct-2", [deposit("y", 1)], { expected: ExpectedVersion.exact(1n) })
      assert.deepStrictEqual((yield* documents(Balances)).y, { value: { balance: 2, deposits: 2 }, version: 2n })
    }).pipe(Effect.provide(store)))

  it.effect("a stored document that no longer decodes fails the append with ProjectionFailed, writing nothing", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      const docs = yield* DocumentStore.DocumentStore
      // Written through a looser schema under the same collection name.
      yield* docs.put(DocumentStore.collection("balances", Schema.Unknown), "z", { balance: "lots" })
      const error = yield* Effect.flip(events.append("acct-3", [deposit("z", 1)]))
      assert.strictEqual(error._tag, "ProjectionFailed")
      if (error._tag === "ProjectionFailed") {
        assert.strictEqual((error.cause as { readonly _tag?: string })._tag, "InvalidDocument")
      }
      assert.strictEqual(yield* count("acct-3"), 0)
    }).pipe(Effect.provide(store)))

  it.effect("a projection whose schema is asynchronous takes the transaction: written once, as there", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      const docs = yield* DocumentStore.DocumentStore
      const names = yield* spanNames(events.append("tick-1", [Event.make(Ticked.name, {})]))
      assert.include(names, "sql.transaction")
      yield* events.append("tick-1", [Event.make(Ticked.name, {}), Event.make(Ticked.name, {})])
      assert.strictEqual(yield* count("tick-1"), 3)
      assert.deepStrictEqual(
        Option.map(yield* docs.get(Ticks, "tick-1"), (d) => [d.value.ticks, d.version]),
        Option.some([3, 2n])
      )
    }).pipe(Effect.provide(store)))

  it.effect("a collection with declared indexes: the first write makes them on the transaction, later ones do not", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      const client = yield* SqliteClient.SqliteClient
      const note = (account: string, amount: number) => Event.make(Noted.name, { account, amount })
      const first = yield* spanNames(events.append("note-1", [note("a", 1)]))
      assert.include(first, "sql.transaction")
      const made = yield* client<{ readonly name: string }>`SELECT name FROM sqlite_master
        WHERE type = 'index' AND tbl_name = 'strata_documents' AND name LIKE 'strata_doc_indexed_balances%'`
      assert.strictEqual(made.length, 1)
      const second = yield* spanNames(events.append("note-1", [note("a", 2)]))
      assert.notInclude(second, "sql.transaction")
      assert.deepStrictEqual((yield* documents(Indexed)).a, { value: { balance: 3, deposits: 2 }, version: 2n })
    }).pipe(Effect.provide(store)))

  it.effect("the append's span records that its inline projections ran in the synchronous write", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      const { started, tracer } = recordingTracer()
      yield* Effect.withTracer(events.append("acct-4", [deposit("q", 1)]), tracer)
      const append = started.find((span) => span.name === "strata.append")
      assert.isDefined(append)
      assert.strictEqual(append!.attributes.get("strata.inline"), "synchronous")
    }).pipe(Effect.provide(store)))
})
