// The DCB guide's examples (docs/dcb.md quotes each region between `// #region` and `// #endregion`;
// examples/test/dcb.test.ts runs them on memory and SQLite and checks every value the guide states).
import { Dcb, EventCodec, EventStore } from "@strata/strata"
import { Effect, Schema, Stream } from "effect"

// #region events
// Tags name the entities an event concerns. A course and a student are not streams here: the
// enrolment concerns both, and each decision reads what it needs by tag. Each event type puts its
// tags on from the event, whenever it is encoded.
const CourseDefined = EventCodec.type("CourseDefined", {
  schema: Schema.Struct({ course: Schema.String, seats: Schema.Int }),
  tags: (event) => [`course:${event.course}`]
})

const StudentEnrolled = EventCodec.type("StudentEnrolled", {
  schema: Schema.Struct({ course: Schema.String, student: Schema.String }),
  tags: (event) => [`course:${event.course}`, `student:${event.student}`]
})

const Courses = EventCodec.make([CourseDefined, StudentEnrolled])
// #endregion events

// #region enrol
// At most `seats` students per course, at most 3 courses per student, nobody twice.
export const enrol = (course: string, student: string) =>
  Dcb.decide(
    // The decision's consistency boundary: the course (its definition and enrolments) and the
    // student's enrolments. An item without types selects every type of the codec.
    [{ tags: [`course:${course}`] }, { types: ["StudentEnrolled"], tags: [`student:${student}`] }],
    {
      codec: Courses,
      initial: { seats: 0, taken: 0, courses: 0, already: false },
      evolve: (state, event) =>
        event._tag === "CourseDefined" ? { ...state, seats: event.seats } : {
          ...state,
          taken: state.taken + (event.course === course ? 1 : 0),
          courses: state.courses + (event.student === student ? 1 : 0),
          already: state.already || (event.course === course && event.student === student)
        },
      decide: (state) =>
        state.already
          ? Effect.succeed([]) // enrolled already: nothing to do
          : state.taken >= state.seats
          ? Effect.fail("CourseFull" as const)
          : state.courses >= 3
          ? Effect.fail("TooManyCourses" as const)
          : Effect.succeed([{
            stream: `enrolment-${course}-${student}`,
            events: [StudentEnrolled.make({ course, student })]
          }])
    }
  )
// #endregion enrol

// #region race
// Twelve students race for a course of ten seats, all at once: exactly ten get in.
export const race = Effect.gen(function*() {
  yield* Courses.append("course-math", [CourseDefined.make({ course: "math", seats: 10 })])
  const outcomes = yield* Effect.forEach(
    Array.from({ length: 12 }, (_, i) => `s${i}`),
    (student) => Effect.result(enrol("math", student)),
    { concurrency: "unbounded" }
  )
  const enrolled = yield* Dcb.read([{ types: ["StudentEnrolled"], tags: ["course:math"] }]).pipe(Stream.runCollect)
  return {
    enrolled: enrolled.length,
    full: outcomes.filter((o) => o._tag === "Failure" && o.failure === "CourseFull").length
  }
})
// #endregion race

// #region condition
// The same guarantee by hand: read, decide, append with the condition built from the read.
export const byHand = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const query = [{ tags: ["username:ada"] }]
  const taken = yield* Dcb.read(query).pipe(Stream.runCollect)
  const after = taken.at(-1)?.position
  const first = yield* store.append(
    "account-1",
    [{ type: "Registered", data: { username: "ada" }, tags: ["username:ada"] }],
    { condition: { failIfEventsMatch: query, after } }
  )
  // A second registration decided on the same read fails: the name was taken since.
  const second = yield* store.append(
    "account-2",
    [{ type: "Registered", data: { username: "ada" }, tags: ["username:ada"] }],
    { condition: { failIfEventsMatch: query, after } }
  ).pipe(Effect.flip)
  return { first: first.stream, second: second._tag === "AppendConditionFailed" ? second.position : undefined }
})
// #endregion condition
