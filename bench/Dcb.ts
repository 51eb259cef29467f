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
import * as SqlClient from "effect/sql/SqlClient"
import * as Tracer from "effect/Tracer"
import * as fs from "node:fs"
import type { Workload } from "./Processing.ts"

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

const round = (n: number, digits = 2) => Number(n.toFixed(digits))

const tagged = (type: string, tags: ReadonlyArray<string>, data: unknown): Event.NewEvent => ({ type, data, tags })

// How a speedrun decides: Dcb.decide, or a stand-in with the same shape (the fused-read probe).
type Decide = <S, X>(
  query: EventStore.Query,
  initial: S,
  evolve: (state: S, event: Event.RecordedEvent) => S,
  decide: (state: S) => Effect.Effect<Dcb.Decision, X>
) => Effect.Effect<{ readonly attempts: number }, unknown, EventStore.EventStore | SqlClient.SqlClient>

const viaDcb: Decide = (query, initial, evolve, decide) => Dcb.decide(query, initial, evolve, decide)

// One speedrun iteration over its own names (`run` keeps them apart across iterations and writers).
const iteration = (run: string, latencies: Array<number>, conflicts: { n: number }, decideWith: Decide = viaDcb) =>
  Effect.gen(function*() {
    const courses = Array.from({ length: 10 }, (_, i) => `${run}c${i}`)
    const students = Array.from({ length: 10 }, (_, i) => `${run}s${i}`)
    const timed = <E, R>(decision: Effect.Effect<{ readonly attempts: number }, E, R>) =>
      Effect.gen(function*() {
        const start = performance.now()
        const decided = yield* decision
        latencies.push(performance.now() - start)
        conflicts.n += decided.attempts - 1
      })
    const define = (kind: "Course" | "Student", name: string) =>
      timed(decideWith(
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
        yield* timed(decideWith(
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

// CPU seconds used so far by this process and, separately, by its descendants (an embedded
// PostgreSQL and its backends), from /proc: CPU per operation is steadier than wall time on a shared
// machine, and it tells the database's part from ours. With DATABASE_URL (a server on this machine
// that is not our child), the database's part is its backends connected to the bench's database
// (named in their command line; `benchDatabase` notes it), while they live.
const ticks = 100
let benchDatabase: string | undefined
const noteDatabase = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    Effect.map(sql<{ name: string }>`SELECT current_database() AS name`, ([row]) => {
      benchDatabase = row.name
    })
).pipe(Effect.orElseSucceed(() => undefined))
const backendOf = (pid: string): boolean => {
  if (benchDatabase === undefined) return false
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(` ${benchDatabase} `)
  } catch {
    return false
  }
}
const cpuSeconds = (): { readonly ours: number; readonly database: number } => {
  const own = process.cpuUsage()
  const parents = new Map<number, number>()
  const used = new Map<number, number>()
  const backends = new Set<number>()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      parents.set(Number(entry), Number(fields[1]))
      used.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / ticks)
      if (fields[0] !== undefined && stat.includes("(postgres)") && backendOf(entry)) backends.add(Number(entry))
    } catch {
      // The process ended while listed.
    }
  }
  const descends = (pid: number): boolean => {
    for (let at = parents.get(pid); at !== undefined && at > 1; at = parents.get(at)) {
      if (at === process.pid) return true
    }
    return false
  }
  let database = 0
  for (const [pid, seconds] of used) if (descends(pid) || backends.has(pid)) database += seconds
  return { ours: (own.user + own.system) / 1e6, database }
}

const speedrun = (concurrency: number, iterations: number) =>
  Effect.gen(function*() {
    yield* noteDatabase
    const id = Math.random().toString(36).slice(2, 8)
    // Untimed: one iteration to warm statements and plans.
    yield* iteration(`warm${id}w`, [], { n: 0 })
    const latencies: Array<number> = []
    const conflicts = { n: 0 }
    const cpuBefore = cpuSeconds()
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
    const cpuAfter = cpuSeconds()
    const sorted = [...latencies].sort((a, b) => a - b)
    return {
      operations: latencies.length,
      opsPerSecond: Math.round(latencies.length / seconds),
      conflicts: conflicts.n,
      p50Ms: round(percentile(sorted, 0.5)),
      p99Ms: round(percentile(sorted, 0.99)),
      // CPU per decision (steadier than wall time on a shared machine): this process (Strata, the
      // driver, and SQLite itself on SQLite) and the database's processes (PostgreSQL).
      cpuMicrosOurs: Math.round(((cpuAfter.ours - cpuBefore.ours) * 1e6) / latencies.length),
      cpuMicrosDatabase: Math.round(((cpuAfter.database - cpuBefore.database) * 1e6) / latencies.length)
    }
  })

// Conditional vs plain appends, interleaved in rounds; c writers on disjoint streams and tags.
const appendCost = (concurrency: number, perRound: number, rounds: number) =>
  Effect.gen(function*() {
    yield* noteDatabase
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
    const cpu = { plain: 0, conditional: 0 }
    const time = <E, R>(effect: Effect.Effect<void, E, R>, kind: keyof typeof cpu) =>
      Effect.gen(function*() {
        const before = cpuSeconds()
        const start = performance.now()
        yield* effect
        const ms = performance.now() - start
        const after = cpuSeconds()
        cpu[kind] += after.ours - before.ours + after.database - before.database
        return (concurrency * perRound * 1000) / ms
      })
    yield* plain(-1)
    yield* conditional(-1)
    const ratios: Array<number> = []
    const plainRates: Array<number> = []
    const conditionalRates: Array<number> = []
    for (let r = 0; r < rounds; r++) {
      const p = yield* time(plain(r), "plain")
      const c = yield* time(conditional(r), "conditional")
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
      spread: [round(sorted[0]), round(sorted[sorted.length - 1])],
      // CPU (this process and the database's) per conditional append over per plain one, all rounds.
      cpuCostVsPlain: round(cpu.conditional / cpu.plain)
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

// Where a conditional append's extra cost goes at concurrency `concurrency` (disjoint tags): plain,
// a tagged event without a condition (the tag's lock and its tag row), and a tagged event with a
// condition on its tag (adds the check: the DCB_append workload's conditional append).
// Interleaved in rounds; rates are appends per second, medians over rounds with their spread.
const appendParts = (concurrency: number, perRound: number, rounds: number) =>
  Effect.gen(function*() {
    yield* noteDatabase
    const store = yield* EventStore.EventStore
    const id = Math.random().toString(36).slice(2, 8)
    const variants = {
      plain: (key: string) => store.append(`p${key}`, [{ type: "Plain", data: {} }]),
      tagged: (key: string) => store.append(`t${key}`, [tagged("Tagged", [`k:${key}`], {})]),
      both: (key: string) =>
        store.append(`b${key}`, [tagged("Tagged", [`k:${key}`], {})], {
          condition: { failIfEventsMatch: [{ tags: [`k:${key}`] }] }
        })
    }
    const cpu: Record<string, { ours: number; database: number; appends: number }> = {}
    const once = (variant: keyof typeof variants, r: number) =>
      Effect.gen(function*() {
        const before = cpuSeconds()
        const start = performance.now()
        yield* Effect.forEach(
          Array.from({ length: concurrency }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: perRound }, (_, i) => i),
              (i) => variants[variant](`${id}-${variant}-${r}-${w}-${i}`),
              { discard: true }
            ),
          { concurrency, discard: true }
        )
        const rate = (concurrency * perRound * 1000) / (performance.now() - start)
        const after = cpuSeconds()
        if (r >= 0) {
          const total = cpu[variant] ?? { ours: 0, database: 0, appends: 0 }
          total.ours += after.ours - before.ours
          total.database += after.database - before.database
          total.appends += concurrency * perRound
          cpu[variant] = total
        }
        return rate
      })
    const names = Object.keys(variants) as Array<keyof typeof variants>
    const rates: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
    for (const name of names) yield* once(name, -1)
    for (let r = 0; r < rounds; r++) {
      for (const name of names) rates[name].push(yield* once(name, r))
    }
    const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
    const ratios = (name: string) => rates[name].map((rate, r) => rate / rates.plain[r]).sort((a, b) => a - b)
    const micros = (seconds: number, name: string) => Math.round((seconds * 1e6) / cpu[name].appends)
    return Object.fromEntries(names.map((name) => [name, {
      perSecond: Math.round(median(rates[name])),
      vsPlain: round(median(ratios(name))),
      spread: [round(ratios(name)[0]), round(ratios(name)[rounds - 1])],
      // CPU per append over all rounds: this process (Strata, the driver; SQLite itself runs here too)
      // and the database's processes (PostgreSQL's server).
      cpuMicrosOurs: micros(cpu[name].ours, name),
      cpuMicrosDatabase: micros(cpu[name].database, name)
    }]))
  })

// The database's part and ours, per kind of append (sequential, traced): the whole append (Strata's
// span: planning, validation, the statement, the result) against its statements' spans (encoding,
// the round trip, the server, decoding), in mean milliseconds.
const appendSplit = (count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const id = Math.random().toString(36).slice(2, 8)
    const variants = {
      plain: (key: string) => store.append(`p${key}`, [{ type: "Plain", data: {} }]),
      tagged: (key: string) => store.append(`t${key}`, [tagged("Tagged", [`k:${key}`], {})]),
      conditional: (key: string) =>
        store.append(`b${key}`, [tagged("Tagged", [`k:${key}`], {})], {
          condition: { failIfEventsMatch: [{ tags: [`k:${key}`] }] }
        })
    }
    const result: Record<string, unknown> = {}
    for (const [name, append] of Object.entries(variants)) {
      for (let i = 0; i < 50; i++) yield* append(`${id}w${name}${i}`)
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          if (options.kind === "client") spans.push(span)
          return span
        }
      })
      for (let i = 0; i < count; i++) yield* append(`${id}${name}${i}`).pipe(Effect.withTracer(tracer))
      const ms = (span: Tracer.NativeSpan) =>
        span.status._tag === "Ended" ? Number(span.status.endTime - span.status.startTime) / 1e6 : 0
      const total = (list: ReadonlyArray<Tracer.NativeSpan>) => list.reduce((sum, span) => sum + ms(span), 0) / count
      const appendMs = total(spans.filter((span) => span.name === "strata.append"))
      const statementMs = total(spans.filter((span) => span.attributes.get("db.query.text") !== undefined))
      result[name] = {
        appendMs: round(appendMs, 3),
        statementMs: round(statementMs, 3),
        oursMs: round(appendMs - statementMs, 3)
      }
    }
    return result
  })

// PostgreSQL only, a probe of what a fused query read would give (it needs a migration, so it is not
// the store's): a VOLATILE function reads the horizon, then the query's events with a snapshot taken
// after it (each statement of a VOLATILE plpgsql function takes its own), in ONE round trip, so a
// decision is two round trips. Made here in the bench's database; only a probe: no wait for a
// pending horizon (the store's read has it), one page (the speedrun's queries match < 30 events).
const probeFunction = `CREATE OR REPLACE FUNCTION bench_dcb_read(p_items json, p_limit int)
RETURNS SETOF strata_events LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  h bigint;
BEGIN
  SELECT settled INTO h FROM strata_horizon();
  RETURN QUERY SELECT e.* FROM strata_events AS e WHERE e.position IN (
    SELECT m.position FROM json_array_elements(p_items) AS item (v)
    CROSS JOIN LATERAL (
      SELECT t.position FROM strata_event_tags AS t
      WHERE t.tag = item.v -> 'tags' ->> 0 AND t.position < h
        AND (item.v -> 'types' IS NULL OR t.type IN (SELECT json_array_elements_text(item.v -> 'types')))
      ORDER BY t.position LIMIT p_limit) AS m)
  ORDER BY e.position LIMIT p_limit;
END
$$`

const fusedDecide: Decide = (query, initial, evolve, decide) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    for (let attempts = 1;; attempts++) {
      const rows = yield* sql<
        { position: string; type: string; tags: ReadonlyArray<string> | null }
      >`SELECT position, type, tags
        FROM bench_dcb_read(${JSON.stringify(query)}::json, 500)`
      let state = initial
      let after: bigint | undefined
      for (const row of rows) {
        after = BigInt(row.position)
        state = evolve(state, { type: row.type, tags: row.tags ?? undefined } as Event.RecordedEvent)
      }
      const [part] = yield* decide(state)
      const outcome = yield* store.append(part.stream, part.events, { condition: { failIfEventsMatch: query, after } })
        .pipe(Effect.as(true), Effect.catchTag("AppendConditionFailed", () => Effect.succeed(false)))
      if (outcome) return { attempts }
    }
  })

const fusedProbe = (iterations: number, rounds: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(probeFunction)
    const id = Math.random().toString(36).slice(2, 8)
    const run = (decideWith: Decide, name: string) =>
      Effect.gen(function*() {
        const latencies: Array<number> = []
        const conflicts = { n: 0 }
        const start = performance.now()
        for (let i = 0; i < iterations; i++) yield* iteration(`${id}${name}${i}`, latencies, conflicts, decideWith)
        return latencies.length / ((performance.now() - start) / 1000)
      })
    yield* run(viaDcb, "warmd")
    yield* run(fusedDecide, "warmf")
    const ratios: Array<number> = []
    const store: Array<number> = []
    const fused: Array<number> = []
    for (let r = 0; r < rounds; r++) {
      const a = yield* run(viaDcb, `d${r}`)
      const b = yield* run(fusedDecide, `f${r}`)
      store.push(a)
      fused.push(b)
      ratios.push(b / a)
    }
    const sorted = [...ratios].sort((a, b) => a - b)
    const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
    return {
      storeOpsPerSecond: Math.round(median(store)),
      fusedOpsPerSecond: Math.round(median(fused)),
      fusedVsStore: round(median(ratios)),
      spread: [round(sorted[0]), round(sorted[sorted.length - 1])]
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
    name: "DCB_append_parts_c8",
    run: ({ backend, quick }) => sqlOnly(backend) ? appendParts(8, quick ? 20 : 100, quick ? 3 : 5) : undefined
  },
  {
    name: "DCB_append_split",
    run: ({ backend, quick }) => sqlOnly(backend) ? appendSplit(quick ? 100 : 400) : undefined
  },
  {
    name: "DCB_fused_probe",
    run: ({ backend, quick }) => backend === "postgres" ? fusedProbe(quick ? 1 : 2, quick ? 3 : 5) : undefined
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
