// One member of a consumer group, as its own OS process, for the multi-process tests
// (GroupProcesses.test.ts in packages/sqlite and packages/postgres) and bench/leases.ts.
//
// Run: node --conditions=@strata/source groupWorker.ts, configured by environment variables:
//   STRATA_BACKEND  sqlite | postgres      STRATA_TARGET  the SQLite file or the PostgreSQL URL
//   GROUP, MEMBER, PARTITIONS, TTL_MS, CATEGORY
//   KILL_AT         optional: SIGKILL this process in the middle of a batch, after handling that many events
//   HANDLER_MS      optional: time each event takes to handle
//
// The handler writes one row per event into `handled` through the store's SqlClient, so the row, the
// fencing check and the partition's checkpoint commit in one transaction.
import { ConsumerGroup, type Event } from "@strata/core"
import { PgStore } from "@strata/postgres"
import { SqliteStore } from "@strata/sqlite"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as SqlClient from "effect/sql/SqlClient"

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`groupWorker: ${name} is not set`)
  return value
}

const backend = env("STRATA_BACKEND")
const target = env("STRATA_TARGET")
const member = env("MEMBER")
const killAt = Number(env("KILL_AT", "0"))
const handlerMs = Number(env("HANDLER_MS", "0"))

const storeLayer = backend === "postgres"
  ? PgStore.layer({ url: Redacted.make(target), migrate: false })
  : SqliteStore.layer({ filename: target, migrate: false, busyTimeout: "30 seconds" })

let handled = 0
const handler = (event: Event.RecordedEvent) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (handlerMs > 0) yield* Effect.sleep(Duration.millis(handlerMs))
    yield* sql`INSERT INTO handled (event_id, stream, version, member, at_ms) VALUES (${event.id}, ${event.stream}, ${
      Number(event.version)
    }, ${member}, ${Date.now()})`
    handled++
    // The row is written, the transaction (and the batch's checkpoint) is not committed yet.
    if (killAt > 0 && handled === killAt) process.kill(process.pid, "SIGKILL")
  }).pipe(Effect.orDie)

const program = ConsumerGroup.run(env("GROUP"), {
  partitions: Number(env("PARTITIONS")),
  member,
  filter: { categories: [env("CATEGORY")] },
  checkpointEvery: 20,
  ttl: Duration.millis(Number(env("TTL_MS"))),
  handler
})

Effect.runFork(
  program.pipe(
    Effect.provide(storeLayer),
    Effect.provideService(References.MinimumLogLevel, "Info"),
    Effect.tapCause((cause) => Effect.sync(() => console.error(`member ${member} failed`, cause))),
    Effect.ensuring(Effect.sync(() => process.exit(1)))
  )
)
