/**
 * Inline projections: registered with the store layer, they run inside the append's transaction. The
 * document is up to date when the append returns; a failing projection fails the append with
 * `ProjectionFailed` and leaves neither event nor document (and subscribers see nothing), whether it
 * refuses (an invalid document) or throws (a bug in `evolve`); appendMany,
 * `put` with events and units of work run them too, and roll them back with everything else;
 * concurrent appends that update one document all land.
 *
 * The store must be built with the projections, so this topic takes a function from projections to
 * the backend's layer (`suite` registers it when given one). A backend whose record cannot run work
 * inside an append (no `beforeCommit`: D1, KurrentDB) must refuse them with `Unsupported`.
 *
 * @since 0.1.0
 */
import { assert, describe, it as vitestIt, layer } from "@effect/vitest"
import { DocumentStore, Event, EventCodec, EventStore, ExpectedVersion, Projection, UnitOfWork } from "@strata/core"
import { Backend } from "@strata/core/backend"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import { bank, documents } from "./internal/bank.ts"
import { collect, failsWith, hex, names, readStream } from "./internal/fixtures.ts"
import { fromBackend, resolve, type ResolvedOptions, type Services, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface InlineProjectionOptions extends SuiteOptions {}

/**
 * Registers the inline-projection topic for a backend, given its layer with inline projections.
 * Whether the backend runs them is read from its record (`Backend.beforeCommit`, with no projections
 * given); where it cannot, the suite checks that the layer refuses them with `Unsupported`.
 *
 * @example
 * ```ts
 * import { inlineProjectionSuite } from "@strata/conformance"
 * import { SqliteStore } from "@strata/sqlite"
 *
 * inlineProjectionSuite("sqlite", (projections) => SqliteStore.layer({ filename: ":memory:", projections }))
 * ```
 *
 * @category suites
 * @since 0.1.0
 */
export const inlineProjectionSuite = (
  name: string,
  makeLayer: (projections: ReadonlyArray<Projection.Any>) => Layer.Layer<Services, unknown>,
  options?: InlineProjectionOptions
): void => {
  describe(`Strata inline projections (${name})`, async () => {
    const backend = await Effect.runPromise(
      Effect.scoped(Effect.map(Layer.build(makeLayer([])), (context) => Context.get(context, Backend.Backend)))
    )
    inlineProjectionTopic(makeLayer, resolve(fromBackend(backend, options)), backend.beforeCommit !== undefined)
  })
}

// An event's envelope as text, for comparing what a projection saw with what a reader sees.
const envelope = (event: Event.RecordedEvent): string =>
  JSON.stringify({
    id: event.id,
    stream: event.stream,
    version: String(event.version),
    position: String(event.position),
    type: event.type,
    createdAt: event.createdAt.getTime(),
    data: event.data,
    metadata: event.metadata
  })

/**
 * Registers the inline-projection tests for a backend already known to run them (`supported`) or
 * not; `suite` calls it with what the backend's record says.
 *
 * @category suites
 * @since 0.1.0
 */
export const inlineProjectionTopic = (
  makeLayer: (projections: ReadonlyArray<Projection.Any>) => Layer.Layer<Services, unknown>,
  resolved: ResolvedOptions,
  supported: boolean
): void => {
  const n = names()
  const domain = bank(n)
  const balances = Projection.singleStream({
    name: `balances-${n.category}`,
    collection: domain.collection,
    events: domain.codec,
    evolve: domain.evolve
  })
  const Totals = DocumentStore.collection(n.collection("totals"), Schema.Struct({ events: Schema.Number }))
  // Every event of the domain updates one document: concurrent appends contend on it.
  const totals = Projection.multiStream({
    name: `totals-${n.category}`,
    collection: Totals,
    events: domain.codec,
    id: (event) => event.stream.includes("-hot") ? "hot" : undefined,
    evolve: (current) => ({ events: (current?.events ?? 0) + 1 })
  })

  // A projection whose evolve throws on its one event type (a bug in the projection, not a refusal).
  const Exploded = EventCodec.type(n.type("Exploded"), { schema: Schema.Struct({}) })
  const Explosions = DocumentStore.collection(n.collection("explosions"), Schema.Struct({ n: Schema.Number }))
  const exploding = Projection.singleStream({
    name: `exploding-${n.category}`,
    collection: Explosions,
    events: EventCodec.make([Exploded]),
    evolve: (): { n: number } => {
      throw new Error("evolve exploded")
    }
  })

  // A projection that keeps the envelope of the last event it saw, to compare with what readers see.
  const Seen = EventCodec.type(n.type("Seen"), { schema: Schema.Struct({ note: Schema.String }) })
  const Envelopes = DocumentStore.collection(n.collection("envelopes"), Schema.Struct({ envelope: Schema.String }))
  const envelopes = Projection.singleStream({
    name: `envelopes-${n.category}`,
    collection: Envelopes,
    events: EventCodec.make([Seen]),
    evolve: (_, event) => ({ envelope: envelope(event) })
  })

  // A projection whose document schema encodes and decodes asynchronously: it cannot finish
  // synchronously, so a backend that runs inline projections inside a synchronous append (SQLite)
  // must roll that attempt back and run it on its transactional path.
  const Ticked = EventCodec.type(n.type("Ticked"), { schema: Schema.Struct({}) })
  const Later = Schema.Number.pipe(Schema.decodeTo(Schema.Number, {
    decode: SchemaGetter.transformEffect((value: number) => Effect.promise(() => Promise.resolve(value))),
    encode: SchemaGetter.transformEffect((value: number) => Effect.promise(() => Promise.resolve(value)))
  }))
  const Ticks = DocumentStore.collection(n.collection("ticks"), Schema.Struct({ ticks: Later }))
  const ticking = Projection.singleStream({
    name: `ticking-${n.category}`,
    collection: Ticks,
    events: EventCodec.make([Ticked]),
    evolve: (current) => ({ ticks: (current?.ticks ?? 0) + 1 })
  })

  if (!supported) {
    describe("refused", () => {
      vitestIt.live("the layer refuses inline projections with Unsupported", () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Effect.scoped(Layer.build(makeLayer([balances]))))
          assert.strictEqual(exit._tag, "Failure")
          if (exit._tag === "Failure") {
            const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
            assert.strictEqual((error as { error?: { _tag?: string } } | undefined)?.error?._tag, "Unsupported")
          }
        }), { timeout: 60_000 })
    })
    return
  }

  const stream = (suffix: string) => `${n.category}-${suffix}${hex(3)}`

  layer(makeLayer([balances, totals, exploding, envelopes, ticking]), {
    timeout: resolved.timeout,
    excludeTestServices: true
  })(
    "supported",
    (it) => {
      it.effect("the document is up to date when the append returns", () =>
        Effect.gen(function*() {
          const s = stream("a")
          yield* domain.codec.append(s, [domain.Deposited.make({ amount: 10 }), domain.Withdrawn.make({ amount: 3 })])
          const docs = yield* DocumentStore.DocumentStore
          assert.deepStrictEqual(
            Option.map(yield* docs.get(domain.collection, s), (d) => d.value),
            Option.some({ balance: 7, count: 2 })
          )
          yield* domain.codec.append(s, [domain.Closed.make({})], { expected: ExpectedVersion.exact(1n) })
          assert.isTrue(Option.isNone(yield* docs.get(domain.collection, s)), "evolve's Delete deleted it")
        }))

      it.effect("a projection that cannot finish synchronously (an asynchronous schema) runs atomically all the same", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const s = stream("later")
          yield* store.append(s, [Event.make(Ticked.name, {}), Event.make(Ticked.name, {})])
          yield* store.append(s, [Event.make(Ticked.name, {})], { expected: ExpectedVersion.exact(1n) })
          // Each event written once, and the document written once per append (its version).
          assert.strictEqual((yield* readStream(s)).length, 3)
          const ticks = yield* docs.get(Ticks, s)
          assert.deepStrictEqual(Option.map(ticks, (d) => [d.value.ticks, d.version]), Option.some([3, 2n]))
          // A failure beside it still leaves nothing.
          yield* failsWith("ProjectionFailed")(
            store.append(s, [Event.make(Ticked.name, {}), Event.make(Exploded.name, {})])
          )
          assert.strictEqual((yield* readStream(s)).length, 3)
          assert.deepStrictEqual(yield* docs.get(Ticks, s), ticks)
        }))

      it.effect("a failing projection fails the append: neither event nor document is written", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const s = stream("poison")
          yield* domain.codec.append(s, [domain.Deposited.make({ amount: 1e308 })])
          const before = yield* docs.get(domain.collection, s)
          const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
          const collector = yield* collect(live, resolved.deliveryTimeout)
          // 1e308 + 1e308 is Infinity, which the collection's Schema.Finite refuses to store.
          const error = yield* failsWith("ProjectionFailed")(
            domain.codec.append(s, [domain.Withdrawn.make({ amount: 1 }), domain.Deposited.make({ amount: 1e308 })])
          )
          assert.strictEqual(error.projection, balances.name)
          assert.strictEqual(error.stream, s)
          assert.strictEqual((yield* readStream(s)).length, 1, "no event of the failed append was stored")
          assert.deepStrictEqual(yield* docs.get(domain.collection, s), before, "the document is unchanged")
          // A fresh stream: neither its events nor a document.
          const fresh = stream("poison")
          yield* failsWith("ProjectionFailed")(
            domain.codec.append(fresh, [
              domain.Deposited.make({ amount: 1e308 }),
              domain.Deposited.make({ amount: 1e308 })
            ])
          )
          assert.deepStrictEqual(yield* readStream(fresh), [])
          assert.isTrue(Option.isNone(yield* docs.get(domain.collection, fresh)))
          assert.strictEqual((yield* store.streamInfo(fresh)).lastVersion, undefined)
          // Subscribers saw nothing; the stream takes its first event as if nothing happened.
          yield* domain.codec.append(fresh, [domain.Deposited.make({ amount: 1 })], {
            expected: ExpectedVersion.noStream
          })
          const [first] = yield* collector.take(1)
          assert.strictEqual(first.stream, fresh)
          assert.strictEqual(first.version, 0n)
          assert.deepStrictEqual(yield* collector.drain, [])
        }))

      it.effect("an evolve that throws fails the append with ProjectionFailed naming it: nothing is written", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const s = stream("throws")
          const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
          const collector = yield* collect(live, resolved.deliveryTimeout)
          // The balances projection handles the deposit first; the throw must undo its document too.
          const exploded = Event.make(Exploded.name, {})
          const error = yield* failsWith("ProjectionFailed")(
            store.append(s, [Event.make(domain.Deposited.name, { amount: 5 }), exploded])
          )
          assert.strictEqual(error.projection, exploding.name)
          assert.strictEqual(error.stream, s)
          assert.strictEqual(error.eventId, exploded.id)
          assert.strictEqual(error.cause instanceof Error ? error.cause.message : error.cause, "evolve exploded")
          assert.deepStrictEqual(yield* readStream(s), [], "no event of the failed append was stored")
          assert.strictEqual((yield* store.streamInfo(s)).lastVersion, undefined)
          assert.isTrue(Option.isNone(yield* docs.get(domain.collection, s)), "the other projection's document too")
          assert.strictEqual(yield* docs.count(Explosions), 0)
          // appendMany: the same, for the whole request.
          const other = stream("throws")
          yield* failsWith("ProjectionFailed")(store.appendMany([
            { stream: other, events: [Event.make(domain.Deposited.name, { amount: 1 })] },
            { stream: s, events: [Event.make(Exploded.name, {})] }
          ]))
          assert.deepStrictEqual(yield* readStream(other), [])
          assert.isTrue(Option.isNone(yield* docs.get(domain.collection, other)))
          // Subscribers saw nothing; the stream takes its first event as if nothing happened.
          yield* store.append(s, [Event.make(domain.Deposited.name, { amount: 2 })], {
            expected: ExpectedVersion.noStream
          })
          const [first] = yield* collector.take(1)
          assert.strictEqual(first.stream, s)
          assert.strictEqual(first.version, 0n)
          assert.deepStrictEqual(yield* collector.drain, [])
        }))

      it.effect("appendMany and put with events run the projections atomically with everything else", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const a = stream("many")
          const b = stream("many")
          const encoded = (events: ReadonlyArray<Parameters<typeof domain.codec.encode>[0]>) =>
            Effect.forEach(events, (event) => domain.codec.encode(event))
          yield* store.appendMany([
            { stream: a, events: yield* encoded([domain.Deposited.make({ amount: 1 })]) },
            { stream: b, events: yield* encoded([domain.Deposited.make({ amount: 2 })]) }
          ])
          assert.deepStrictEqual(
            yield* documents(domain.collection).pipe(Effect.map((all) => [all.get(a), all.get(b)])),
            [
              { balance: 1, count: 1 },
              { balance: 2, count: 1 }
            ]
          )
          // One failing part: nothing of the whole appendMany.
          yield* failsWith("ProjectionFailed")(store.appendMany([
            { stream: a, events: yield* encoded([domain.Deposited.make({ amount: 5 })]) },
            {
              stream: b,
              events: yield* encoded([
                domain.Deposited.make({ amount: 1e308 }),
                domain.Deposited.make({ amount: 1e308 })
              ])
            }
          ]))
          assert.strictEqual((yield* readStream(a)).length, 1)
          assert.deepStrictEqual(
            Option.map(yield* docs.get(domain.collection, a), (d) => d.value.balance),
            Option.some(1)
          )
          // A put that carries events projects them in the same step.
          const Notes = DocumentStore.collection(n.collection("notes"), Schema.Struct({ text: Schema.String }))
          yield* docs.put(Notes, a, { text: "hi" }, {
            events: [{ stream: a, events: yield* encoded([domain.Deposited.make({ amount: 4 })]) }]
          })
          assert.deepStrictEqual(
            Option.map(yield* docs.get(domain.collection, a), (d) => d.value.balance),
            Option.some(5)
          )
        }))

      if (resolved.unitsOfWork) {
        it.effect("a unit of work that rolls back undoes its inline projections' documents too", () =>
          Effect.gen(function*() {
            const docs = yield* DocumentStore.DocumentStore
            const s = stream("unit")
            yield* domain.codec.append(s, [domain.Deposited.make({ amount: 1 })])
            const exit = yield* Effect.exit(UnitOfWork.transaction(Effect.gen(function*() {
              yield* domain.codec.append(s, [domain.Deposited.make({ amount: 100 })])
              const inside = yield* docs.get(domain.collection, s)
              assert.deepStrictEqual(Option.map(inside, (d) => d.value.balance), Option.some(101))
              return yield* Effect.fail("abort")
            })))
            assert.strictEqual(exit._tag, "Failure")
            assert.deepStrictEqual(
              Option.map(yield* docs.get(domain.collection, s), (d) => d.value.balance),
              Option.some(1)
            )
            assert.strictEqual((yield* readStream(s)).length, 1)
          }))
      }

      it.effect("a projection sees each event as readers see it: id, stream, version, position, time, data, metadata", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const s = stream("e")
          const t = stream("f")
          yield* store.append(s, [Event.make(n.type("Other"), {})])
          yield* store.appendMany([
            {
              stream: s,
              events: [Event.make(n.type("Seen"), { note: "first" }, { metadata: { correlationId: "c-1" } })]
            },
            { stream: t, events: [Event.make(n.type("Seen"), { note: "ünïcode ✓", extra: [1, 2.5, null] })] }
          ])
          for (const name of [s, t]) {
            const [last] = (yield* readStream(name)).slice(-1)
            const seen = yield* docs.get(Envelopes, name)
            assert.deepStrictEqual(Option.map(seen, (d) => d.value.envelope), Option.some(envelope(last)))
          }
        }))

      it.effect("a multi-event append folds its events in order: a delete and a re-create in one append", () =>
        Effect.gen(function*() {
          const s = stream("d")
          const docs = yield* DocumentStore.DocumentStore
          yield* domain.codec.append(s, [
            domain.Deposited.make({ amount: 10 }),
            domain.Closed.make({}),
            domain.Deposited.make({ amount: 4 }),
            domain.Withdrawn.make({ amount: 1 })
          ])
          assert.deepStrictEqual(
            Option.map(yield* docs.get(domain.collection, s), (d) => d.value),
            Option.some({ balance: 3, count: 2 })
          )
          yield* domain.codec.append(s, [domain.Deposited.make({ amount: 1 }), domain.Closed.make({})])
          assert.isTrue(Option.isNone(yield* docs.get(domain.collection, s)))
        }))

      it.effect("concurrent appends that update one document all land", () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const writers = Math.min(resolved.writers, 6)
          yield* Effect.forEach(
            Array.from({ length: writers }, (_, w) => w),
            (w) =>
              Effect.forEach(Array.from({ length: 4 }), () =>
                domain.codec.append(`${n.category}-hot${w}`, [domain.Deposited.make({ amount: 1 })]), {
                discard: true
              }),
            { concurrency: "unbounded", discard: true }
          )
          const hot = yield* docs.get(Totals, "hot")
          assert.deepStrictEqual(
            Option.map(hot, (d) =>
              d.value.events),
            Option.some(writers * 4)
          )
        }))
    }
  )
}
