// The outbox crash scenario's writer, as its own OS process (OutboxCrash.test.ts in packages/sqlite
// and packages/postgres): units of work that each append one event to `<category>-<n>` and enqueue
// job { n } in the same database, until unit KILL_AT, which SIGKILLs the process after its append
// and enqueue, before its commit.
//
// Run: node --conditions=@strata/source outboxWorker.ts with STRATA_BACKEND (sqlite | postgres),
// STRATA_TARGET (the SQLite file or the PostgreSQL URL), CATEGORY, QUEUE, KILL_AT.
import { Event, EventStore, JobQueue, UnitOfWork } from "@strata/core"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Work } from "./jobWorkerSchema.ts"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`outboxWorker: ${name} is not set`)
  return value
}

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

const program = Effect.gen(function*() {
  const events = yield* EventStore.EventStore
  for (let n = 0; n <= killAt; n++) {
    yield* UnitOfWork.transaction(Effect.gen(function*() {
      yield* events.append(`${category}-${n}`, [Event.make("Placed", { n })])
      yield* JobQueue.enqueue(queue, { n })
      // Written, not committed: die here.
      if (n === killAt) process.kill(process.pid, "SIGKILL")
    }))
    console.log(`committed ${n}`)
  }
})

Effect.runFork(
  program.pipe(
    Effect.provide(Layer.provideMerge(jobs, store)),
    Effect.tapCause((cause) => Effect.sync(() => console.error("outbox worker failed", cause))),
    Effect.ensuring(Effect.sync(() => process.exit(1)))
  )
)
