// DCB tags on typed events: an event type's `tags` function puts them on every encode (encode,
// encodeAll, append, Aggregate.decide), they are validated like any tags (a typed InvalidEvent, never a
// defect, even when the function throws), and decoded events carry the recorded tags.
import { assert, describe, it } from "@effect/vitest"
import { Aggregate, EventCodec, EventStore, MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as Stream from "effect/Stream"
import { CourseDefined, StudentEnrolled } from "./courses.ts"

const Noted = EventCodec.type("Noted", { schema: Schema.Struct({ text: Schema.String }) })
const Courses = EventCodec.make([CourseDefined, StudentEnrolled, Noted])

// An event type whose tags function is the caller's, for the hostile cases (tests run concurrently:
// each makes its own).
const hostileType = (tags: () => unknown) => {
  const Hostile = EventCodec.type("Hostile", {
    schema: Schema.Struct({ n: Schema.Number }),
    tags: () => tags() as ReadonlyArray<string>
  })
  return { Hostile, HostileEvents: EventCodec.make([Noted, Hostile]) }
}

const collect = <A, X, R>(stream: Stream.Stream<A, X, R>) =>
  Effect.map(Stream.runCollect(stream), (chunk) => Array.from(chunk))

describe("EventCodec tags", () => {
  it.effect("encode and encodeAll put the event type's tags on; types without a tags function get none", () =>
    Effect.gen(function*() {
      const enrolled = yield* Courses.encode(StudentEnrolled.make({ course: "math", student: "s7" }))
      assert.deepStrictEqual(enrolled.tags, ["course:math", "student:s7"])
      assert.deepStrictEqual(enrolled.data, { course: "math", student: "s7" })
      const all = yield* Courses.encodeAll("course-math", [
        CourseDefined.make({ course: "math", seats: 10 }),
        Noted.make({ text: "hi" })
      ])
      assert.deepStrictEqual(all[0].tags, ["course:math"])
      assert.isFalse("tags" in all[1], "no tags key on an event type without a tags function")
      // An empty list is no tags.
      const { Hostile, HostileEvents } = hostileType(() => [])
      assert.isFalse("tags" in (yield* HostileEvents.encode(Hostile.make({ n: 1 }))))
    }))

  it.effect("the tags are the function's at encode time: a list changed afterwards changes nothing", () =>
    Effect.gen(function*() {
      const list = ["a"]
      const { Hostile, HostileEvents } = hostileType(() => list)
      const encoded = yield* HostileEvents.encode(Hostile.make({ n: 1 }))
      list.push("b")
      assert.deepStrictEqual(encoded.tags, ["a"])
    }))

  it.effect("append stores the tags; reads return them, decoded events carry them, queries select by them", () =>
    Effect.gen(function*() {
      yield* Courses.append("course-math", [CourseDefined.make({ course: "math", seats: 10 })])
      yield* Courses.append("enrolment-math-s7", [
        StudentEnrolled.make({ course: "math", student: "s7" }),
        Noted.make({ text: "welcome" })
      ])
      const store = yield* EventStore.EventStore
      const raw = yield* collect(store.readAll())
      assert.deepStrictEqual(raw.map((event) => event.tags), [
        ["course:math"],
        ["course:math", "student:s7"],
        undefined
      ])
      const decoded = yield* collect(Courses.read("enrolment-math-s7"))
      assert.deepStrictEqual(decoded.map((event) => event.tags), [["course:math", "student:s7"], undefined])
      assert.deepStrictEqual(decoded[0].event, { _tag: "StudentEnrolled", course: "math", student: "s7" })
      const students = yield* collect(Courses.readAll({ query: [{ tags: ["student:s7"] }] }))
      assert.deepStrictEqual(students.map((event) => event.event._tag), ["StudentEnrolled"])
      const course = yield* collect(Courses.readAll({ query: [{ tags: ["course:math"] }] }))
      assert.deepStrictEqual(course.map((event) => event.event._tag), ["CourseDefined", "StudentEnrolled"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("invalid tags, or a tags function that throws, fail with InvalidEvent (InvalidTags), never a defect", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, () => unknown, RegExp]> = [
        ["empty tag", () => [""], /tags of the Hostile event/],
        ["whitespace", () => ["a b"], /whitespace/],
        ["too long", () => ["x".repeat(129)], /129 characters/],
        ["too many", () => Array.from({ length: 33 }, (_, i) => `t${i}`), /33 tags/],
        ["twice", () => ["same", "same"], /same/],
        ["not strings", () => [1], /Hostile/],
        ["not an array", () => "course:c1", /array/],
        ["undefined", () => undefined, /array/],
        ["throws an Error", () => {
          throw new Error("no course")
        }, /tags function of Hostile threw: no course/],
        ["throws a string", () => {
          throw "boom"
        }, /threw: "boom"/]
      ]
      for (const [name, tags, detail] of cases) {
        const { Hostile, HostileEvents } = hostileType(tags)
        const one = yield* Effect.exit(HostileEvents.encode(Hostile.make({ n: 1 })))
        assert.isTrue(Exit.isFailure(one) && Exit.hasFails(one), `${name}: a failure, not a defect`)
        const error = yield* Effect.flip(HostileEvents.encode(Hostile.make({ n: 1 })))
        assert.strictEqual(error._tag, "InvalidEvent", name)
        assert.strictEqual(error.reason, "InvalidTags", name)
        assert.match(error.detail, detail, name)
        // In a batch, the error names the stream and the index, as for an untyped append.
        const inBatch = yield* Effect.flip(
          HostileEvents.append("hostile-1", [Noted.make({ text: "fine" }), Hostile.make({ n: 2 })])
        )
        assert.strictEqual(inBatch._tag, "InvalidEvent", name)
        if (inBatch._tag === "InvalidEvent") {
          assert.deepStrictEqual([inBatch.stream, inBatch.index, inBatch.reason], ["hostile-1", 1, "InvalidTags"], name)
        }
      }
      const store = yield* EventStore.EventStore
      assert.strictEqual((yield* store.streamInfo("hostile-1")).status, "missing", "nothing was written")
      // The same tags given by hand fail the store's own check with the same reason.
      const byHand = yield* Effect.flip(
        store.append("hostile-2", [{ type: "Hostile", data: { n: 1 }, tags: ["a b"] }])
      )
      assert.strictEqual(byHand._tag, "InvalidEvent")
      if (byHand._tag === "InvalidEvent") assert.strictEqual(byHand.reason, "InvalidTags")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a binary event type takes tags too", () =>
    Effect.gen(function*() {
      const Bytes = Schema.Uint8Array.pipe(Schema.decodeTo(Schema.Struct({ sensor: Schema.String }), {
        decode: SchemaGetter.transform((bytes: Uint8Array) => ({ sensor: new TextDecoder().decode(bytes) })),
        encode: SchemaGetter.transform(({ sensor }: { readonly sensor: string }) => new TextEncoder().encode(sensor))
      }))
      const Pinged = EventCodec.type("Pinged", {
        schema: Bytes,
        contentType: "application/x-sensor",
        tags: (event) => [`sensor:${event.sensor}`]
      })
      const Pings = EventCodec.make([Pinged])
      yield* Pings.append("pings", [Pinged.make({ sensor: "s1" })])
      const [read] = yield* collect(Pings.readAll({ query: [{ tags: ["sensor:s1"] }] }))
      assert.deepStrictEqual(read.event, { _tag: "Pinged", sensor: "s1" })
      assert.deepStrictEqual([read.contentType, read.tags], ["application/x-sensor", ["sensor:s1"]])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("Aggregate.decide appends its events with their tags", () =>
    Effect.gen(function*() {
      const decided = yield* Aggregate.decide("course-art", {
        codec: Courses,
        initial: 0,
        evolve: (count) => count + 1,
        decide: () => Effect.succeed([CourseDefined.make({ course: "art", seats: 3 })])
      })
      assert.strictEqual(decided.version, 0n)
      const [defined] = yield* collect(Courses.readAll({ query: [{ tags: ["course:art"] }] }))
      assert.deepStrictEqual(defined.tags, ["course:art"])
      // Invalid tags fail the decision with InvalidEvent, not retried, nothing written.
      const { Hostile, HostileEvents } = hostileType(() => ["a b"])
      const error = yield* Effect.flip(Aggregate.decide("hostile-agg", {
        codec: HostileEvents,
        initial: 0,
        evolve: (count) => count + 1,
        decide: () => Effect.succeed([Hostile.make({ n: 1 })])
      }))
      assert.strictEqual(error._tag, "InvalidEvent")
      const store = yield* EventStore.EventStore
      assert.strictEqual((yield* store.streamInfo("hostile-agg")).status, "missing")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it("a tags option that is not a function is refused when the type is defined", () => {
    assert.throws(
      () => EventCodec.type("X", { schema: Noted.schema, tags: ["x"] as unknown as () => ReadonlyArray<string> }),
      /tags must be a function/
    )
  })
})
