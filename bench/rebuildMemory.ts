/**
 * A `Projection.rebuild` on SQLite over events seeded once into a file that is kept between runs, for
 * iterating on the rebuild's memory (issue 23): seconds, events/s, sampled heap and RSS peaks over the
 * baseline, and what is still held after gc. Run it with `--trace-gc` (or `--max-semi-space-size=N`)
 * to see V8's side: the bench's `rebuild1M` workload is the report, seeding a fresh file every run.
 * `newSpaceMB` is the size of V8's young generation when the rebuild ends (its semi-space pair).
 *
 *   node --conditions=@strata/source --expose-gc bench/rebuildMemory.ts [file] [events] [batchSize] [pageSize]
 */
import { DocumentStore, Projection, Store } from "@strata/core"
import { SqliteStore } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"
import { performance } from "node:perf_hooks"
import * as v8 from "node:v8"
import { collectGarbage, samplePeaks } from "./Memory.ts"
import { seededProjection, seedEvents } from "./Projections.ts"

const file = process.argv[2] ?? "/tmp/strata-rebuild-memory.db"
const count = Number(process.argv[3] ?? 1_000_000)
const batchSize = process.argv[4] === undefined ? undefined : Number(process.argv[4])
const pageSize = process.argv[5] === undefined ? undefined : Number(process.argv[5])

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* seedEvents("sqlite", count)
  const p = seededProjection()
  const { base, peaks, stop } = yield* samplePeaks
  // STRATA_ALLOCATIONS=file: a sampling allocation profile of the rebuild, garbage included
  // (where the bytes the young generation fills with come from), written as a .heapprofile.
  const profile = process.env.STRATA_ALLOCATIONS
  const session = profile === undefined ? undefined : new inspector.Session()
  if (session !== undefined) {
    session.connect()
    yield* Effect.promise(() =>
      session.post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: process.env.STRATA_ALLOCATIONS_MINOR !== "0"
      })
    )
  }
  const start = performance.now()
  const cpu = process.cpuUsage()
  const replayed = yield* Projection.rebuild(p, { batchSize })
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  if (session !== undefined) {
    const { profile: sampled } = yield* Effect.promise(() => session.post("HeapProfiler.stopSampling"))
    fs.writeFileSync(profile!, JSON.stringify(sampled))
    session.disconnect()
  }
  yield* stop
  // V8's young generation as the rebuild left it (it grows once enough has survived its scavenges:
  // the heap peak follows it), before the full collection below.
  const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")
  const total = yield* Stream.runFold(
    DocumentStore.DocumentStore.use((docs) => Effect.succeed(docs.find(p.target))).pipe(Stream.unwrap),
    () => 0,
    (sum, document) => sum + document.value.count
  )
  if (total !== replayed) return yield* Effect.die(new Error(`rebuild counted ${total} of ${replayed}`))
  collectGarbage()
  const after = process.memoryUsage()
  const mb = (bytes: number) => Math.round(bytes / 1024 / 10.24) / 100
  // The documents of this run, so the file does not grow run after run.
  yield* sql`DELETE FROM strata_documents WHERE collection = ${p.target.name}`
  console.log(JSON.stringify({
    events: replayed,
    seconds: Math.round(seconds * 10) / 10,
    eventsPerSecond: Math.round(replayed / seconds),
    cpuMicrosPerEvent: Math.round((used.user + used.system) / replayed * 100) / 100,
    heapGrowthMB: mb(peaks.heap - base.heapUsed),
    rssGrowthMB: mb(peaks.rss - base.rss),
    heapAfterGcGrowthMB: mb(after.heapUsed - base.heapUsed),
    newSpaceMB: newSpace === undefined ? undefined : mb(newSpace.space_size)
  }))
})

Effect.runPromise(
  Effect.scoped(program.pipe(Effect.provide(Store.layer(SqliteStore.layer({ filename: file, pageSize })))))
)
