// A small typed domain private to one test (event types and collection named from its Names), with a
// projection's evolve and a fresh fold of the log to compare a projection with.
import { DocumentStore, EventCodec, EventStore, Projection } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Names } from "./fixtures.ts"

export const Balance = Schema.Struct({ balance: Schema.Finite, count: Schema.Number })
export type Balance = typeof Balance.Type

export const bank = (n: Names, suffix = "main") => {
  const Deposited = EventCodec.type(n.type("Deposited"), { schema: Schema.Struct({ amount: Schema.Number }) })
  const Withdrawn = EventCodec.type(n.type("Withdrawn"), { schema: Schema.Struct({ amount: Schema.Number }) })
  const Closed = EventCodec.type(n.type("Closed"), { schema: Schema.Struct({}) })
  const codec = EventCodec.make([Deposited, Withdrawn, Closed])
  const collection = DocumentStore.collection(n.collection(suffix), Balance)
  // A NaN amount makes the balance NaN, which `Schema.Finite` refuses to store: a failing projection.
  // The tags are strings made at run time, so the types cannot tell the events apart: compare names.
  const evolve = (
    current: Balance | undefined,
    { event }: EventCodec.Decoded<EventCodec.Type<typeof codec>>
  ): Balance | Projection.Delete => {
    if (event._tag === Closed.name) return Projection.Delete
    const amount = "amount" in event ? event.amount : 0
    return {
      balance: (current?.balance ?? 0) + (event._tag === Deposited.name ? amount : -amount),
      count: (current?.count ?? 0) + 1
    }
  }
  // The balances projection over this domain, one document per stream (named like a checkpoint).
  const projection = (options?: { readonly version?: number }) =>
    Projection.singleStream({ name: n.checkpoint(), collection, events: codec, evolve, ...options })
  return { Deposited, Withdrawn, Closed, codec, collection, evolve, projection }
}

export type Bank = ReturnType<typeof bank>

/** The documents a single-stream projection should hold: a fold of the whole log, per stream. */
export const freshFold = (domain: Bank) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const folded = new Map<string, Balance | undefined>()
    yield* Stream.runForEach(
      store.readAll({ filter: EventCodec.filter(domain.codec) }).pipe(domain.codec.decodeStream()),
      (decoded) =>
        Effect.sync(() => {
          const next = domain.evolve(folded.get(decoded.stream), decoded)
          folded.set(decoded.stream, next === Projection.Delete ? undefined : next)
        })
    )
    return new Map([...folded].flatMap(([id, value]) => value === undefined ? [] : [[id, value] as const]))
  })

/** Every document of a collection, by id. */
export const documents = <A, I>(collection: DocumentStore.Collection<A, I>) =>
  Effect.flatMap(DocumentStore.DocumentStore, (docs) =>
    Effect.map(
      Stream.runCollect(docs.find(collection)),
      (found) => new Map(found.map((document) => [document.id, document.value] as const))
    ))
