// Binary events on SQLite's append paths: a single-stream append carrying them (alone or mixed with
// JSON events) takes SqliteAppend's synchronous write (no `sql.transaction` span), as a JSON append
// does; the statement path (any SqlClient, no synchronous write) takes the transaction, which shows
// the check can tell the two apart. Both read back byte for byte. A tagged binary event written by
// the synchronous write reads back with its tags and bytes, and a query on its tag finds it. Tagged
// and conditional binary appends take the synchronous write as well (the dialect's
// appendOneBinaryDcb), and their condition is checked there.
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion } from "@strata/core"
import { SqliteDialect, SqlStore } from "@strata/sql"
import { SqliteAppend, SqliteClient, SqliteStore } from "@strata/sqlite"
import { spanNames } from "@strata/test-utils/Spans"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const everyByte = () => Uint8Array.from({ length: 256 }, (_, i) => i)

// Appends a binary event, then a mixed append, and reads both back; the span names of each append.
const appendAndRead = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const alone = yield* spanNames(store.append("blob-1", [Event.binary("Blob", everyByte())]))
  const mixed = yield* spanNames(store.append("blob-1", [
    Event.make("Json", { a: 1 }),
    Event.binary("Blob", new Uint8Array(0), { contentType: "image/png" }),
    Event.binary("Blob", everyByte().reverse(), { contentType: "text/plain; charset=utf-8" })
  ]))
  const json = yield* spanNames(store.append("json-1", [Event.make("Json", { b: 2 })]))
  const read = yield* Stream.runCollect(store.read("blob-1"))
  assert.deepStrictEqual(read.map((event) => event.version), [0n, 1n, 2n, 3n])
  assert.deepStrictEqual(read[0].data, everyByte())
  assert.strictEqual(read[0].contentType, Event.defaultContentType)
  assert.deepStrictEqual(read[1].data, { a: 1 })
  assert.isUndefined(read[1].contentType)
  assert.deepStrictEqual(read[2].data, new Uint8Array(0))
  assert.strictEqual(read[2].contentType, "image/png")
  assert.deepStrictEqual(read[3].data, everyByte().reverse())
  assert.strictEqual(read[3].contentType, "text/plain; charset=utf-8")
  return { alone, mixed, json }
})

// A tagged binary append, and one with a DCB condition; the span names of each, and what reads back.
const appendDcb = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const tagged = yield* spanNames(store.append("dcb-1", [
    { ...Event.binary("Blob", everyByte(), { contentType: "image/png" }), tags: ["owner:ada"] }
  ]))
  const conditional = yield* spanNames(store.append(
    "dcb-2",
    [{ ...Event.binary("Blob", Uint8Array.of(7)), tags: ["owner:bob"] }],
    { condition: { failIfEventsMatch: [{ tags: ["owner:bob"] }] } }
  ))
  // The condition is checked on that path too: a second append under it fails, writing nothing.
  const refused = yield* Effect.flip(store.append(
    "dcb-3",
    [Event.binary("Blob", Uint8Array.of(8))],
    { condition: { failIfEventsMatch: [{ tags: ["owner:bob"] }] } }
  ))
  assert.strictEqual(refused._tag, "AppendConditionFailed")
  const found = yield* Stream.runCollect(store.readAll({ query: [{ tags: ["owner:ada"] }, { tags: ["owner:bob"] }] }))
  assert.deepStrictEqual(found.map((event) => event.stream), ["dcb-1", "dcb-2"])
  assert.deepStrictEqual(found[0].data, everyByte())
  assert.strictEqual(found[0].contentType, "image/png")
  assert.deepStrictEqual(found[1].data, Uint8Array.of(7))
  assert.deepStrictEqual(found[1].tags, ["owner:bob"])
  assert.strictEqual((yield* Stream.runCollect(store.read("dcb-3"))).length, 0)
  return { tagged, conditional }
})

describe("SQLite binary append paths", () => {
  it.effect("binary and mixed appends take the synchronous write, as JSON appends do", () =>
    Effect.gen(function*() {
      const { alone, json, mixed } = yield* appendAndRead
      assert.notInclude(json, "sql.transaction")
      assert.notInclude(alone, "sql.transaction")
      assert.notInclude(mixed, "sql.transaction")
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:" }))))

  it.effect("the statement path takes the transaction (what the check above tells apart)", () =>
    Effect.gen(function*() {
      const { alone, mixed } = yield* appendAndRead
      assert.include(alone, "sql.transaction")
      assert.include(mixed, "sql.transaction")
    }).pipe(
      Effect.provide(
        SqlStore.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
          Layer.provide(SqliteClient.layer({ filename: ":memory:", safeIntegers: true }))
        )
      )
    ))

  it.effect("tagged and conditional binary appends take the synchronous write too (appendOneBinaryDcb)", () =>
    Effect.gen(function*() {
      const { conditional, tagged } = yield* appendDcb
      assert.notInclude(tagged, "sql.transaction")
      assert.notInclude(conditional, "sql.transaction")
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:" }))))

  it.effect("on the statement path, tagged and conditional binary appends take the transaction", () =>
    Effect.gen(function*() {
      const { conditional, tagged } = yield* appendDcb
      assert.include(tagged, "sql.transaction")
      assert.include(conditional, "sql.transaction")
    }).pipe(
      Effect.provide(
        SqlStore.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
          Layer.provide(SqliteClient.layer({ filename: ":memory:", safeIntegers: true }))
        )
      )
    ))

  it.effect("the synchronous write stores a tagged binary event: bytes, content type, tag rows", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const client = yield* SqliteClient.SqliteClient
      const events = yield* Event.prepare("tagged-1", [
        { ...Event.binary("Blob", everyByte(), { contentType: "image/png" }), tags: ["owner:ada"] },
        { ...Event.make("Json", { c: 3 }), tags: ["owner:ada"] }
      ])
      const outcome = yield* SqliteAppend.appendOne(client)(client, {
        stream: "tagged-1",
        category: "tagged",
        expected: ExpectedVersion.noStream,
        events,
        createdAt: Date.now()
      })
      assert.strictEqual(outcome._tag, "Ok")
      const read = yield* Stream.runCollect(store.read("tagged-1"))
      assert.deepStrictEqual(read[0].data, everyByte())
      assert.strictEqual(read[0].contentType, "image/png")
      assert.deepStrictEqual(read[0].tags, ["owner:ada"])
      assert.deepStrictEqual(read[1].data, { c: 3 })
      const found = yield* Stream.runCollect(store.readAll({ query: [{ tags: ["owner:ada"] }] }))
      assert.deepStrictEqual(found.map((event) => event.type), ["Blob", "Json"])
      assert.deepStrictEqual(found[0].data, everyByte())
    }).pipe(Effect.provide(SqliteStore.layer({ filename: ":memory:" }))))
})
