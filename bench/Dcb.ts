/**
 * Dynamic consistency boundaries (issue 25), on the SQL backends:
 *
 * - `DCB_speedrun_c1` / `DCB_speedrun_c8`: pyeventsourcing's DCB "speedrun" enrolment workload. One
 *   iteration defines 10 courses and registers 10 students (each a decision that the name is free),
 *   then enrols every student in every course (a decision over the course's capacity and the
 *   student's limit): 120 `Dcb.decide` operations, each a query read and a conditional append. c1 runs
 *   iterations one after another (its published PostgreSQL baseline: ~3,150 ops/s, sequential, pool
 *   size 1); c8 runs 8 writers at once, each on its own courses and students (disjoint tags). Reports
 *   ops/s, conflicts (decisions read again) and per-operation p50/p99.
 * - `DCB_append_c1` / `DCB_append_c8`: the cost of a conditional append (one tagged event, a condition
 *   on its tag) against a plain append (one untagged event, the one-statement path), interleaved in
 *   rounds; c8 with 8 writers on disjoint tags. Target: conditional <= 1.5x a plain append at c1,
 *   disjoint-tag throughput within 0.8x of plain at c8.
 */
import { Dcb, type Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import type { Workload } from "./Processing.ts"

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

const round = (n: number, digits = 2) => Number(n.toFixed(digits))

const tagged = (type: string, tags: ReadonlyArray<string>, data: unknown): Event.NewEvent => ({ type, data, tags })

// One speedrun iteration over its own names (`run` keeps them apart across iterations and writers).
const iteration = (run: string, latencies: Array<number>, conflicts: { n: number }) =>
  Effect.gen(function*() {
    const courses = Array.from({ length: 10 }, (_, i) => `${run}c${i}`)
    const students = Array.from({ length: 10 }, (_, i) => `${run}s${i}`)
    const timed = <A, E, R>(decision: Effect.Effect<Dcb.Decided<A>, E, R>) =>
      Effect.gen(function*() {
        const start = performance.now()
        const decided = yield* decision
        latencies.push(performance.now() - start)
        conflicts.n += decided.attempts - 1
      })
    const define = (kind: "Course" | "Student", name: string) =>
      timed(Dcb.decide(
        [{ types: [`${kind}Defined`], tags: [`${kind.toLowerCase()}:${name}`] }],
        false,
        () => true,
        (exists) =>
          exists
            ? Effect.fail(`${name} exists`)
            : Effect.succeed([{
              stream: `${kind.toLowerCase()}-${name}`,
              events: [tagged(`${kind}Defined`, [`${kind.toLowerCase()}:${name}`], { name, limit: 10 })]
            }])
      ))
    for (const course of courses) yield* define("Course", course)
    for (const student of students) yield* define("Student", student)
    for (const student of students) {
      for (const course of courses) {
        const c = `course:${course}`
        const s = `student:${student}`
        yield* timed(Dcb.decide(
          [
            { types: ["CourseDefined", "StudentEnrolled"], tags: [c] },
            { types: ["StudentDefined", "StudentEnrolled"], tags: [s] }
          ],
          { course: false, student: false, seats: 0, courses: 0, already: false },
          (state, event) => {
            const inCourse = event.tags?.includes(c) === true
            const ofStudent = event.tags?.includes(s) === true
            return event.type === "StudentEnrolled"
              ? {
                ...state,
                seats: state.seats + (inCourse ? 1 : 0),
                courses: state.courses + (ofStudent ? 1 : 0),
                already: state.already || (inCourse && ofStudent)
              }
              : event.type === "CourseDefined"
              ? { ...state, course: true }
              : { ...state, student: true }
          },
          (state) =>
            !state.course || !state.student || state.already || state.seats >= 10 || state.courses >= 10
              ? Effect.fail(`cannot enrol ${student} in ${course}`)
              : Effect.succeed([{
                stream: `enrolment-${course}-${student}`,
                events: [tagged("StudentEnrolled", [c, s], { course, student })]
              }])
        ))
      }
    }
  })

const speedrun = (concurrency: number, iterations: number) =>
  Effect.gen(function*() {
    const id = Math.random().toString(36).slice(2, 8)
    // Untimed: one iteration to warm statements and plans.
    yield* iteration(`warm${id}w`, [], { n: 0 })
    const latencies: Array<number> = []
    const conflicts = { n: 0 }
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: concurrency }, (_, w) => w),
      (w) =>
        Effect.forEach(
          Array.from({ length: iterations }, (_, i) => i),
          (i) => iteration(`${id}w${w}i${i}`, latencies, conflicts),
          { discard: true }
        ),
      { concurrency, discard: true }
    )
    const seconds = (performance.now() - start) / 1000
    const sorted = [...latencies].sort((a, b) => a - b)
    return {
      operations: latencies.length,
      opsPerSecond: Math.round(latencies.length / seconds),
      conflicts: conflicts.n,
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99))
    }
  })

// Conditional vs plain appends, interleaved in rounds; c writers on disjoint streams and tags.
const appendCost = (concurrency: number, perRound: number, rounds: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const id = Math.random().toString(36).slice(2, 8)
    const plain = (r: number) =>
      Effect.forEach(
        Array.from({ length: concurrency }, (_, w) => w),
        (w) =>
          Effect.forEach(
            Array.from({ length: perRound }, (_, i) => i),
            (i) => store.append(`plain${id}-${r}-${w}-${i}`, [{ type: "Plain", data: { i } }]),
            { discard: true }
          ),
        { concurrency, discard: true }
      )
    const conditional = (r: number) =>
      Effect.forEach(
        Array.from({ length: concurrency }, (_, w) => w),
        (w) =>
          Effect.forEach(
            Array.from({ length: perRound }, (_, i) => i),
            (i) => {
              const tag = `k:${id}-${r}-${w}-${i}`
              return store.append(`cond${id}-${r}-${w}-${i}`, [tagged("Tagged", [tag], { i })], {
                condition: { failIfEventsMatch: [{ tags: [tag] }] }
              })
            },
            { discard: true }
          ),
        { concurrency, discard: true }
      )
    const time = <E, R>(effect: Effect.Effect<void, E, R>) =>
      Effect.map(
        Effect.andThen(
          Effect.sync(() => performance.now()),
          (start) => Effect.map(effect, () => performance.now() - start)
        ),
        (ms) => (concurrency * perRound * 1000) / ms
      )
    yield* plain(-1)
    yield* conditional(-1)
    const ratios: Array<number> = []
    const plainRates: Array<number> = []
    const conditionalRates: Array<number> = []
    for (let r = 0; r < rounds; r++) {
      const p = yield* time(plain(r))
      const c = yield* time(conditional(r))
      plainRates.push(p)
      conditionalRates.push(c)
      // Cost ratio: how many plain appends' time one conditional append takes.
      ratios.push(p / c)
    }
    const sorted = [...ratios].sort((a, b) => a - b)
    const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
    return {
      plainPerSecond: Math.round(median(plainRates)),
      conditionalPerSecond: Math.round(median(conditionalRates)),
      conditionalCostVsPlain: round(percentile(sorted, 0.5)),
      spread: [round(sorted[0]), round(sorted[sorted.length - 1])]
    }
  })

// What a statement is, from its text (the profile's rows).
const statementKind = (text: string) =>
  /strata_horizon/.test(text)
    ? "horizon"
    : /max\(position\) AS head/.test(text)
    ? "head"
    : /strata_event_tags/.test(text) && /^\s*(WITH\s+r|SELECT)/i.test(text) && !/INSERT/i.test(text)
    ? "query read"
    : /pg_advisory_xact_lock\(/.test(text) && /INSERT/i.test(text)
    ? "conditional append (one statement)"
    : /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/i.test(text)
    ? text.trim().split(/\s/)[0].toUpperCase()
    : text.replace(/\s+/g, " ").trim().slice(0, 48)

// Round trips per decision and where their time goes: every client span (a statement, or a
// transaction's BEGIN / COMMIT) of `concurrency` speedrun iterations, by kind, with its mean time.
const profile = (concurrency: number) =>
  Effect.gen(function*() {
    const id = Math.random().toString(36).slice(2, 8)
    yield* iteration(`warm${id}p`, [], { n: 0 })
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        if (options.kind === "client") spans.push(span)
        return span
      }
    })
    const latencies: Array<number> = []
    const conflicts = { n: 0 }
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: concurrency }, (_, w) => w),
      (w) => iteration(`${id}p${w}`, latencies, conflicts),
      { concurrency, discard: true }
    ).pipe(Effect.withTracer(tracer))
    const ms = performance.now() - start
    const kinds = new Map<string, { n: number; ms: number }>()
    let trips = 0
    for (const span of spans) {
      const text = span.attributes.get("db.query.text")
      const control = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/.test(span.name)
      // Strata's own operation spans are client spans too: shown, not counted as round trips.
      if (text !== undefined || control) trips++
      const kind = text !== undefined ? statementKind(String(text)) : control ? statementKind(span.name) : span.name
      const entry = kinds.get(kind) ?? { n: 0, ms: 0 }
      entry.n++
      if (span.status._tag === "Ended") entry.ms += Number(span.status.endTime - span.status.startTime) / 1e6
      kinds.set(kind, entry)
    }
    const decisions = latencies.length
    return {
      decisions,
      conflicts: conflicts.n,
      roundTripsPerDecision: round(trips / decisions),
      msPerDecision: round(ms * concurrency / decisions, 3),
      byKind: Object.fromEntries(
        [...kinds].sort((a, b) => b[1].n - a[1].n).map((
          [kind, { ms, n }]
        ) => [kind, { perDecision: round(n / decisions), meanMs: round(ms / n, 3) }])
      )
    }
  })

const sqlOnly = (backend: string) => backend === "postgres" || backend === "sqlite"

/**
 * The DCB workloads (SQL backends).
 */
export const workloads: ReadonlyArray<Workload> = [
  {
    name: "DCB_speedrun_c1",
    run: ({ backend, quick }) => sqlOnly(backend) ? speedrun(1, quick ? 2 : 10) : undefined
  },
  {
    name: "DCB_speedrun_c8",
    run: ({ backend, quick }) => sqlOnly(backend) ? speedrun(8, quick ? 1 : 3) : undefined
  },
  {
    name: "DCB_profile_c1",
    run: ({ backend }) => sqlOnly(backend) ? profile(1) : undefined
  },
  {
    name: "DCB_profile_c8",
    run: ({ backend }) => sqlOnly(backend) ? profile(8) : undefined
  },
  {
    name: "DCB_append_c1",
    run: ({ backend, quick }) => sqlOnly(backend) ? appendCost(1, quick ? 50 : 300, quick ? 3 : 7) : undefined
  },
  {
    name: "DCB_append_c8",
    run: ({ backend, quick }) => sqlOnly(backend) ? appendCost(8, quick ? 20 : 100, quick ? 3 : 7) : undefined
  }
]
