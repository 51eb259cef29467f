// Binary events in core: Event.binary and its checks, the memory store's private copy, and binary
// event types in an EventCodec (bytes on the way in and out, the schema version in the metadata,
// upcasting from an older JSON version and from an older binary one).
import { assert, describe, it } from "@effect/vitest"
import { Event, EventCodec, EventStore, MemoryStore, Transfer } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Stream from "effect/Stream"

// Version 2 of a reading: a little-endian float64 (8 bytes). Version 1 was JSON { celsius }.
// The bytes are checked (8 of them) before the transformation reads them.
const EightBytes = Schema.Uint8Array.check(Schema.makeFilter((bytes) => bytes.length === 8 || "a reading is 8 bytes"))
const ReadingBytes = EightBytes.pipe(Schema.decodeTo(Schema.Struct({ celsius: Schema.Number }), {
  decode: SchemaGetter.transform((bytes: Uint8Array) => ({
    celsius: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0, true)
  })),
  encode: SchemaGetter.transform(({ celsius }: { readonly celsius: number }) => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setFloat64(0, celsius, true)
    return bytes
  })
}))
const ReadingJsonV1 = Schema.Struct({ celsius: Schema.Number })
const Measured = EventCodec.type("Measured", {
  schema: ReadingBytes,
  version: 2,
  contentType: "application/x-float64",
  upcasts: { 1: ReadingJsonV1 }
})
// A binary type whose schema wrongly encodes to JSON.
const Wrong = EventCodec.type("Wrong", { schema: Schema.Struct({ a: Schema.Number }), contentType: "image/png" })
const Noted = EventCodec.type("Noted", { schema: Schema.Struct({ text: Schema.String }) })
const Sensor = EventCodec.make([Measured, Noted, Wrong])

const run = <A, E>(effect: Effect.Effect<A, E, EventStore.EventStore>) => Effect.provide(effect, MemoryStore.layer())

describe("Event.binary", () => {
  it("builds a binary event with an id and the default or given content type", () => {
    const bytes = Uint8Array.of(1, 2, 3)
    const plain = Event.binary("Blob", bytes)
    assert.strictEqual(plain.contentType, Event.defaultContentType)
    assert.strictEqual(plain.data, bytes)
    assert.isTrue(Event.isBinary(plain))
    assert.isFalse(Event.isBinary(Event.make("Json", { a: 1 })))
    const typed = Event.binary("Blob", bytes, { contentType: "image/png", metadata: { k: 1 } })
    assert.deepStrictEqual([typed.contentType, typed.metadata], ["image/png", { k: 1 }])
  })

  it("contentTypeProblem accepts media types and refuses anything else", () => {
    for (const ok of ["image/png", "application/vnd.a+json", "text/plain; charset=utf-8", "a/b;x=\"y z\""]) {
      assert.isUndefined(Event.contentTypeProblem(ok), ok)
    }
    for (const bad of ["", "png", "image/", "/png", "image/png\n", "imäge/png", `a/${"b".repeat(300)}`, 1, null]) {
      assert.isString(Event.contentTypeProblem(bad), String(bad))
    }
  })

  it.effect("prepare copies the bytes (a Buffer too) and counts bytes plus metadata against the limit", () =>
    Effect.gen(function*() {
      const buffer = Buffer.from([9, 8, 7])
      const [prepared] = yield* Event.prepare("s-1", [Event.binary("Blob", buffer, { metadata: { m: 1 } })], 100)
      assert.deepStrictEqual(prepared.bytes, Uint8Array.of(9, 8, 7))
      assert.strictEqual(Object.getPrototypeOf(prepared.bytes), Uint8Array.prototype)
      buffer[0] = 0
      assert.strictEqual(prepared.bytes![0], 9)
      assert.strictEqual(prepared.data, "null")
      // 93 bytes + {"m":1} (7) = 100: at the limit.
      yield* Event.prepare("s-1", [Event.binary("Blob", new Uint8Array(93), { metadata: { m: 1 } })], 100)
      const error = yield* Effect.flip(
        Event.prepare("s-1", [Event.binary("Blob", new Uint8Array(94), { metadata: { m: 1 } })], 100)
      )
      assert.strictEqual(error.reason, "TooLarge")
      assert.include(error.detail, "101 bytes")
    }))
})

describe("binary event types (EventCodec)", () => {
  it.effect("encode gives a binary event with the type's content type and schema version; reads decode it", () =>
    run(Effect.gen(function*() {
      const encoded = yield* Sensor.encode(Measured.make({ celsius: 21.5 }))
      assert.isTrue(Event.isBinary(encoded))
      assert.strictEqual(encoded.contentType, "application/x-float64")
      assert.strictEqual(encoded.metadata?.schemaVersion, 2)
      assert.strictEqual((encoded.data as Uint8Array).length, 8)
      yield* Sensor.append("sensor-1", [Measured.make({ celsius: 21.5 }), Noted.make({ text: "ok" })])
      const decoded = yield* Stream.runCollect(Sensor.read("sensor-1"))
      assert.deepStrictEqual(decoded.map((d) => d.event), [
        { _tag: "Measured", celsius: 21.5 },
        { _tag: "Noted", text: "ok" }
      ])
      assert.strictEqual(decoded[0].contentType, "application/x-float64")
    })))

  it.effect("an event stored as JSON by version 1 upcasts to the binary version 2", () =>
    run(Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("sensor-2", [{ type: "Measured", data: { celsius: -4 }, metadata: { schemaVersion: 1 } }])
      const [decoded] = yield* Stream.runCollect(Sensor.read("sensor-2"))
      assert.deepStrictEqual(decoded.event, { _tag: "Measured", celsius: -4 })
      assert.strictEqual(decoded.schemaVersion, 1)
    })))

  it.effect("bytes that do not decode are an EventDecodeError naming the event", () =>
    run(Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("sensor-3", [
        Event.binary("Measured", Uint8Array.of(1, 2), {
          contentType: "application/x-float64",
          metadata: { schemaVersion: 2 }
        })
      ])
      const error = yield* Effect.flip(Stream.runCollect(Sensor.read("sensor-3")))
      assert.strictEqual(error._tag, "EventDecodeError")
      assert.strictEqual((error as { eventType?: string }).eventType, "Measured")
    })))

  it.effect("a binary type whose schema does not encode to bytes fails at encode with InvalidEvent", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Sensor.encode(Wrong.make({ a: 1 })))
      assert.strictEqual(error._tag, "InvalidEvent")
      assert.include(error.detail, "not a Uint8Array")
    }))

  it("an invalid content type is refused at definition", () => {
    assert.throws(() => EventCodec.type("Bad", { schema: ReadingBytes, contentType: "nope" }), /media type/)
  })
})

describe("Transfer line format with binary events", () => {
  const base = `{"stream":"s-1","version":"0","id":"${crypto.randomUUID()}","type":"T"`

  it.effect("a binary line decodes to bytes; a JSON line (the old format) is unchanged", () =>
    Effect.gen(function*() {
      const binary = yield* Transfer.decodeLine(`${base},"contentType":"image/png","bytes":"AP8B","metadata":{}}`, 1)
      assert.deepStrictEqual(binary.data, Uint8Array.of(0, 255, 1))
      assert.strictEqual(binary.contentType, "image/png")
      assert.strictEqual(Transfer.encodeLine(binary), `${base},"contentType":"image/png","bytes":"AP8B","metadata":{}}`)
      const json = yield* Transfer.decodeLine(`${base},"data":{"a":1},"metadata":{}}`, 2)
      assert.deepStrictEqual(json.data, { a: 1 })
      assert.isUndefined(json.contentType)
      // A JSON event's checksum does not depend on the binary extension; a binary one covers its bytes.
      const other = yield* Transfer.decodeLine(`${base},"contentType":"image/png","bytes":"AP8C","metadata":{}}`, 3)
      assert.notStrictEqual(Transfer.eventChecksum(binary), Transfer.eventChecksum(other))
    }))

  it.effect("a line with both data and bytes, bad base64 or no content type is InvalidLine", () =>
    Effect.gen(function*() {
      for (
        const line of [
          `${base},"data":1,"contentType":"image/png","bytes":"AP8B"}`,
          `${base},"contentType":"image/png","bytes":"@@@"}`,
          `${base},"bytes":"AP8B"}`,
          `${base},"contentType":"image/png"}`
        ]
      ) {
        const error = yield* Effect.flip(Transfer.decodeLine(line, 7))
        assert.strictEqual(error._tag, "InvalidLine", line)
      }
    }))

  it.effect("an invalid content type is InvalidLine naming the line and a valid form, not a failed append", () =>
    Effect.gen(function*() {
      for (const contentType of [`""`, `"png"`, `"image/png\\n"`, `"${"a/b".padEnd(300, "c")}"`, "7", "null"]) {
        const line = `${base},"contentType":${contentType},"bytes":"AP8B","metadata":{}}`
        const error = yield* Effect.flip(Transfer.decodeLine(line, 9))
        assert.strictEqual(error._tag, "InvalidLine", line)
        assert.strictEqual(error.line, 9)
        assert.match(error.message, /contentType/, line)
      }
      const error = yield* Effect.flip(Transfer.decodeLine(`${base},"contentType":"png","bytes":"AP8B"}`, 3))
      assert.include(error.message, `such as "application/octet-stream"`)
    }))

  it("encodeData: JSON data as it is, a binary event's content type and base64 bytes, as a line has them", () => {
    assert.deepStrictEqual(Transfer.encodeData({ data: { a: 1 } }), { data: { a: 1 } })
    assert.deepStrictEqual(Transfer.encodeData({ data: null }), { data: null })
    assert.deepStrictEqual(
      Transfer.encodeData(Event.binary("Blob", Uint8Array.of(0, 255, 1), { contentType: "image/png" })),
      { contentType: "image/png", bytes: "AP8B" }
    )
    // Without a content type (a hand-built event), the default; empty bytes are an empty string.
    assert.deepStrictEqual(Transfer.encodeData({ data: new Uint8Array(0) }), {
      contentType: Event.defaultContentType,
      bytes: ""
    })
    const event = {
      stream: "s-1",
      version: 0n,
      id: crypto.randomUUID(),
      type: "T",
      schemaVersion: undefined,
      time: undefined,
      position: undefined,
      data: Uint8Array.of(0, 255, 1),
      contentType: "image/png",
      metadata: {}
    }
    const line = JSON.parse(Transfer.encodeLine(event))
    assert.deepStrictEqual({ contentType: line.contentType, bytes: line.bytes }, Transfer.encodeData(event))
  })
})
