// One member of a consumer group on KurrentDB, as its own OS process, for GroupProcesses.test.ts.
//
// Run: node --conditions=@strata/source groupWorker.ts, configured by environment variables:
//   KURRENTDB_URL   the server (the test's emulator)
//   GROUP, MEMBER, PARTITIONS, TTL_MS, CATEGORY, DONE (the prefix of the handlers' output streams)
//   KILL_AT         optional: SIGKILL this process in the middle of a batch, after handling that many events
//
// KurrentDB cannot commit a handler's writes with the checkpoint, so delivery is at least once, and
// the handler is written to be idempotent, the pattern the README recommends: it appends its output
// with the source event's id at the source version (`exact(version - 1)`), so a redelivered event is
// an idempotent replay (the original result, nothing written twice) and an event out of order fails
// the append instead of being written.
import { ConsumerGroup, Event, EventStore, ExpectedVersion } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as References from "effect/References"

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`groupWorker: ${name} is not set`)
  return value
}

const member = env("MEMBER")
const done = env("DONE")
const killAt = Number(env("KILL_AT", "0"))

let handled = 0
const handler = (event: Event.RecordedEvent) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    yield* store.append(
      `${done}-${event.stream}`,
      [{ ...Event.make("Handled", { member, version: event.version.toString() }), id: event.id }],
      { expected: event.version === 0n ? ExpectedVersion.noStream : ExpectedVersion.exact(event.version - 1n) }
    )
    // Every delivery, duplicates included, for the test to see that redeliveries happened.
    yield* store.append(`${done}-deliveries`, [Event.make("Delivered", { member, id: event.id })])
    handled++
    // The output is written; the batch's checkpoint is not.
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
    Effect.provide(KurrentStore.layer({ connectionString: env("KURRENTDB_URL") })),
    Effect.provideService(References.MinimumLogLevel, "Info"),
    Effect.tapCause((cause) => Effect.sync(() => console.error(`member ${member} failed`, cause))),
    Effect.ensuring(Effect.sync(() => process.exit(1)))
  )
)
