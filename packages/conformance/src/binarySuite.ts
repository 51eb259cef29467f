/**
 * Binary payloads: events whose data is bytes with a content type (`Event.binary`) instead of JSON.
 * Every byte value survives every read path (read, readAll, subscribe, subscribeAll, DCB query
 * reads where the backend has them) byte for byte; empty and near-limit payloads; JSON and binary
 * events mixed in one append; content types as given (an invalid one `InvalidContentType`); the size
 * limit counted in bytes; stored bytes that no caller can change; bytes that cannot be copied (a
 * detached buffer, a Proxy) refused typed on every write path; and `Transfer` moving binary events
 * through lines and between stores.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, Event, EventStore, MemoryStore, Transfer, UnitOfWork } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { failsWith, names, readAll, readStream, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/** Every byte value once, in order. */
const everyByte = (): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => i)

/** `length` bytes of a fixed pseudo-random pattern (every value occurs). */
const pattern = (length: number, seed = 7): Uint8Array => {
  const bytes = new Uint8Array(length)
  let x = seed >>> 0
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

// Uint8Arrays whose bytes cannot be read: a buffer detached by a transfer, and a Proxy around an array
// (its methods refuse the Proxy as their receiver). Made afresh for each use.
const unreadableBytes = (): ReadonlyArray<readonly [string, Uint8Array]> => {
  const detached = Uint8Array.of(1, 2, 3)
  structuredClone(detached, { transfer: [detached.buffer] })
  return [["a detached buffer", detached], ["a Proxy", new Proxy(Uint8Array.of(1, 2), {})]]
}

// The same bytes, as a plain Uint8Array (a Buffer or a view compares unequal to one by prototype).
const plain = (data: unknown): Uint8Array => {
  assert.instanceOf(data, Uint8Array, "a binary event's data reads back as a Uint8Array")
  return new Uint8Array(data as Uint8Array)
}

const assertBytes = (actual: unknown, expected: Uint8Array, what: string) => {
  const got = plain(actual)
  assert.strictEqual(got.length, expected.length, `${what}: length`)
  const first = got.findIndex((byte, i) => byte !== expected[i])
  assert.strictEqual(first, -1, `${what}: first differing byte at ${first}`)
}

/**
 * Registers the binary payload tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const binarySuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { dcb, deliveryTimeout, maxEventBytes, supportsAppendMany, unitsOfWork } = resolve(options)

  describe("binary payloads", () => {
    it.effect("every byte value 0-255 reads back byte for byte through read, readAll, subscribe and subscribeAll", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const bytes = everyByte()
        const reversed = everyByte().reverse()
        yield* store.append(n.stream(), [
          Event.binary(n.type("Blob"), bytes),
          Event.binary(n.type("Blob"), reversed, { contentType: "application/x-test" })
        ])
        const checkAll = (events: ReadonlyArray<Event.RecordedEvent>, path: string) => {
          assert.strictEqual(events.length, 2, `${path}: count`)
          assertBytes(events[0].data, bytes, `${path} #0`)
          assertBytes(events[1].data, reversed, `${path} #1`)
          assert.strictEqual(events[0].contentType, Event.defaultContentType, `${path}: default content type`)
          assert.strictEqual(events[1].contentType, "application/x-test", `${path}: content type`)
          assert.isTrue(Event.isBinary(events[0]), `${path}: isBinary`)
        }
        checkAll(yield* readStream(n.stream()), "read")
        checkAll([...(yield* readStream(n.stream(), { direction: "backwards" }))].reverse(), "read backwards")
        checkAll(yield* readAll({ filter: { categories: [n.category] } }), "readAll")
        checkAll(
          yield* Stream.runCollect(Stream.take(store.subscribe(n.stream(), { from: "start" }), 2)).pipe(
            within(deliveryTimeout, "subscribe delivers the binary events")
          ),
          "subscribe"
        )
        checkAll(
          yield* Stream.runCollect(
            Stream.take(store.subscribeAll({ from: "start", filter: { categories: [n.category] } }), 2)
          ).pipe(within(deliveryTimeout, "subscribeAll delivers the binary events")),
          "subscribeAll"
        )
      }))

    it.effect("live subscriptions deliver binary events appended after they start", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const bytes = pattern(1000)
        const [live] = yield* Effect.all([
          Stream.runCollect(
            Stream.take(store.subscribeAll({ from: "start", filter: { categories: [n.category] } }), 1)
          ).pipe(within(deliveryTimeout, "a live binary event is delivered")),
          Effect.delay(store.append(n.stream(), [Event.binary(n.type("Blob"), bytes)]), "100 millis")
        ], { concurrency: 2 })
        assertBytes(live[0].data, bytes, "live subscribeAll")
      }))

    it.effect("empty bytes are an event with empty data, not JSON and not missing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), [Event.binary(n.type("Empty"), new Uint8Array(0))])
        const [event] = yield* readStream(n.stream())
        assertBytes(event.data, new Uint8Array(0), "empty")
        assert.strictEqual(event.contentType, Event.defaultContentType)
        const [global] = yield* readAll({ filter: { categories: [n.category] } })
        assertBytes(global.data, new Uint8Array(0), "empty via readAll")
      }))

    it.effect(
      "a payload at the size limit reads back whole; one byte over fails with InvalidEvent TooLarge",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const metadata = { note: "m" }
          // The limit counts the bytes plus the metadata's UTF-8 JSON.
          const room = maxEventBytes - JSON.stringify(metadata).length
          const big = pattern(room, 11)
          yield* store.append(n.stream(), [Event.binary(n.type("Big"), big, { metadata })])
          const [event] = yield* readStream(n.stream())
          assertBytes(event.data, big, "near-limit payload")
          assert.deepStrictEqual(event.metadata.note, "m")
          const error = yield* failsWith("InvalidEvent")(
            store.append(n.stream(), [Event.binary(n.type("Big"), pattern(room + 1), { metadata })])
          )
          assert.strictEqual(error.reason, "TooLarge")
          assert.strictEqual((yield* readStream(n.stream())).length, 1, "nothing of the refused append is stored")
        }),
      { timeout: 120_000 }
    )

    it.effect("JSON and binary events mixed in one append keep their order, kinds and versions", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const bytes = pattern(300)
        yield* store.append(n.stream(), [
          { type: n.type("Json"), data: { i: 0 } },
          Event.binary(n.type("Bin"), bytes, { contentType: "application/protobuf" }),
          { type: n.type("Json"), data: [1, "two"] },
          Event.binary(n.type("Bin"), everyByte())
        ])
        const read = yield* readStream(n.stream())
        assert.deepStrictEqual(read.map((e) => e.version), [0n, 1n, 2n, 3n])
        assert.deepStrictEqual(read[0].data, { i: 0 })
        assert.isUndefined(read[0].contentType, "a JSON event has no content type")
        assertBytes(read[1].data, bytes, "binary #1")
        assert.strictEqual(read[1].contentType, "application/protobuf")
        assert.deepStrictEqual(read[2].data, [1, "two"])
        assertBytes(read[3].data, everyByte(), "binary #3")
        if (supportsAppendMany) {
          yield* store.appendMany([
            { stream: n.stream("a"), events: [Event.binary(n.type("Bin"), bytes)] },
            { stream: n.stream("b"), events: [{ type: n.type("Json"), data: 1 }, Event.binary(n.type("Bin"), bytes)] }
          ])
          assertBytes((yield* readStream(n.stream("a")))[0].data, bytes, "appendMany a")
          const b = yield* readStream(n.stream("b"))
          assert.deepStrictEqual(b[0].data, 1)
          assertBytes(b[1].data, bytes, "appendMany b")
        }
      }))

    it.effect("content types round-trip as given, parameters included", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const types = ["image/png", "application/vnd.example+cbor", "text/plain; charset=utf-8", "application/x-proto"]
        yield* store.append(
          n.stream(),
          types.map((contentType, i) => Event.binary(n.type("Typed"), Uint8Array.of(i), { contentType }))
        )
        assert.deepStrictEqual((yield* readStream(n.stream())).map((e) => e.contentType), types)
      }))

    it.effect("an invalid content type, or one on JSON data, is InvalidEvent and nothing is written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        for (const contentType of ["", "png", "image/png\n", "a/b".padEnd(300, "c"), 7 as unknown as string]) {
          const error = yield* failsWith("InvalidEvent")(
            store.append(n.stream(), [Event.binary(n.type("Bad"), Uint8Array.of(1), { contentType })])
          )
          assert.strictEqual(error.reason, "InvalidContentType", JSON.stringify(contentType))
          assert.match(error.detail, /give a media type such as application\/octet-stream$/)
        }
        const error = yield* failsWith("InvalidEvent")(
          store.append(n.stream(), [{ type: n.type("Json"), data: { a: 1 }, contentType: "image/png" }])
        )
        assert.strictEqual(error.reason, "InvalidContentType")
        assert.match(error.detail, /only a binary event .* such as application\/octet-stream$/)
        assert.strictEqual((yield* readStream(n.stream())).length, 0)
      }))

    it.effect(
      "bytes that cannot be copied (a detached buffer, a Proxy) fail typed on append, appendMany, document put and units of work, writing nothing",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const notes = DocumentStore.collection(n.collection(), Schema.Unknown)
          for (const [label, bytes] of unreadableBytes()) {
            const batch = [Event.make(n.type("Fine"), { ok: true }), Event.binary(n.type("Bad"), bytes)]
            const refused = (
              error: { readonly reason: string; readonly index?: number | undefined; readonly detail: string }
            ) => {
              assert.strictEqual(error.reason, "NotJson", label)
              assert.strictEqual(error.index, 1, `${label}: the event's index`)
              assert.include(error.detail, "new Uint8Array(bytes)", `${label}: says what to pass`)
            }
            refused(yield* failsWith("InvalidEvent")(store.append(n.stream(), batch)))
            if (supportsAppendMany) {
              refused(
                yield* failsWith("InvalidEvent")(store.appendMany([
                  { stream: n.stream("many"), events: [Event.make(n.type("Fine"), 1)] },
                  { stream: n.stream(), events: batch }
                ]))
              )
            }
            refused(
              yield* failsWith("InvalidEvent")(
                docs.put(notes, "doc", { n: 1 }, { events: [{ stream: n.stream(), events: batch }] })
              )
            )
            if (unitsOfWork) {
              refused(
                yield* failsWith("InvalidEvent")(UnitOfWork.commit({
                  appends: [{ stream: n.stream(), events: batch }],
                  documents: [{ collection: notes, id: "doc", value: { n: 2 } }]
                }))
              )
            }
          }
          assert.strictEqual((yield* readStream(n.stream())).length, 0, "nothing appended")
          assert.strictEqual((yield* readStream(n.stream("many"))).length, 0, "nothing of appendMany")
          assert.isTrue(Option.isNone(yield* docs.get(notes, "doc")), "no document written")
        })
    )

    it.effect("stored bytes cannot be changed through the appended array or through a read's array", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const bytes = everyByte()
        const event = Event.binary(n.type("Blob"), bytes)
        yield* store.append(n.stream(), [event])
        bytes.fill(0)
        const [first] = yield* readStream(n.stream())
        assertBytes(first.data, everyByte(), "after changing the appended array")
        ;(first.data as Uint8Array).fill(1)
        const [again] = yield* readStream(n.stream())
        assertBytes(again.data, everyByte(), "after changing a read's array")
      }))

    if (dcb) {
      it.effect("query reads (DCB) return tagged binary events byte for byte", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const tag = `bin:${n.category}`
          const bytes = pattern(500)
          yield* store.append(n.stream(), [
            { ...Event.binary(n.type("Tagged"), bytes, { contentType: "image/webp" }), tags: [tag] },
            { type: n.type("Json"), data: { j: 1 }, tags: [tag] }
          ])
          const found = yield* Stream.runCollect(store.readAll({ query: [{ tags: [tag] }] }))
          assert.strictEqual(found.length, 2)
          assertBytes(found[0].data, bytes, "query read")
          assert.strictEqual(found[0].contentType, "image/webp")
          assert.deepStrictEqual(found[0].tags, [tag])
          assert.deepStrictEqual(found[1].data, { j: 1 })
        }))
    }

    it.effect(
      "Transfer: lines and store-to-store copies carry binary events byte for byte, both ways",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const bytes = everyByte()
          yield* store.append(n.stream(), [
            Event.binary(n.type("Blob"), bytes, { contentType: "image/png", metadata: { k: "v" } }),
            { type: n.type("Json"), data: { j: 1 } },
            Event.binary(n.type("Blob"), new Uint8Array(0))
          ])
          const filter = { categories: [n.category] }
          // Out as lines and back: the line carries base64, the event comes back as bytes.
          const lines = yield* Stream.runCollect(Transfer.exportLines(store, { filter }))
          assert.match(lines[0], /"contentType":"image\/png","bytes":"AAECAw/)
          assert.notInclude(lines[0], `"data"`)
          const parsed = yield* Stream.runCollect(Transfer.parseLines(Stream.fromIterable(lines)))
          assertBytes(parsed[0].data, bytes, "parsed line")
          assert.strictEqual(parsed[0].contentType, "image/png")
          assert.deepStrictEqual(parsed[1].data, { j: 1 })
          // Into a memory store from the lines, and verified against this store.
          const memory = yield* Effect.provide(
            Effect.gen(function*() {
              return yield* EventStore.EventStore
            }),
            MemoryStore.layer({ maxEventBytes })
          )
          yield* Stream.runDrain(Transfer.load(memory, Stream.fromIterable(parsed)))
          const verification = yield* Transfer.verify(store, memory, { filter })
          assert.isTrue(verification.ok, `verify: ${JSON.stringify(verification, (_, v) => String(v))}`)
          const copied = yield* Stream.runCollect(memory.read(n.stream()))
          assertBytes(copied[0].data, bytes, "loaded into memory")
          assert.strictEqual(copied[0].contentType, "image/png")
          assert.deepStrictEqual(copied[0].metadata.k, "v")
          assertBytes(copied[2].data, new Uint8Array(0), "empty bytes loaded into memory")
          // And from another store into this one (this backend's write path through Transfer).
          const m = names()
          yield* memory.append(m.stream(), [
            Event.binary(m.type("Blob"), pattern(2000, 3), { contentType: "application/zip" }),
            { type: m.type("Json"), data: null }
          ])
          yield* Stream.runDrain(Transfer.copy(memory, store, { filter: { categories: [m.category] } }))
          const back = yield* readStream(m.stream())
          assertBytes(back[0].data, pattern(2000, 3), "copied into this store")
          assert.strictEqual(back[0].contentType, "application/zip")
          assert.strictEqual(back[1].data, null)
          assert.isUndefined(back[1].contentType)
        }),
      { timeout: 120_000 }
    )
  })
}
