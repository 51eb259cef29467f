/**
 * Bad and hostile input: invalid stream names on every operation, events that are not plain JSON,
 * too large, badly typed or empty, and strings that would break a careless backend. Every refusal
 * is checked to have written nothing.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, Event, EventStore, StreamName } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { collect, failsWith, names, readAll, readStream, streamFailsWith, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Strings that break stores which build SQL, JSON paths or shell commands by concatenation, or that
 * mishandle escapes, NUL, surrogate pairs or Unicode separators.
 *
 * @category constants
 * @since 0.1.0
 */
export const hostileStrings: ReadonlyArray<string> = [
  "it's",
  "\"double\"",
  "'; DROP TABLE events; --",
  "\"); DROP TABLE events; --",
  "Robert'); DROP TABLE students;--",
  "back\\slash \\\\ \\u0000 \\n",
  "ünïcödé Ω ß ç",
  "名前と絵文字",
  "🎉 👩‍👩‍👧‍👦 🇳🇱",
  "\u0000",
  "nul\u0000inside",
  "line\u2028para\u2029sep",
  "\t\r\n",
  "${x} $1 ? :name @p0 %s %_",
  "<script>alert(1)</script>",
  "null",
  "{\"json\":true}",
  "\ufeffbom \u202eright-to-left",
  "",
  " ",
  "x".repeat(10_000)
]

/** Names (legal) that carry quotes, SQL, pattern characters and non-ASCII text. */
const hostileNameSuffixes: ReadonlyArray<string> = [
  "it's \"quoted\"",
  "'; DROP TABLE events; --",
  "a\\b\\\\c",
  "100%_*?[x]",
  "ünïcödé-名前-🎉",
  "${x}:name@p0",
  "with space",
  "dot.and/slash"
]

const badNames: ReadonlyArray<readonly [string, () => string]> = [
  ["an empty", () => ""],
  ["a 257-character", () => `${names().stream()}-`.padEnd(StreamName.maxLength + 1, "x")],
  ["a NUL-containing", () => `${names().stream()}\u0000x`],
  ["a newline-containing", () => `${names().stream()}\nx`],
  ["a DEL-containing", () => `${names().stream()}\u007fx`],
  ["a leading-whitespace", () => ` ${names().stream()}`],
  ["a trailing-whitespace", () => `${names().stream()} `],
  ["a $-prefixed", () => `$${names().stream()}`],
  // SQLite and PostgreSQL would store both as U+FFFD: two names, one stream.
  ["a lone-high-surrogate", () => `${names().stream()}-\ud800`],
  ["a lone-low-surrogate", () => `${names().stream()}-\udbff\udbff`]
]

/** Arrays nested `depth` levels deep around `leaf`, built without recursion. */
export const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value: unknown = leaf
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

/**
 * Registers the bad-input tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const inputSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout, maxEventBytes } = resolve(options)

  /** Appends one event with `data` (and `metadata`) to a fresh stream: it must fail NotJson, writing nothing. */
  const refusedAsNotJson = (data: unknown, metadata?: unknown) =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const n = names()
      const stream = n.stream()
      const event = { type: n.type("E"), data, ...(metadata === undefined ? {} : { metadata }) } as never
      const error = yield* failsWith("InvalidEvent")(store.append(stream, [{ type: n.type("E"), data: {} }, event]))
      assert.strictEqual(error.reason, "NotJson")
      assert.strictEqual(error.index, 1)
      assert.strictEqual(error.stream, stream)
      assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      return error
    })

  describe("invalid stream names", () => {
    for (const [label, make] of badNames) {
      it.effect(`append to ${label} stream name fails with InvalidStreamName and writes nothing`, () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const name = make()
          const error = yield* failsWith("InvalidStreamName")(store.append(name, [{ type: n.type("E"), data: {} }]))
          assert.strictEqual(error.stream, name)
          assert.isFalse(error.isRetryable)
          assert.strictEqual((yield* readAll({ filter: { types: [n.type("E")] } })).length, 0)
        }))

      it.effect(`read of ${label} stream name fails with InvalidStreamName`, () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const name = make()
          const error = yield* streamFailsWith("InvalidStreamName")(store.read(name))
          assert.strictEqual(error.stream, name)
        }))

      it.effect(`subscribe to ${label} stream name fails with InvalidStreamName`, () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const name = make()
          const error = yield* streamFailsWith("InvalidStreamName")(store.subscribe(name)).pipe(
            within(deliveryTimeout, "an invalid subscription fails")
          )
          assert.strictEqual(error.stream, name)
        }))

      it.effect(`streamInfo and deleteStream of ${label} stream name fail with InvalidStreamName`, () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const name = make()
          assert.strictEqual((yield* failsWith("InvalidStreamName")(store.streamInfo(name))).stream, name)
          assert.strictEqual((yield* failsWith("InvalidStreamName")(store.deleteStream(name))).stream, name)
        }))

      it.effect(
        `tombstoneStream, setRetention, saveSnapshot and loadSnapshot of ${label} stream name fail with InvalidStreamName`,
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const name = make()
            yield* failsWith("InvalidStreamName")(store.tombstoneStream(name))
            yield* failsWith("InvalidStreamName")(store.setRetention(name, { maxCount: 1 }))
            yield* failsWith("InvalidStreamName")(store.saveSnapshot(name, { version: 0n, state: {} }))
            yield* failsWith("InvalidStreamName")(store.loadSnapshot(name))
          })
      )
    }

    it.effect(`a name of exactly ${StreamName.maxLength} characters is accepted and round-trips`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = `${n.stream()}-`.padEnd(StreamName.maxLength, "y")
        assert.strictEqual(stream.length, StreamName.maxLength)
        yield* store.append(stream, [{ type: n.type("E"), data: {} }])
        const [event] = yield* readStream(stream)
        assert.strictEqual(event.stream, stream)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "active")
      }))

    it.effect("legal names with quotes, SQL, pattern characters and Unicode round-trip exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        for (const suffix of hostileNameSuffixes) {
          const stream = n.stream(suffix)
          const result = yield* store.append(stream, [{ type: n.type("E"), data: { suffix } }])
          assert.strictEqual(result.stream, stream)
          const read = yield* readStream(stream)
          assert.deepStrictEqual(read.map((e) => [e.stream, e.data]), [[stream, { suffix }]])
          const info = yield* store.streamInfo(stream)
          assert.strictEqual(info.stream, stream)
          assert.strictEqual(info.lastVersion, 0n)
        }
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => e.stream), hostileNameSuffixes.map((s) => n.stream(s)))
        for (const suffix of hostileNameSuffixes) {
          const prefixed = yield* readAll({ filter: { streamPrefixes: [n.stream(suffix)] } })
          assert.deepStrictEqual(prefixed.map((e) => e.stream), [n.stream(suffix)])
        }
        const [first] = yield* Stream.runCollect(Stream.take(store.subscribe(n.stream(hostileNameSuffixes[1])), 1))
          .pipe(within(deliveryTimeout, "subscribe to a hostile name delivers its event"))
        assert.strictEqual(first.stream, n.stream(hostileNameSuffixes[1]))
      }))

    it.effect("names that differ only in case or trailing characters are different streams", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("Cart"), [{ type: n.type("E"), data: 1 }])
        yield* store.append(n.stream("cart"), [{ type: n.type("E"), data: 2 }, { type: n.type("E"), data: 3 }])
        yield* store.append(n.stream("cart."), [{ type: n.type("E"), data: 4 }])
        assert.deepStrictEqual((yield* readStream(n.stream("Cart"))).map((e) => e.data), [1])
        assert.deepStrictEqual((yield* readStream(n.stream("cart"))).map((e) => e.data), [2, 3])
        assert.deepStrictEqual((yield* readStream(n.stream("cart."))).map((e) => e.data), [4])
      }))
  })

  describe("events that are not plain JSON", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    const cyclicArray: Array<unknown> = [1]
    cyclicArray.push(cyclicArray)
    class Point {
      readonly x: number
      constructor(x: number) {
        this.x = x
      }
    }
    const cases: ReadonlyArray<readonly [string, () => unknown]> = [
      ["a BigInt", () => ({ amount: 10n })],
      ["a cycle through an object", () => cyclic],
      ["a cycle through an array", () => ({ list: cyclicArray })],
      ["a function", () => ({ f: () => 1 })],
      ["a Date", () => ({ at: new Date(0) })],
      ["a Map", () => ({ m: new Map([["a", 1]]) })],
      ["a Set", () => ({ s: new Set([1]) })],
      ["a class instance", () => ({ p: new Point(1) })],
      ["NaN", () => ({ n: Number.NaN })],
      ["Infinity", () => ({ n: Number.POSITIVE_INFINITY })],
      ["undefined in an array", () => ({ list: [1, undefined, 3] })],
      ["a hole in a sparse array", () => ({ list: [1, , 3] })],
      ["a symbol value", () => ({ s: Symbol("x") })],
      ["a symbol key", () => ({ [Symbol("k")]: 1 })],
      ["a Uint8Array", () => ({ bytes: new Uint8Array([1, 2]) })],
      ["a lone surrogate in a string", () => ({ text: "a\ud800b" })],
      ["a lone low surrogate at the end of a string", () => ({ text: "ok\udc00" })],
      ["a lone surrogate in a key", () => ({ ["k\udfff"]: 1 })],
      ["undefined as the whole data", () => undefined]
    ]
    for (const [label, make] of cases) {
      it.effect(`data containing ${label} fails with InvalidEvent NotJson and writes nothing`, () =>
        Effect.asVoid(refusedAsNotJson(make())))
    }

    it.effect("metadata containing a BigInt fails with InvalidEvent NotJson and writes nothing", () =>
      Effect.gen(function*() {
        const error = yield* refusedAsNotJson({}, { correlationId: "x", count: 1n })
        assert.include(error.detail, "metadata")
      }))

    it.effect("metadata that is not an object fails with InvalidEvent NotJson and writes nothing", () =>
      Effect.gen(function*() {
        yield* refusedAsNotJson({}, ["not", "an", "object"])
        yield* refusedAsNotJson({}, "text")
        yield* refusedAsNotJson({}, new Date(0))
      }))

    it.effect("an event that is not an object fails with InvalidEvent and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("InvalidEvent")(store.append(stream, [null as never]))
        assert.strictEqual(error.index, 0)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("undefined object properties are dropped like JSON.stringify drops them", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [{ type: n.type("E"), data: { kept: 1, dropped: undefined } }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.data, { kept: 1 })
        assert.isFalse(Object.hasOwn(event.data as object, "dropped"))
      }))
  })

  describe("event size, type and batch", () => {
    it.effect("an event larger than the limit fails with InvalidEvent TooLarge and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: {} }, {
            type: n.type("E"),
            data: "x".repeat(maxEventBytes)
          }])
        )
        assert.strictEqual(error.reason, "TooLarge")
        assert.strictEqual(error.index, 1)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("an event of exactly the limit (data plus metadata as UTF-8 JSON) is accepted", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        // JSON of the data is the string plus two quotes; the metadata is `{}`.
        const data = "x".repeat(maxEventBytes - 4)
        yield* store.append(stream, [{ type: n.type("E"), data }])
        const [event] = yield* readStream(stream)
        assert.strictEqual((event.data as string).length, maxEventBytes - 4)
        const over = yield* failsWith("InvalidEvent")(store.append(stream, [{ type: n.type("E"), data: `${data}x` }]))
        assert.strictEqual(over.reason, "TooLarge")
        assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 0n)
      }))

    it.effect("metadata counts toward the size limit", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const half = "x".repeat(Math.ceil(maxEventBytes / 2))
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: half, metadata: { note: half } }])
        )
        assert.strictEqual(error.reason, "TooLarge")
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("size is counted in UTF-8 bytes, not characters", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        // Each "é" is one UTF-16 unit but two UTF-8 bytes: well under the limit in characters, over it in bytes.
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: "é".repeat(Math.ceil(maxEventBytes / 2)) }])
        )
        assert.strictEqual(error.reason, "TooLarge")
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("the size limit is per event: a batch of large events under the limit each is accepted", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const big = "z".repeat(Math.floor(maxEventBytes * 0.6))
        const result = yield* store.append(stream, [{ type: n.type("E"), data: big }, { type: n.type("E"), data: big }])
        assert.strictEqual(result.nextExpectedVersion, 1n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => (e.data as string).length), [
          big.length,
          big.length
        ])
      }))

    const badTypes: ReadonlyArray<readonly [string, unknown]> = [
      ["an empty", ""],
      ["a control-character", "Opened\u0000"],
      ["a newline", "Opened\nClosed"],
      ["a leading-whitespace", " Opened"],
      ["a 257-character", "T".repeat(257)],
      ["a $-prefixed", "$Opened"],
      ["a lone-surrogate", "Opened\ud800"],
      ["a non-string", 42]
    ]
    for (const [label, type] of badTypes) {
      it.effect(`${label} event type fails with InvalidEvent InvalidType and writes nothing`, () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const stream = n.stream()
          const error = yield* failsWith("InvalidEvent")(
            store.append(stream, [{ type: n.type("Ok"), data: {} }, { type: type as string, data: {} }])
          )
          assert.strictEqual(error.reason, "InvalidType")
          assert.strictEqual(error.index, 1)
          assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
        }))
    }

    it.effect("an empty batch fails with InvalidEvent Empty and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("InvalidEvent")(store.append(stream, []))
        assert.strictEqual(error.reason, "Empty")
        assert.strictEqual(error.index, undefined)
        assert.strictEqual(error.stream, stream)
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "missing")
        assert.strictEqual(info.lastVersion, undefined)
      }))

    it.effect("a bad event late in a batch reports its index and none of the batch is written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [{ type: n.type("E"), data: 0 }])
        const batch = [1, 2, 3, 4].map((i) => ({ type: n.type("E"), data: i as unknown }))
        batch[3] = { type: n.type("E"), data: { bad: 1n } }
        const error = yield* failsWith("InvalidEvent")(store.append(stream, batch))
        assert.strictEqual(error.index, 3)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.data), [0])
      }))
  })

  describe("hostile strings", () => {
    it.effect("hostile strings in event data round-trip exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, hostileStrings.map((text) => ({ type: n.type("E"), data: { text } })))
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => (e.data as { text: string }).text), [...hostileStrings])
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => (e.data as { text: string }).text), [...hostileStrings])
      }))

    it.effect("hostile strings as object keys and top-level data round-trip exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const keyed = Object.fromEntries(hostileStrings.slice(0, 18).map((text, i) => [text, i]))
        yield* store.append(stream, [
          { type: n.type("E"), data: keyed },
          ...hostileStrings.map((text) => ({ type: n.type("E"), data: text }))
        ])
        const [first, ...rest] = yield* readStream(stream)
        assert.deepStrictEqual(first.data, keyed)
        assert.deepStrictEqual(rest.map((e) => e.data), [...hostileStrings])
      }))

    it.effect("hostile strings in metadata round-trip exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const metadata = {
          correlationId: hostileStrings[2],
          causationId: hostileStrings[9],
          notes: [...hostileStrings],
          [hostileStrings[1]]: hostileStrings[8]
        }
        yield* store.append(stream, [{ type: n.type("E"), data: {}, metadata }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.metadata, metadata)
      }))

    it.effect("hostile strings in event types round-trip and filter exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const types = hostileNameSuffixes.map((suffix) => n.type(suffix))
        yield* store.append(stream, types.map((type) => ({ type, data: {} })))
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.type), types)
        for (const type of types) {
          assert.deepStrictEqual((yield* readAll({ filter: { types: [type] } })).map((e) => e.type), [type])
        }
        const sub = yield* collect(store.subscribeAll({ filter: { types: [types[1]] } }), deliveryTimeout)
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.type), [types[1]])
      }))

    it.effect("hostile strings in snapshot state and checkpoint names round-trip exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.saveSnapshot(n.stream(), { version: 0n, state: { texts: [...hostileStrings] } })
        const snapshot = Option.getOrThrow(yield* store.loadSnapshot(n.stream()))
        assert.deepStrictEqual(snapshot.state, { texts: [...hostileStrings] })
        for (const [i, suffix] of hostileNameSuffixes.entries()) {
          yield* store.saveCheckpoint(n.checkpoint(suffix), BigInt(i))
        }
        for (const [i, suffix] of hostileNameSuffixes.entries()) {
          assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint(suffix)), Option.some(BigInt(i)))
        }
      }))
  })
  describe("well-formed Unicode, nesting depth and -0", () => {
    it.effect("metadata with a lone surrogate fails with InvalidEvent NotJson and writes nothing", () =>
      Effect.gen(function*() {
        const error = yield* refusedAsNotJson({}, { correlationId: "x\ud800" })
        assert.include(error.detail, "surrogate")
      }))

    it.effect("-0 in data, metadata, snapshots and documents is stored as 0 (JSON has one zero)", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const stream = n.stream()
        const isPositiveZero = (value: unknown, what: string) =>
          assert.isTrue(Object.is(value, 0), `${what} read back as ${Object.is(value, -0) ? "-0" : String(value)}`)
        yield* store.append(stream, [{ type: n.type("E"), data: { n: -0, list: [-0] }, metadata: { m: -0 } }])
        const [event] = yield* readStream(stream)
        const data = event.data as { n: number; list: Array<number> }
        isPositiveZero(data.n, "data.n")
        isPositiveZero(data.list[0], "data.list[0]")
        isPositiveZero(event.metadata.m, "metadata.m")
        const [global] = yield* readAll({ filter: { categories: [n.category] } })
        isPositiveZero((global.data as { n: number }).n, "readAll data.n")
        yield* store.saveSnapshot(stream, { version: 0n, state: { n: -0 } })
        isPositiveZero((Option.getOrThrow(yield* store.loadSnapshot(stream)).state as { n: number }).n, "snapshot")
        const c = DocumentStore.collection(n.collection(), Schema.Unknown)
        yield* docs.put(c, "doc", { n: -0 })
        isPositiveZero((Option.getOrThrow(yield* docs.get(c, "doc")).value as { n: number }).n, "document")
        assert.strictEqual(yield* docs.count(c, { where: { n: 0 } }), 1)
        assert.strictEqual(yield* docs.count(c, { where: { n: -0 } }), 1)
      }))

    it.effect("a surrogate pair (well-formed) in names, types, data and keys round-trips exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream("\ud83c\udf89")
        const type = n.type("\ud83c\udf89")
        const data = { "\ud83d\ude00": ["\ud800\udc00", "\udbff\udfff"] }
        yield* store.append(stream, [{ type, data }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual([event.stream, event.type, event.data], [stream, type, data])
      }))

    it.effect("a filter with a lone surrogate fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* streamFailsWith("InvalidArgument")(store.readAll({ filter: { types: [n.type("E\ud800")] } }))
        yield* streamFailsWith("InvalidArgument")(store.readAll({ filter: { categories: [`${n.category}\udc00`] } }))
        yield* streamFailsWith("InvalidArgument")(
          store.subscribeAll({ filter: { streamPrefixes: [`${n.category}-\ud800`] } })
        ).pipe(within(deliveryTimeout, "an invalid subscription fails"))
      }))

    it.effect("a checkpoint name with a lone surrogate fails with InvalidArgument and saves nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* failsWith("InvalidArgument")(store.saveCheckpoint(n.checkpoint("\ud800"), 1n))
        yield* failsWith("InvalidArgument")(store.loadCheckpoint(n.checkpoint("\ud800")))
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint("\ufffd"))))
      }))

    it.effect("snapshot state with a lone surrogate or 100,000 levels of nesting fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        for (const state of [{ text: "\udc00" }, { ["k\ud800"]: 1 }, nested(100_000)]) {
          yield* failsWith("InvalidArgument")(store.saveSnapshot(n.stream(), { version: 0n, state }))
        }
        const deep = yield* failsWith("InvalidArgument")(
          store.saveSnapshot(n.stream(), { version: 0n, state: nested(Event.maxJsonDepth + 1) })
        )
        assert.include(deep.detail, "deep")
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(n.stream())))
      }))

    it.effect("data nested 100,000 levels deep fails with InvalidEvent TooDeep, not a stack overflow", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: {} }, { type: n.type("E"), data: nested(100_000) }])
        )
        assert.strictEqual(error.reason, "TooDeep")
        assert.strictEqual(error.index, 1)
        assert.include(error.detail, `${Event.maxJsonDepth}`)
        assert.isFalse(error.isRetryable)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect("metadata nested 100,000 levels deep fails with InvalidEvent TooDeep and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: {}, metadata: { deep: nested(100_000) } }])
        )
        assert.strictEqual(error.reason, "TooDeep")
        assert.include(error.detail, "metadata")
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))

    it.effect(`data nested exactly ${Event.maxJsonDepth} levels round-trips; one level more is TooDeep`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const deepest = nested(Event.maxJsonDepth - 1, { leaf: true })
        yield* store.append(stream, [{ type: n.type("E"), data: deepest }])
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.data), [deepest])
        const error = yield* failsWith("InvalidEvent")(
          store.append(stream, [{ type: n.type("E"), data: nested(Event.maxJsonDepth, { leaf: true }) }])
        )
        assert.strictEqual(error.reason, "TooDeep")
        assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 0n)
      }))

    it.effect("a document with a lone surrogate in a string, a key or its id fails with InvalidDocument", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = DocumentStore.collection(n.collection(), Schema.Unknown)
        for (const value of [{ text: "a\ud800" }, { ["\udc00"]: 1 }, ["\udbff"]]) {
          yield* failsWith("InvalidDocument")(docs.put(c, "doc", value))
        }
        const id = yield* failsWith("InvalidDocument")(docs.put(c, "doc-\ud800", {}))
        assert.include(id.detail, "surrogate")
        yield* failsWith("InvalidDocument")(docs.get(c, "doc-\ud800"))
        assert.strictEqual(yield* docs.count(c), 0)
      }))

    it.effect("a document nested 100,000 levels deep fails with InvalidDocument, also through a recursive schema", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = DocumentStore.collection(n.collection(), Schema.Unknown)
        const error = yield* failsWith("InvalidDocument")(docs.put(c, "doc", { deep: nested(100_000) }))
        assert.include(error.detail, "deep")
        interface Tree {
          readonly children: ReadonlyArray<Tree>
        }
        const Tree: Schema.Codec<Tree> = Schema.Struct({
          children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
        })
        let tree: Tree = { children: [] }
        for (let i = 0; i < 100_000; i++) tree = { children: [tree] }
        const trees = DocumentStore.collection(n.collection("trees"), Tree)
        yield* failsWith("InvalidDocument")(docs.put(trees, "tree", tree))
        assert.strictEqual(yield* docs.count(c), 0)
        assert.strictEqual(yield* docs.count(trees), 0)
      }))

    it.effect("a document query comparing with a lone surrogate fails with InvalidQuery", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = DocumentStore.collection(n.collection(), Schema.Unknown)
        yield* docs.put(c, "doc", { name: "\ufffd" })
        yield* failsWith("InvalidQuery")(docs.count(c, { where: { name: "\ud800" } }))
        yield* streamFailsWith("InvalidQuery")(docs.find(c, { where: { name: { in: ["\udc00"] } } }))
      }))
  })
}
