// Dcb.decide with a codec (memory): the query's events decoded and folded as typed events, the
// decision's typed events encoded with their tags and appended under the condition, again on conflict;
// the query restricted to the codec's types for the read and the condition alike.
import { assert, describe, it } from "@effect/vitest"
import { Dcb, EventCodec, EventStore, MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CourseDefined, StudentEnrolled } from "./courses.ts"

const Courses = EventCodec.make([CourseDefined, StudentEnrolled])
type CourseEvent = EventCodec.Type<typeof Courses>

interface Seats {
  readonly seats: number
  readonly taken: number
  readonly tagsSeen: number
}

// Counts a course's seats and enrolments; `interfere` runs between the read and the append.
const enrol = (course: string, student: string, interfere: () => Effect.Effect<void, never, EventStore.EventStore>) =>
  Dcb.decide([{ tags: [`course:${course}`] }], {
    codec: Courses,
    initial: { seats: 0, taken: 0, tagsSeen: 0 } as Seats,
    evolve: (state, event: CourseEvent, decoded) => ({
      seats: event._tag === "CourseDefined" ? event.seats : state.seats,
      taken: state.taken + (event._tag === "StudentEnrolled" ? 1 : 0),
      tagsSeen: state.tagsSeen + (decoded.tags?.length ?? 0)
    }),
    decide: (state) =>
      state.taken >= state.seats
        ? Effect.fail("CourseFull" as const)
        : Effect.as(interfere(), [{
          stream: `enrolment-${course}-${student}`,
          events: [StudentEnrolled.make({ course, student })]
        }]),
    metadata: { correlationId: "c-1" },
    // No pause between attempts: the tests run on the TestClock.
    schedule: Schedule.recurs(5)
  })

const collect = <A, X, R>(stream: Stream.Stream<A, X, R>) =>
  Effect.map(Stream.runCollect(stream), (chunk) => Array.from(chunk))

describe("Dcb.decide with a codec", () => {
  it.effect("folds the decoded events, appends the typed decision with its tags, and decides again on conflict", () =>
    Effect.gen(function*() {
      yield* Courses.append("course-math", [CourseDefined.make({ course: "math", seats: 2 })])
      let once = true
      const decided = yield* enrol("math", "s1", () =>
        Effect.gen(function*() {
          // The first time, another student takes a seat between the read and the append.
          if (!once) return
          once = false
          yield* Courses.append("enrolment-math-s0", [StudentEnrolled.make({ course: "math", student: "s0" })])
        }).pipe(Effect.orDie))
      assert.strictEqual(decided.attempts, 2)
      // The second read: the definition (1 tag) and s0's enrolment (2 tags).
      assert.deepStrictEqual(decided.state, { seats: 2, taken: 1, tagsSeen: 3 })
      const store = yield* EventStore.EventStore
      const [appended] = yield* collect(store.read("enrolment-math-s1"))
      assert.deepStrictEqual(appended.tags, ["course:math", "student:s1"])
      assert.deepStrictEqual(appended.data, { course: "math", student: "s1" })
      assert.deepStrictEqual([appended.metadata.correlationId, appended.metadata.schemaVersion], ["c-1", 1])
      assert.strictEqual(decided.results[0].position, appended.position)
      // Full now: the decision's own error, not retried.
      const full = yield* Effect.flip(enrol("math", "s2", () => Effect.void))
      assert.strictEqual(full, "CourseFull")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("the query is restricted to the codec's types: other events are neither read nor conflicts", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* Courses.append("course-art", [CourseDefined.make({ course: "art", seats: 5 })])
      // An event of a type the codec does not know, with the course's tag: not decodable, not read.
      yield* store.append("notes", [{ type: "Noted", data: {}, tags: ["course:art"] }])
      let once = true
      const decided = yield* enrol("art", "s1", () =>
        Effect.gen(function*() {
          if (!once) return
          once = false
          yield* store.append("notes", [{ type: "Noted", data: {}, tags: ["course:art"] }])
        }).pipe(Effect.orDie))
      assert.strictEqual(decided.attempts, 1, "another type's event is no conflict")
      assert.deepStrictEqual(decided.state, { seats: 5, taken: 0, tagsSeen: 1 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a codec not built by EventCodec.make (a wrapper) folds the same through its decode", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* Courses.append("course-geo", [CourseDefined.make({ course: "geo", seats: 4 })])
      yield* Courses.append("enrolment-geo-s1", [StudentEnrolled.make({ course: "geo", student: "s1" })])
      const wrapped: EventCodec.EventCodec<CourseEvent> = { ...Courses }
      const decided = yield* Dcb.decide([{ tags: ["course:geo"] }], {
        codec: wrapped,
        initial: [] as ReadonlyArray<string>,
        evolve: (seen, event) => [...seen, event._tag],
        decide: () => Effect.succeed([])
      })
      assert.deepStrictEqual(decided.state, ["CourseDefined", "StudentEnrolled"])
      yield* store.append("course-geo", [{ type: "CourseDefined", data: {}, tags: ["course:geo"] }])
      const error = yield* Effect.flip(Dcb.decide([{ tags: ["course:geo"] }], {
        codec: wrapped,
        initial: 0,
        evolve: (count) => count + 1,
        decide: () => Effect.succeed([])
      }))
      assert.strictEqual(error._tag, "EventDecodeError")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("the query's types are the codec's: a misspelt type does not compile", () =>
    Effect.gen(function*() {
      const options = {
        codec: Courses,
        initial: 0,
        evolve: (count: number) => count + 1,
        decide: () => Effect.succeed([])
      }
      yield* Dcb.decide([{ types: ["StudentEnrolled"], tags: ["course:x"] }], options)
      const typo = (): unknown =>
        // @ts-expect-error "StudentEnroled" is not an event type of Courses
        Dcb.decide([{ types: ["StudentEnroled"], tags: ["course:x"] }], options)
      assert.isFunction(typo)
      // At run time an unknown type is dropped: the item is left with none, the query matches nothing.
      const misspelt = yield* Dcb.decide(
        [{ types: ["StudentEnroled"], tags: ["course:x"] }] as unknown as Dcb.TypedQuery<CourseEvent>,
        options
      )
      assert.strictEqual(misspelt.after, undefined)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("an event the codec cannot decode fails the decision with EventDecodeError", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("course-bad", [{ type: "CourseDefined", data: { course: "bad" }, tags: ["course:bad"] }])
      const error = yield* Effect.flip(enrol("bad", "s1", () => Effect.void))
      assert.isTrue(typeof error === "object" && error._tag === "EventDecodeError")
      if (typeof error === "object" && error._tag === "EventDecodeError") assert.strictEqual(error.stream, "course-bad")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a decision whose events do not encode fails with InvalidEvent, writes nothing, is not retried", () =>
    Effect.gen(function*() {
      const Hostile = EventCodec.type("Hostile", {
        schema: Schema.Struct({ n: Schema.Number }),
        tags: () => {
          throw new Error("no tags today")
        }
      })
      let decisions = 0
      const error = yield* Effect.flip(Dcb.decide([{ tags: ["h"] }], {
        codec: EventCodec.make([Hostile]),
        initial: 0,
        evolve: (count) => count + 1,
        decide: () => {
          decisions++
          return Effect.succeed([{ stream: "hostile", events: [Hostile.make({ n: 1 })] }])
        }
      }))
      assert.strictEqual(error._tag, "InvalidEvent")
      if (error._tag === "InvalidEvent") {
        assert.deepStrictEqual([error.stream, error.index, error.reason], ["hostile", 0, "InvalidTags"])
        assert.match(error.detail, /no tags today/)
      }
      assert.strictEqual(decisions, 1)
      const store = yield* EventStore.EventStore
      assert.strictEqual((yield* store.streamInfo("hostile")).status, "missing")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a decision of several parts appends them atomically, each with the condition", () =>
    Effect.gen(function*() {
      const decided = yield* Dcb.decide([{ tags: ["course:bio"] }], {
        codec: Courses,
        initial: 0,
        evolve: (count) => count + 1,
        decide: () =>
          Effect.succeed([
            { stream: "course-bio", events: [CourseDefined.make({ course: "bio", seats: 1 })] },
            { stream: "enrolment-bio-s1", events: [StudentEnrolled.make({ course: "bio", student: "s1" })] }
          ])
      })
      assert.deepStrictEqual(decided.results.map((result) => result.stream), ["course-bio", "enrolment-bio-s1"])
      const read = yield* collect(Courses.readAll({ query: [{ tags: ["course:bio"] }] }))
      assert.deepStrictEqual(read.map((event) => [event.event._tag, event.tags]), [
        ["CourseDefined", ["course:bio"]],
        ["StudentEnrolled", ["course:bio", "student:s1"]]
      ])
      // Deciding nothing appends nothing; the state is folded from both.
      const none = yield* Dcb.decide([{ tags: ["course:bio"] }], {
        codec: Courses,
        initial: 0,
        evolve: (count) => count + 1,
        decide: () => Effect.succeed([])
      })
      assert.deepStrictEqual([none.state, none.results, none.after], [2, [], read[1].position])
    }).pipe(Effect.provide(MemoryStore.layer())))
})
