import { assert, describe, it } from "@effect/vitest"
import { Event, ExpectedVersion, MemoryStore, StoreAdmin, Transfer } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const store = Effect.map(MemoryStore.make(), ({ eventStore }) => eventStore)

// 3 streams, interleaved, with a soft delete in the middle (versions continue after it).
const seed = Effect.fnUntraced(function*(events: number) {
  const source = yield* store
  for (let i = 0; i < events; i++) {
    yield* source.append(`cart-${i % 3}`, [
      Event.make(i % 2 === 0 ? "Added" : "Removed", { i, nested: { z: 1, a: [i, "é\u2028"] } }, {
        correlationId: `c-${i}`,
        ...(i % 4 === 0 ? { schemaVersion: 2 } : {})
      })
    ])
    if (i === 10) yield* source.deleteStream("cart-1")
  }
  return source
})

// Every event without its position and time (the target's own), by stream and version: inside a
// batch the global order is grouped by stream.
const everything = (s: Effect.Success<typeof store>) =>
  Effect.map(
    Stream.runCollect(Stream.map(s.readAll(), ({ createdAt: _, position: __, ...rest }) => rest)),
    (events) =>
      events.sort((a, b) => a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : Number(a.version - b.version))
  )

describe("Transfer", () => {
  it.effect("copies memory -> memory: same ids, versions, data and metadata; verification passes", () =>
    Effect.gen(function*() {
      const source = yield* seed(50)
      const target = yield* store
      const progress = yield* Stream.runCollect(Transfer.copy(source, target, { batchSize: 7 }))
      assert.deepStrictEqual(progress.map((p) => p.events), [7, 14, 21, 28, 35, 42, 49, 50])
      assert.deepStrictEqual(yield* everything(target), yield* everything(source))
      const verification = yield* Transfer.verify(source, target)
      assert.isTrue(verification.ok)
      assert.strictEqual(verification.streams, 3)
      assert.strictEqual(verification.sourceEvents, 50)
      assert.strictEqual(verification.targetChecksum, verification.sourceChecksum)
    }))

  it.effect("is idempotent and resumes: a second run after a partial one writes only what is missing", () =>
    Effect.gen(function*() {
      const source = yield* seed(40)
      const target = yield* store
      // A crash after three batches.
      yield* Stream.runDrain(Stream.take(Transfer.copy(source, target, { batchSize: 5 }), 3))
      assert.strictEqual((yield* Stream.runCollect(target.readAll())).length, 15)
      yield* Stream.runDrain(Transfer.copy(source, target, { batchSize: 5 }))
      yield* Stream.runDrain(Transfer.copy(source, target, { batchSize: 5 }))
      assert.strictEqual((yield* Stream.runCollect(target.readAll())).length, 40)
      assert.isTrue((yield* Transfer.verify(source, target)).ok)
    }))

  it.effect("verification names a stream whose events differ", () =>
    Effect.gen(function*() {
      const source = yield* seed(9)
      const target = yield* store
      yield* Stream.runDrain(Transfer.copy(source, target))
      yield* target.append("cart-2", [Event.make("Extra", {})], { expected: ExpectedVersion.exact(2) })
      const verification = yield* Transfer.verify(source, target)
      assert.isFalse(verification.ok)
      assert.deepStrictEqual(verification.mismatches, [{
        stream: "cart-2",
        source: 3,
        target: 4,
        checksumsEqual: false
      }])
    }))

  it.effect("export lines -> import lines round-trips, in any chunking", () =>
    Effect.gen(function*() {
      const source = yield* seed(30)
      const text = (yield* Stream.runCollect(Transfer.exportLines(source))).join("")
      const lines = text.split("\n")
      assert.strictEqual(lines.length, 31)
      const first = JSON.parse(lines[0])
      assert.deepStrictEqual(Object.keys(first), [
        "stream",
        "version",
        "id",
        "type",
        "schemaVersion",
        "time",
        "position",
        "data",
        "metadata"
      ])
      assert.strictEqual(first.version, "0")
      assert.strictEqual(first.schemaVersion, 2)
      // Split the text at odd places: inside lines, inside multi-byte characters' strings.
      const pieces = Array.from({ length: Math.ceil(text.length / 13) }, (_, i) => text.slice(i * 13, i * 13 + 13))
      const target = yield* store
      yield* Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(pieces))))
      assert.deepStrictEqual(yield* everything(target), yield* everything(source))
    }))

  it.effect("a bad line fails with its number; the events before it are written, nothing after", () =>
    Effect.gen(function*() {
      const source = yield* seed(3)
      const lines = yield* Stream.runCollect(Transfer.exportLines(source))
      const other = yield* Stream.runCollect(Transfer.exportLines(yield* seed(3)))
      const text = lines.join("") + "{\"stream\":1}\n" + other.join("")
      const target = yield* store
      const error = yield* Effect.flip(
        Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.make(text)), { batchSize: 2 }))
      )
      assert.strictEqual(error._tag, "InvalidLine")
      if (error._tag === "InvalidLine") assert.strictEqual(error.line, 4)
      assert.strictEqual((yield* Stream.runCollect(target.readAll())).length, 3)
    }))

  it.effect("a line whose stream skips versions is refused by the target (versions are kept, not invented)", () =>
    Effect.gen(function*() {
      const source = yield* seed(6)
      const lines = (yield* Stream.runCollect(Transfer.exportLines(source))).filter((line) =>
        !line.includes(`"stream":"cart-0","version":"0"`)
      )
      const target = yield* store
      const error = yield* Effect.flip(
        Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(lines))))
      )
      assert.strictEqual(error._tag, "WrongExpectedVersion")
    }))
})

describe("StoreAdmin (memory)", () => {
  it.effect("counts, lists and deletes checkpoints", () =>
    Effect.gen(function*() {
      const { admin, eventStore } = yield* MemoryStore.make()
      for (let i = 0; i < 5; i++) yield* eventStore.append(`order-${i % 2}`, [Event.make(i < 3 ? "A" : "B", {})])
      yield* eventStore.append("user-1", [Event.make("A", {})])
      yield* eventStore.saveCheckpoint("projector", 2n)
      const stats = yield* admin.stats
      assert.strictEqual(stats.events, 6)
      assert.strictEqual(stats.streams, 3)
      assert.strictEqual(stats.head, 6n)
      assert.deepStrictEqual(stats.byType, [{ key: "A", count: 4 }, { key: "B", count: 2 }])
      assert.deepStrictEqual(stats.byCategory, [{ key: "order", count: 5 }, { key: "user", count: 1 }])
      assert.deepStrictEqual(yield* admin.checkpoints, [{ name: "projector", position: 2n, lag: 4 }])
      assert.isTrue(yield* admin.deleteCheckpoint("projector"))
      assert.isFalse(yield* admin.deleteCheckpoint("projector"))
      assert.deepStrictEqual(yield* admin.checkpoints, [])
      assert.deepStrictEqual(yield* StoreAdmin.scanStats(eventStore), { ...stats, databaseBytes: undefined })
    }))
})
