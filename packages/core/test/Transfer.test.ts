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

  it.effect("verification detects a copy with equal counts but different data, metadata or ids", () =>
    Effect.gen(function*() {
      const source = yield* seed(9)
      const lines = (yield* Stream.runCollect(Transfer.exportLines(source))).join("").split("\n").filter((l) =>
        l !== ""
      )
      const mutations: ReadonlyArray<readonly [string, (event: Record<string, any>) => void]> = [
        ["data", (event) => void (event.data.i = 1000)],
        ["nested data", (event) => void (event.data.nested.a[1] = "e")],
        ["metadata", (event) => void (event.metadata.correlationId = "other")],
        ["id", (event) => void (event.id = "00000000-0000-4000-8000-000000000000")]
      ]
      for (const [what, mutate] of mutations) {
        // The fifth event (cart-1, version 1) changed, everything else as the source.
        const copy = lines.map((line, i) => {
          if (i !== 4) return line + "\n"
          const event = JSON.parse(line)
          mutate(event)
          return JSON.stringify(event) + "\n"
        })
        const target = yield* store
        yield* Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(copy))))
        const verification = yield* Transfer.verify(source, target)
        assert.strictEqual(verification.targetEvents, verification.sourceEvents, what)
        assert.isFalse(verification.ok, `a different ${what} is found`)
        assert.notStrictEqual(verification.targetChecksum, verification.sourceChecksum, what)
        assert.deepStrictEqual(verification.mismatches, [{
          stream: JSON.parse(lines[4]).stream,
          source: 3,
          target: 3,
          checksumsEqual: false
        }], what)
      }
      // The unchanged copy passes.
      const same = yield* store
      yield* Stream.runDrain(Transfer.load(same, Transfer.parseLines(Stream.fromIterable(lines.map((l) => l + "\n")))))
      assert.isTrue((yield* Transfer.verify(source, same)).ok)
    }))

  it.effect("copies and round-trips DCB tags: the target answers the same queries; verify sees changed tags", () =>
    Effect.gen(function*() {
      const source = yield* store
      yield* source.append("course-1", [
        { ...Event.make("Enrolled", { s: 1 }), tags: ["course:1", "student:1"] },
        Event.make("Noted", {})
      ])
      yield* source.append("course-2", [{ ...Event.make("Enrolled", { s: 2 }), tags: ["course:2", "student:1"] }])
      const target = yield* store
      yield* Stream.runDrain(Transfer.copy(source, target, { batchSize: 2 }))
      const q = [{ types: ["Enrolled"], tags: ["student:1"] }]
      const ids = (s: Effect.Success<typeof store>) =>
        Effect.map(Stream.runCollect(s.readAll({ query: q })), (events) => events.map((e) => [e.id, e.tags]))
      assert.deepStrictEqual(yield* ids(target), yield* ids(source))
      assert.lengthOf(yield* ids(target), 2)
      const lines = (yield* Stream.runCollect(Transfer.exportLines(source))).join("").split("\n")
      assert.deepStrictEqual(JSON.parse(lines[0]).tags, ["course:1", "student:1"])
      assert.isFalse("tags" in JSON.parse(lines[1]))
      const loaded = yield* store
      yield* Stream.runDrain(
        Transfer.load(loaded, Transfer.parseLines(Stream.fromIterable(lines.map((l) => `${l}\n`))))
      )
      assert.deepStrictEqual(yield* ids(loaded), yield* ids(source))
      assert.isTrue((yield* Transfer.verify(source, loaded)).ok)
      // The same events with other tags: verification fails.
      const retagged = yield* store
      const changed = lines.filter((l) => l !== "").map((l) => l.replace("student:1", "student:9"))
      yield* Stream.runDrain(
        Transfer.load(retagged, Transfer.parseLines(Stream.fromIterable(changed.map((l) => `${l}\n`))))
      )
      assert.isFalse((yield* Transfer.verify(source, retagged)).ok)
      // A line whose tags are not strings.
      const bad = yield* Effect.flip(Stream.runDrain(Transfer.load(
        yield* store,
        Transfer.parseLines(Stream.make(
          lines[0].replace(`"tags":["course:1","student:1"]`, `"tags":[1]`) + "\n"
        ))
      )))
      assert.strictEqual(bad._tag, "InvalidLine")
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

// Lines of the format for one stream, with the given versions (fresh ids); `bare`: no time, no position.
const linesOf = (stream: string, versions: ReadonlyArray<number>, bare = false) =>
  versions.map((version, i) =>
    JSON.stringify({
      stream,
      version: String(version),
      id: Event.makeEventId(),
      type: "T",
      ...(bare ? {} : { time: "2026-12-04T20:57:46.123Z", position: String(100 + i) }),
      data: { i },
      metadata: {}
    }) + "\n"
  )

describe("Transfer: versions inside a stream", () => {
  it.effect("versions 0,1,3,3,0 are refused at line 3 (the gap), not renumbered; nothing of that batch is written", () =>
    Effect.gen(function*() {
      const target = yield* store
      const error = yield* Effect.flip(
        Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(linesOf("s", [0, 1, 3, 3, 0])))))
      )
      assert.strictEqual(error._tag, "InvalidSequence")
      if (error._tag === "InvalidSequence") {
        assert.strictEqual(error.line, 3)
        assert.strictEqual(error.stream, "s")
        assert.strictEqual(error.version, 3n)
        assert.strictEqual(error.expected, 2n)
        assert.match(error.message, /^line 3: stream s has version 3 where 2 was expected/)
      }
      assert.strictEqual((yield* Stream.runCollect(target.readAll())).length, 0)
    }))

  it.effect("a repeated or decreasing version is refused with its line; the batches before it are written", () =>
    Effect.gen(function*() {
      for (
        const [versions, line] of [[[0, 1, 2, 3, 3], 5], [[0, 1, 2, 3, 1], 5], [[0, 1, 2, 3, 4, 5, 0], 7]] as const
      ) {
        const target = yield* store
        // Another stream's lines in between: the check is per stream, across batches.
        const text = linesOf("s", versions).flatMap((l, i) => [l, ...linesOf(`o-${i}`, [0])])
        const error = yield* Effect.flip(
          Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(text)), { batchSize: 4 }))
        )
        assert.strictEqual(error._tag, "InvalidSequence")
        if (error._tag === "InvalidSequence") assert.strictEqual(error.line, 2 * line - 1)
        // Whole batches of 4 before the bad line's batch, nothing of that one.
        const written = (yield* Stream.runCollect(target.readAll())).length
        assert.strictEqual(written, Math.floor((2 * line - 2) / 4) * 4)
      }
    }))

  it.effect("a copy whose source skips versions (a type filter) is refused by event number, not renumbered", () =>
    Effect.gen(function*() {
      const source = yield* seed(9)
      const target = yield* store
      const error = yield* Effect.flip(
        Stream.runDrain(Transfer.copy(source, target, { filter: { types: ["Added"] } }))
      )
      // cart-0 has Added at versions 0 and 2 (events 0 and 6): version 1 of it is not selected.
      assert.strictEqual(error._tag, "InvalidSequence")
      if (error._tag === "InvalidSequence") {
        assert.strictEqual(error.line, undefined)
        assert.match(error.message, /^event \d+: stream cart-\d has version 2 where 1 was expected/)
      }
    }))

  it.effect("time and position may be left out: the target stamps and numbers its own", () =>
    Effect.gen(function*() {
      const target = yield* store
      const decoded = yield* Transfer.decodeLine(linesOf("s", [0], true)[0], 1)
      assert.strictEqual(decoded.time, undefined)
      assert.strictEqual(decoded.position, undefined)
      const lines = linesOf("s", [0, 1, 2], true)
      yield* Stream.runDrain(Transfer.load(target, Transfer.parseLines(Stream.fromIterable(lines))))
      assert.deepStrictEqual((yield* Stream.runCollect(target.read("s"))).map((e) => e.version), [0n, 1n, 2n])
      // A time that is there must still be a date.
      const bad = yield* Effect.flip(
        Transfer.decodeLine(`{"stream":"s","version":"0","id":"x","type":"T","time":"soon","data":1}`, 4)
      )
      assert.match(bad.message, /line 4 .*"time" is not an ISO 8601 date/)
    }))

  it.effect("a rerun counts the events it found already present", () =>
    Effect.gen(function*() {
      const source = yield* seed(20)
      const target = yield* store
      // A crash after two batches.
      yield* Stream.runDrain(Stream.take(Transfer.copy(source, target, { batchSize: 5 }), 2))
      const first = yield* Stream.runLast(Transfer.copy(source, target, { batchSize: 5 }))
      assert.deepStrictEqual(first._tag === "Some" && [first.value.events, first.value.skipped], [20, 10])
      const again = yield* Stream.runLast(Transfer.copy(source, target, { batchSize: 5 }))
      assert.deepStrictEqual(again._tag === "Some" && [again.value.events, again.value.skipped], [20, 20])
      assert.isTrue((yield* Transfer.verify(source, target)).ok)
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
