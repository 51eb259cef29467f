// `Projection.catchUp`'s batches: batches that end inside a store's page, documents created and
// deleted within a batch, more documents in a batch than one `writeMany` takes, and a concurrent write
// between a batch's document read and its write.
import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, EventCodec, EventStore, MemoryStore, Projection } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const Added = EventCodec.type("Added", { schema: Schema.Struct({ n: Schema.Number }) })
const Removed = EventCodec.type("Removed", { schema: Schema.Struct({}) })
const Touched = EventCodec.type("Touched", { schema: Schema.Struct({}) })
const codec = EventCodec.make([Added, Removed, Touched])
const Total = Schema.Struct({ total: Schema.Number })

const totals = (name: string) =>
  Projection.singleStream({
    name,
    collection: DocumentStore.collection(name, Total),
    events: codec,
    evolve: (current, { event }) =>
      event._tag === "Added"
        ? { total: (current?.total ?? 0) + event.n }
        : event._tag === "Removed"
        ? Projection.Delete
        : current ?? { total: 0 }
  })

const stored = (collection: DocumentStore.Collection<{ readonly total: number }, unknown>) =>
  Effect.flatMap(DocumentStore.DocumentStore, (docs) =>
    Stream.runFold(
      docs.find(collection),
      () => new Map<string, { total: number; version: bigint }>(),
      (all, document) => all.set(document.id, { total: document.value.total, version: document.version })
    ))

const checkpointOf = (projection: Projection.Any) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.loadCheckpoint(projection.checkpoint))

describe("Projection.catchUp", () => {
  it.effect("batches that end inside a page fold as the event-by-event handler does, one version per batch", () =>
    Effect.gen(function*() {
      // Pages of 3, batches of 5 (positions 1-5, 6-10, 11-12): batch ends fall inside pages.
      yield* codec.append("a", [Added.make({ n: 1 }), Added.make({ n: 2 })])
      // "b" is created and deleted within batch 1: never written.
      yield* codec.append("b", [Added.make({ n: 5 }), Removed.make({})])
      // "c" is created in batch 1, unchanged by a no-op in batch 2.
      yield* codec.append("c", [Added.make({ n: 7 })])
      yield* codec.append("c", [Touched.make({})])
      // "a": deleted in batch 2, then created again in batch 2.
      yield* codec.append("a", [Removed.make({}), Added.make({ n: 10 })])
      // "d": created in batch 2, changed again in batch 3.
      yield* codec.append("d", [Added.make({ n: 1 }), Added.make({ n: 1 })])
      yield* codec.append("d", [Added.make({ n: 1 }), Added.make({ n: 1 })])
      const projection = totals("pages")
      assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 5 }), 12)
      const reference = totals("reference")
      const store = yield* EventStore.EventStore
      yield* Stream.runForEach(store.readAll({ filter: reference.filter }), reference.handler)
      const caughtUp = yield* stored(projection.target)
      const handled = yield* stored(reference.target)
      assert.deepStrictEqual(
        [...caughtUp].map(([id, { total }]) => [id, total]),
        [...handled].map(([id, { total }]) => [id, total])
      )
      assert.deepStrictEqual(
        caughtUp,
        new Map([
          // a: written in batch 1, then deleted and created again in batch 2 (one write: version 2).
          ["a", { total: 10, version: 2n }],
          ["c", { total: 7, version: 1n }],
          ["d", { total: 4, version: 2n }]
        ])
      )
      assert.deepStrictEqual(yield* checkpointOf(projection), Option.some(12n))
      yield* codec.append("d", [Added.make({ n: 1 })])
      assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 5 }), 1, "only the new event")
      assert.deepStrictEqual((yield* stored(projection.target)).get("d"), { total: 5, version: 3n })
    }).pipe(Effect.provide(MemoryStore.layer({ pageSize: 3 }))))

  it.effect("a batch of more documents than one writeMany takes is written whole, with its checkpoint", () =>
    Effect.gen(function*() {
      const streams = DocumentStore.maxBatch + 500
      for (let i = 0; i < streams; i++) yield* codec.append(`s${i}`, [Added.make({ n: i })])
      const projection = totals("wide")
      assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 2 * DocumentStore.maxBatch }), streams)
      const caughtUp = yield* stored(projection.target)
      assert.strictEqual(caughtUp.size, streams)
      assert.deepStrictEqual(caughtUp.get(`s${streams - 1}`), { total: streams - 1, version: 1n })
      assert.deepStrictEqual(yield* checkpointOf(projection), Option.some(BigInt(streams)))
    }).pipe(Effect.provide(MemoryStore.layer({ pageSize: 2 * DocumentStore.maxBatch }))))

  it.effect("a write between a batch's document read and its commit: the batch is folded again over it", () =>
    Effect.gen(function*() {
      yield* codec.append("a", [Added.make({ n: 1 })])
      yield* codec.append("b", [Added.make({ n: 2 })])
      yield* codec.append("a", [Added.make({ n: 3 })])
      const projection = totals("raced")
      const docs = yield* DocumentStore.DocumentStore
      // Another writer puts "a" right after the projection first reads it.
      let raced = false
      const racing: DocumentStore.DocumentStoreShape = {
        ...docs,
        getMany: (collection, ids) =>
          Effect.tap(docs.getMany(collection, ids), () =>
            raced || !ids.includes("a") ? Effect.void : Effect.andThen(
              Effect.sync(() => {
                raced = true
              }),
              Effect.orDie(docs.put(projection.target, "a", { total: 100 }))
            ))
      }
      const replayed = yield* Projection.catchUp(projection, { batchSize: 10 }).pipe(
        Effect.provideService(DocumentStore.DocumentStore, racing)
      )
      assert.strictEqual(replayed, 3)
      assert.isTrue(raced)
      assert.deepStrictEqual(
        yield* stored(projection.target),
        new Map([["a", { total: 104, version: 2n }], ["b", { total: 2, version: 1n }]])
      )
      assert.deepStrictEqual(yield* checkpointOf(projection), Option.some(3n))
    }).pipe(Effect.provide(MemoryStore.layer())))
})
