// The writer of the outbox crash scenarios, as its own OS process (OutboxCrash.ts and CarriedCrash.ts,
// run by OutboxCrash.test.ts in packages/sqlite and packages/postgres). SCENARIO picks what it writes:
// - `unit` (OutboxCrash.ts): units of work that each append one event to `<category>-<n>` and enqueue
//   job { n } in the same database, until unit KILL_AT, which SIGKILLs the process after its append
//   and enqueue, before its commit.
// - `carried` (CarriedCrash.ts): appends that carry their jobs (JobQueue.append, JobQueue.appendMany,
//   JobQueue.put in turn: unit n takes kind n % 3), two jobs { n } each, until unit KILL_AT, where
//   the process SIGKILLs itself: WHEN=before-commit when the unit's last job has been inserted (its
//   `JobQueue.enqueue` span ends, inside the append's transaction), before the commit;
//   WHEN=after-commit as soon as the carrying call returns (committed), before anything else.
//
// Run: node --conditions=@strata/source crashWorker.ts with SCENARIO, STRATA_BACKEND (sqlite |
// postgres), STRATA_TARGET (the SQLite file or the PostgreSQL URL), CATEGORY, QUEUE, KILL_AT (and
// WHEN for `carried`).
import { DocumentStore, Event, EventStore, JobQueue, UnitOfWork } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import * as Fs from "node:fs"
import { Work } from "./jobWorkerSchema.ts"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`crashWorker: ${name} is not set`)
  return value
}

const scenario = env("SCENARIO")
const backend = env("STRATA_BACKEND")
const target = env("STRATA_TARGET")
const category = env("CATEGORY")
const killAt = Number(env("KILL_AT"))
const queue = JobQueue.make(env("QUEUE"), Work)

const store = backend === "postgres"
  ? PgStore.layer({ url: Redacted.make(target), migrate: false })
  : SqliteStore.layer({ filename: target, migrate: false, busyTimeout: "30 seconds" })
const jobs = SqlJobs.layer({
  dialect: backend === "postgres" ? PgDialect.dialect : SqliteDialect.dialect,
  backend,
  migrate: false
})

const die = (what: string) => {
  // Written synchronously: the test checks where the process died.
  Fs.writeSync(1, `${what}; killing\n`)
  process.kill(process.pid, "SIGKILL")
}

// `unit`: each unit of work appends and enqueues; the last dies written, not committed.
const units = Effect.gen(function*() {
  const events = yield* EventStore.EventStore
  for (let n = 0; n <= killAt; n++) {
    yield* UnitOfWork.transaction(Effect.gen(function*() {
      yield* events.append(`${category}-${n}`, [Event.make("Placed", { n })])
      yield* JobQueue.enqueue(queue, { n })
      if (n === killAt) process.kill(process.pid, "SIGKILL")
    }))
    console.log(`committed ${n}`)
  }
})

// `carried`: the job whose insert ends the last unit's writes (its id derives from the first event's).
let lastJob: string | undefined
const tracer = Tracer.make({
  span(options) {
    const span = new Tracer.NativeSpan(options)
    const end = span.end.bind(span)
    span.end = (endTime, exit) => {
      end(endTime, exit)
      if (
        lastJob !== undefined && span.name === "JobQueue.enqueue" &&
        span.attributes.get("messaging.message.id") === lastJob
      ) die(`inserted ${lastJob}, not committed`)
    }
    return span
  }
})

const carried = Effect.gen(function*() {
  const when = env("WHEN")
  const Orders = DocumentStore.collection(`${category}docs`, Schema.Struct({ n: Schema.Number }))
  for (let n = 0; n <= killAt; n++) {
    const first = Event.make("Placed", { n })
    const jobs = { jobs: [JobQueue.job(queue, { n }), JobQueue.job(queue, { n })] }
    if (n === killAt && when === "before-commit") lastJob = `${first.id.toLowerCase()}.job-1`
    switch (n % 3) {
      case 0:
        yield* JobQueue.append(`${category}-${n}`, [first], jobs)
        break
      case 1:
        yield* JobQueue.appendMany([
          { stream: `${category}-${n}`, events: [first] },
          { stream: `${category}-${n}-b`, events: [Event.make("Placed", { n })] }
        ], jobs)
        break
      default:
        yield* JobQueue.put(Orders, `d${n}`, { n }, {
          expected: "missing",
          events: [{ stream: `${category}-${n}`, events: [first] }],
          ...jobs
        })
    }
    if (n === killAt && when === "after-commit") die(`committed ${n}`)
    console.log(`committed ${n}`)
  }
}).pipe(Effect.withTracer(tracer))

Effect.runFork(
  (scenario === "carried" ? carried : units).pipe(
    Effect.provide(Layer.provideMerge(jobs, store)),
    Effect.tapCause((cause) => Effect.sync(() => console.error(`crash worker (${scenario}) failed`, cause))),
    Effect.ensuring(Effect.sync(() => process.exit(1)))
  )
)
