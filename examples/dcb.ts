// The DCB guide's examples (docs/dcb.md quotes each region between `// #region` and `// #endregion`;
// examples/test/dcb.test.ts runs them on memory and SQLite and checks every value the guide states).
import { Dcb, type Event, EventStore } from "@strata/strata"
import { Effect, Stream } from "effect"

// #region events
// Tags name the entities an event concerns. A course and a student are not streams here: the
// enrolment concerns both, and each decision reads what it needs by tag.
const courseDefined = (course: string, seats: number): Event.NewEvent => ({
  type: "CourseDefined",
  data: { course, seats },
  tags: [`course:${course}`]
})

const studentEnrolled = (course: string, student: string): Event.NewEvent => ({
  type: "StudentEnrolled",
  data: { course, student },
  tags: [`course:${course}`, `student:${student}`]
})
// #endregion events

// #region enrol
// At most `seats` students per course, at most 3 courses per student, nobody twice.
export const enrol = (course: string, student: string) =>
  Dcb.decide(
    // The decision's consistency boundary: the course (its definition and enrolments) and the
    // student's enrolments.
    [
      { types: ["CourseDefined", "StudentEnrolled"], tags: [`course:${course}`] },
      { types: ["StudentEnrolled"], tags: [`student:${student}`] }
    ],
    { seats: 0, taken: 0, courses: 0, already: false },
    (state, event) => {
      const data = event.data as { course: string; student?: string; seats?: number }
      if (event.type === "CourseDefined") return { ...state, seats: data.seats ?? 0 }
      return {
        ...state,
        taken: state.taken + (data.course === course ? 1 : 0),
        courses: state.courses + (data.student === student ? 1 : 0),
        already: state.already || (data.course === course && data.student === student)
      }
    },
    (state) =>
      state.already
        ? Effect.succeed([]) // enrolled already: nothing to do
        : state.taken >= state.seats
        ? Effect.fail("CourseFull" as const)
        : state.courses >= 3
        ? Effect.fail("TooManyCourses" as const)
        : Effect.succeed([{ stream: `enrolment-${course}-${student}`, events: [studentEnrolled(course, student)] }])
  )
// #endregion enrol

// #region race
// Twelve students race for a course of ten seats, all at once: exactly ten get in.
export const race = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  yield* store.append("course-math", [courseDefined("math", 10)])
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
