import { assert, describe, it } from "@effect/vitest"
import { Event, EventCodec, EventStore, ExpectedVersion, MemoryStore } from "@strata/core"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// Version 1 stored only a sku; version 2 added the quantity; version 3 split the price into amount + currency.
const ItemAddedV1 = Schema.Struct({ sku: Schema.String })
// Finite: JSON has no NaN or Infinity (a Schema.Number field holding one fails at encode).
const ItemAddedV2 = Schema.Struct({ sku: Schema.String, quantity: Schema.Int, price: Schema.Finite })
const ItemAddedV3 = Schema.Struct({
  sku: Schema.String,
  quantity: Schema.Int,
  price: Schema.Struct({ amount: Schema.Finite, currency: Schema.String })
})

const v2ToV3 = (v2: typeof ItemAddedV2.Type): typeof ItemAddedV3.Encoded => ({
  sku: v2.sku,
  quantity: v2.quantity,
  price: { amount: v2.price, currency: "EUR" }
})
const upcastV2 = EventCodec.upcast(ItemAddedV2, ItemAddedV3, v2ToV3)
// 1 -> 3 composes the old 1 -> 2 upcast with 2 -> 3.
const upcastV1ToV2 = EventCodec.upcast(ItemAddedV1, ItemAddedV2, (v1) => ({ sku: v1.sku, quantity: 1, price: 0 }))
const upcastV1 = EventCodec.upcast(upcastV1ToV2, ItemAddedV3, v2ToV3)

const ItemAdded = EventCodec.type("ItemAdded", {
  schema: ItemAddedV3,
  version: 3,
  upcasts: { 1: upcastV1, 2: upcastV2 }
})
const CartOpened = EventCodec.type("CartOpened", { schema: Schema.Struct({ customer: Schema.String }) })
const CartCheckedOut = EventCodec.type("CartCheckedOut", {
  schema: Schema.Struct({ at: Schema.Number }),
  version: 2
})
const CartEvents = EventCodec.make([CartOpened, ItemAdded, CartCheckedOut])
type CartEvent = EventCodec.Type<typeof CartEvents>

// Compile-time check: the codec's events form a discriminated union.
const describeEvent = (event: CartEvent): string => {
  switch (event._tag) {
    case "CartOpened":
      return `opened by ${event.customer}`
    case "ItemAdded":
      return `${event.quantity} x ${event.sku} at ${event.price.amount} ${event.price.currency}`
    case "CartCheckedOut":
      return `checked out at ${event.at}`
  }
}

let nextPosition = 1n
const recorded = (type: string, data: unknown, metadata: Event.EventMetadata = {}): Event.RecordedEvent => {
  const position = nextPosition++
  return {
    id: Event.makeEventId(),
    stream: "cart-x",
    version: position - 1n,
    position,
    type,
    data,
    metadata,
    createdAt: new Date(0)
  }
}

const memory = MemoryStore.layer()

describe("EventCodec", () => {
  it.effect("EventType.makeEffect builds the tagged event, or fails with a typed InvalidEventFields", () =>
    Effect.gen(function*() {
      const made = yield* CartOpened.makeEffect({ customer: "ada" })
      assert.deepStrictEqual(made, CartOpened.make({ customer: "ada" }))
      const bad = { sku: "a", quantity: 1.5, price: { amount: 3, currency: "EUR" } }
      const error = yield* Effect.flip(ItemAdded.makeEffect(bad))
      assert.strictEqual(error._tag, "InvalidEventFields")
      assert.instanceOf(error, EventCodec.InvalidEventFields)
      assert.strictEqual(error.eventType, "ItemAdded")
      assert.isFalse(error.isRetryable)
      assert.match(error.detail, /quantity/)
      assert.strictEqual(error.message, "Invalid ItemAdded fields: Expected an integer at [\"quantity\"]")
      assert.notInclude(error.message, "\n")
      // The throwing constructor is kept, and refuses the same fields.
      assert.throws(() => ItemAdded.make(bad))
    }))

  it.effect("encodes with the current schema version and decodes to a tagged event with its envelope", () =>
    Effect.gen(function*() {
      const added = ItemAdded.make({ sku: "a", quantity: 2, price: { amount: 3, currency: "EUR" } })
      assert.deepStrictEqual(added, { _tag: "ItemAdded", sku: "a", quantity: 2, price: { amount: 3, currency: "EUR" } })
      const result = yield* CartEvents.append("cart-1", [CartOpened.make({ customer: "ada" }), added], {
        expected: ExpectedVersion.noStream,
        metadata: { correlationId: "c-1" }
      })
      assert.strictEqual(result.nextExpectedVersion, 1n)

      const store = yield* EventStore.EventStore
      const raw = yield* Stream.runCollect(store.read("cart-1"))
      assert.deepStrictEqual(raw.map((e) => [e.type, e.metadata.schemaVersion, e.metadata.correlationId]), [
        ["CartOpened", 1, "c-1"],
        ["ItemAdded", 3, "c-1"]
      ])
      // The tag lives in the event type, not in the stored data.
      assert.deepStrictEqual(raw[1].data, { sku: "a", quantity: 2, price: { amount: 3, currency: "EUR" } })

      const decoded = yield* Stream.runCollect(CartEvents.read("cart-1"))
      assert.deepStrictEqual(decoded.map((d) => d.event), [{ _tag: "CartOpened", customer: "ada" }, added])
      assert.deepStrictEqual(decoded.map((d) => [d.stream, d.version, d.schemaVersion, d.id]), [
        ["cart-1", 0n, 1, raw[0].id],
        ["cart-1", 1n, 3, raw[1].id]
      ])
      assert.deepStrictEqual(decoded.map((d) => describeEvent(d.event)), ["opened by ada", "2 x a at 3 EUR"])
      assert.isTrue(ItemAdded.is(decoded[1].event))
      assert.isFalse(ItemAdded.is(decoded[0].event))
    }).pipe(Effect.provide(memory)))

  it.effect("upcasts every older stored version to the current type", () =>
    Effect.gen(function*() {
      const v1 = yield* CartEvents.decode(recorded("ItemAdded", { sku: "a" }, { schemaVersion: 1 }))
      const v2 = yield* CartEvents.decode(
        recorded("ItemAdded", { sku: "b", quantity: 5, price: 7 }, { schemaVersion: 2 })
      )
      // Written before the codec existed: no schemaVersion counts as version 1.
      const legacy = yield* CartEvents.decode(recorded("ItemAdded", { sku: "c" }))
      assert.deepStrictEqual(v1.event, {
        _tag: "ItemAdded",
        sku: "a",
        quantity: 1,
        price: { amount: 0, currency: "EUR" }
      })
      assert.deepStrictEqual(v2.event, {
        _tag: "ItemAdded",
        sku: "b",
        quantity: 5,
        price: { amount: 7, currency: "EUR" }
      })
      assert.deepStrictEqual(legacy.event, {
        _tag: "ItemAdded",
        sku: "c",
        quantity: 1,
        price: { amount: 0, currency: "EUR" }
      })
      assert.deepStrictEqual([v1.schemaVersion, v2.schemaVersion, legacy.schemaVersion], [1, 2, 1])
    }))

  it.effect("property: any v1 and v2 payload upcasts to what the migration functions say", () =>
    Effect.gen(function*() {
      const v1 = yield* Arbitrary.checkEffect(
        Arbitrary.schema(ItemAddedV1),
        (data) =>
          CartEvents.decode(recorded("ItemAdded", data, { schemaVersion: 1 })).pipe(
            Effect.map((d) =>
              d.event._tag === "ItemAdded" && d.event.sku === data.sku && d.event.quantity === 1 &&
              d.event.price.amount === 0 && d.event.price.currency === "EUR"
            )
          ),
        { runs: 200 }
      )
      assert.strictEqual(v1._tag, "Passed", Arbitrary.formatCheckFailure(v1))
      const v2 = yield* Arbitrary.checkEffect(
        Arbitrary.schema(ItemAddedV2),
        (data) =>
          CartEvents.decode(recorded("ItemAdded", data, { schemaVersion: 2 })).pipe(
            Effect.map((d) =>
              d.event._tag === "ItemAdded" && d.event.sku === data.sku && d.event.quantity === data.quantity &&
              Object.is(d.event.price.amount, data.price) && d.event.price.currency === "EUR"
            )
          ),
        { runs: 200 }
      )
      assert.strictEqual(v2._tag, "Passed", Arbitrary.formatCheckFailure(v2))
    }))

  it.effect("property: encode then decode through JSON returns the event (lone surrogates refused)", () =>
    Effect.gen(function*() {
      const result = yield* Arbitrary.checkEffect(Arbitrary.schema(ItemAddedV3), (fields) =>
        Effect.gen(function*() {
          const event = ItemAdded.make(fields)
          // A string that is not well-formed Unicode cannot be stored unchanged: it must be refused.
          // (JSON.stringify writes a lone surrogate, and only a lone one, as a \uD800-\uDFFF escape.)
          if (/\\ud[89a-f][0-9a-f]{2}/i.test(JSON.stringify(fields))) {
            const error = yield* Effect.flip(CartEvents.encode(event))
            return error._tag === "InvalidEvent" && error.reason === "NotJson"
          }
          const encoded = yield* CartEvents.encode(event)
          // What a store does: JSON in, JSON out.
          const stored = recorded(
            encoded.type,
            JSON.parse(JSON.stringify(encoded.data)),
            JSON.parse(JSON.stringify(encoded.metadata))
          )
          const decoded = yield* CartEvents.decode(stored)
          return decoded.schemaVersion === 3 && JSON.stringify(decoded.event) === JSON.stringify(event)
        }), { runs: 200 })
      assert.strictEqual(result._tag, "Passed", Arbitrary.formatCheckFailure(result))
    }))

  it.effect("an undecodable event is a typed EventDecodeError that names it", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Event.RecordedEvent, number, RegExp]> = [
        [recorded("CartAbandoned", {}), 1, /unknown event type "CartAbandoned"/],
        [recorded("ItemAdded", { sku: "a" }, { schemaVersion: 4 }), 4, /newer than this codec's 3/],
        [recorded("CartCheckedOut", { at: 1 }, { schemaVersion: 1 }), 1, /no upcast from schema version 1 to 2/],
        [recorded("CartOpened", { customer: 42 }), 1, /does not match the schema: Expected string/],
        [recorded("ItemAdded", { nope: true }, { schemaVersion: 2 }), 2, /does not upcast from schema version 2/],
        [
          recorded("CartOpened", { customer: "x" }, { schemaVersion: "1" as unknown as number }),
          0,
          /schemaVersion must be an integer/
        ]
      ]
      for (const [event, schemaVersion, detail] of cases) {
        const error = yield* Effect.flip(CartEvents.decode(event))
        assert.strictEqual(error._tag, "EventDecodeError")
        assert.deepStrictEqual(
          [error.stream, error.version, error.position, error.eventId, error.eventType, error.schemaVersion],
          [event.stream, event.version, event.position, event.id, event.type, schemaVersion]
        )
        assert.match(error.detail, detail)
        assert.include(error.message, event.id)
      }
    }))

  it.effect("a failing decode fails the stream with a typed error, not a defect", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* CartEvents.append("cart-2", [CartOpened.make({ customer: "ada" })])
      yield* store.append("cart-2", [Event.make("CartOpened", { customer: 1 })])
      const exit = yield* Effect.exit(Stream.runCollect(CartEvents.read("cart-2")))
      assert.isTrue(exit._tag === "Failure")
      const error = yield* Effect.flip(Stream.runCollect(CartEvents.read("cart-2")))
      assert.strictEqual(error._tag, "EventDecodeError")
      if (error._tag === "EventDecodeError") assert.strictEqual(error.version, 1n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("skip drops undecodable events; a dead-letter function sees each one", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* CartEvents.append("cart-3", [CartOpened.make({ customer: "ada" })])
      yield* store.append("cart-3", [Event.make("ItemAdded", { sku: 1 }), Event.make("Mystery", {})])
      yield* CartEvents.append("cart-3", [CartCheckedOut.make({ at: 5 })])

      const skipped = yield* Stream.runCollect(CartEvents.read("cart-3", { onDecodeError: "skip" }))
      assert.deepStrictEqual(skipped.map((d) => d.version), [0n, 3n])

      const parked: Array<string> = []
      const deadLettered = yield* Stream.runCollect(
        store.read("cart-3").pipe(
          CartEvents.decodeStream({
            onDecodeError: (error) => Effect.sync(() => parked.push(`${error.eventType}@${error.version}`))
          })
        )
      )
      assert.deepStrictEqual(deadLettered.map((d) => d.version), [0n, 3n])
      assert.deepStrictEqual(parked, ["ItemAdded@1", "Mystery@2"])

      const results = yield* Stream.runCollect(store.read("cart-3").pipe(CartEvents.decodeResults))
      assert.deepStrictEqual(results.map(Result.isSuccess), [true, false, false, true])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a skipping subscription keeps delivering after a bad event", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const fiber = yield* CartEvents.subscribeAll({ from: "start", onDecodeError: "skip" }).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* CartEvents.append("cart-4", [CartOpened.make({ customer: "ada" })])
      yield* store.append("cart-4", [Event.make("ItemAdded", { sku: 1 })], {})
      // Not one of the codec's types: a codec subscription never sees it.
      yield* store.append("other-1", [Event.make("Unrelated", {})])
      yield* CartEvents.append("cart-4", [CartCheckedOut.make({ at: 9 })])
      const got = yield* Fiber.join(fiber)
      assert.deepStrictEqual(got.map((d) => d.event._tag), ["CartOpened", "CartCheckedOut"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("readAll only reads the codec's types, intersected with a given filter", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("other-1", [Event.make("Unrelated", {})])
      yield* CartEvents.append("cart-5", [CartOpened.make({ customer: "a" }), CartCheckedOut.make({ at: 1 })])
      const all = yield* Stream.runCollect(CartEvents.readAll())
      assert.deepStrictEqual(all.map((d) => d.type), ["CartOpened", "CartCheckedOut"])
      const some = yield* Stream.runCollect(CartEvents.readAll({ filter: { types: ["CartCheckedOut", "Unrelated"] } }))
      assert.deepStrictEqual(some.map((d) => d.type), ["CartCheckedOut"])
      assert.deepStrictEqual(EventCodec.filter(CartEvents), { types: ["CartOpened", "ItemAdded", "CartCheckedOut"] })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("readAll with a DCB query reads the codec's types among the query's matches (no filter beside it)", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("cart-7", [
        { type: "CartOpened", data: { customer: "a" }, tags: ["cart:7"] },
        { type: "Unrelated", data: {}, tags: ["cart:7"] },
        { type: "CartCheckedOut", data: { at: 1 }, metadata: { schemaVersion: 2 }, tags: ["cart:8"] }
      ])
      const tagged = yield* Stream.runCollect(CartEvents.readAll({ query: [{ tags: ["cart:7"] }] }))
      assert.deepStrictEqual(tagged.map((d) => d.type), ["CartOpened"])
      const typed = yield* Stream.runCollect(
        CartEvents.readAll({ query: [{ types: ["Unrelated", "CartCheckedOut"] }, { tags: ["cart:7"] }] })
      )
      assert.deepStrictEqual(typed.map((d) => d.type), ["CartOpened", "CartCheckedOut"])
      const none = yield* Stream.runCollect(CartEvents.readAll({ query: [{ types: ["Unrelated"], tags: ["cart:7"] }] }))
      assert.lengthOf(none, 0)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("encoding refuses unknown types and values that do not match the schema", () =>
    Effect.gen(function*() {
      const unknown = yield* Effect.flip(CartEvents.encode({ _tag: "Nope" } as unknown as CartEvent))
      assert.strictEqual(unknown.reason, "InvalidType")
      const bad = yield* Effect.flip(
        CartEvents.append("cart-6", [
          CartOpened.make({ customer: "a" }),
          { _tag: "ItemAdded", sku: "a", quantity: 1.5, price: { amount: 1, currency: "EUR" } }
        ])
      )
      assert.strictEqual(bad._tag, "InvalidEvent")
      if (bad._tag === "InvalidEvent") {
        assert.deepStrictEqual([bad.stream, bad.index, bad.reason], ["cart-6", 1, "NotJson"])
        assert.match(bad.detail, /Expected an integer/)
      }
      const store = yield* EventStore.EventStore
      assert.strictEqual((yield* store.streamInfo("cart-6")).status, "missing")

      const Measured = EventCodec.type("Measured", { schema: Schema.Struct({ value: Schema.Number }) })
      const notJson = yield* Effect.flip(EventCodec.make([Measured]).encode(Measured.make({ value: Number.NaN })))
      assert.strictEqual(notJson.reason, "NotJson")
      assert.match(notJson.detail, /\$\.value is NaN/)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it("rejects invalid definitions when they are made", () => {
    assert.throws(() => EventCodec.make([CartOpened, CartOpened]), /appears twice/)
    assert.throws(
      () => EventCodec.type("X", { schema: ItemAddedV3, version: 2, upcasts: { 2: upcastV2 } }),
      /upcast keys must be older versions/
    )
    assert.throws(() => EventCodec.type("X", { schema: ItemAddedV3, version: 0 }), /version must be an integer/)
    assert.throws(() => EventCodec.type("", { schema: ItemAddedV3 }), /event type/)
    assert.throws(
      () => EventCodec.type("X", { schema: Schema.Struct({ _tag: Schema.Literal("X") }) }),
      /must not declare _tag/
    )
  })
})
