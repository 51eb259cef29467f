/**
 * `npm run bench -- --backend postgres|sqlite|memory|kurrentdb [--quick] [--only W1_c1,W6]`
 *
 * Runs the workloads of bench/Workloads.ts against one backend and prints one JSON object. Every
 * throughput figure comes with the raw-SQL floor measured in the same run and their ratio: absolute
 * numbers on a shared 2-core machine are noise, ratios travel.
 */
import { MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { parseArgs } from "node:util"
import * as Backends from "./Backends.ts"
import * as Consumers from "./Consumers.ts"
import * as Dcb from "./Dcb.ts"
import * as Groups from "./Groups.ts"
import * as Jobs from "./Jobs.ts"
import * as Kurrent from "./Kurrent.ts"
import type * as Processing from "./Processing.ts"
import * as Projections from "./Projections.ts"
import * as Subscribers from "./Subscribers.ts"
import * as W from "./Workloads.ts"

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "postgres" },
    quick: { type: "boolean", default: false },
    "million": { type: "string", default: "1000000" },
    only: { type: "string" }
  }
})

const quick = values.quick === true
const scale = (full: number, small: number) => quick ? small : full
const backend = values.backend as string
// `--only W1_c1,W6`: just those workloads (for iterating on one path; the full run is the report).
const only = values.only === undefined ? undefined : new Set(values.only.split(","))
const wanted = (name: string) => only === undefined || only.has(name)

// The processing workloads (issue 23), SQL backends only: their floors are hand-written SQL.
const processing: ReadonlyArray<Processing.Workload> = [
  ...Consumers.workloads,
  ...Projections.workloads,
  ...Groups.workloads,
  ...Subscribers.workloads,
  ...Jobs.workloads,
  ...Dcb.workloads
]

const results: Record<string, unknown> = {}
const log = (name: string, value: unknown) =>
  Effect.sync(() => {
    results[name] = value
    process.stderr.write(`${name}: ${JSON.stringify(value)}\n`)
  })
// Runs a workload (when selected) and records its result under its name.
const run = <R>(name: string, workload: Effect.Effect<unknown, unknown, R>) =>
  wanted(name) ? Effect.flatMap(workload, (value) => log(name, value)) : Effect.void

const processingRun = Effect.forEach(processing, (workload) => {
  const effect = workload.run({ backend, quick })
  return effect === undefined ? Effect.void : run(workload.name, effect)
}, { discard: true })

const program = (floor: W.Floor | undefined) =>
  Effect.gen(function*() {
    if (floor !== undefined) {
      const appends = (name: string, options: Parameters<typeof W.appends>[1]) => run(name, W.appends(floor, options))
      // Untimed: JIT, statement caches and the tables' first pages, for every contender.
      yield* W.appends(floor, { total: scale(800, 200), concurrency: 1, size: 1, tag: "warm", rounds: 2 })
      yield* appends("W1_c1", { total: scale(2000, 200), concurrency: 1, size: 1, tag: "w1a" })
      yield* appends("W1_c8", { total: scale(4000, 400), concurrency: 8, size: 1, tag: "w1b" })
      yield* appends("W1x_c1", { total: scale(2000, 200), concurrency: 1, size: 1, tag: "w1x", existing: true })
      yield* appends("W1x_c8", { total: scale(4000, 400), concurrency: 8, size: 1, tag: "w1y", existing: true })
      yield* appends("W2_c1", { total: scale(1000, 100), concurrency: 1, size: 10, tag: "w2a" })
      yield* appends("W2_c8", { total: scale(2000, 200), concurrency: 8, size: 10, tag: "w2b" })
      yield* appends("W2x100_c1", { total: scale(400, 40), concurrency: 1, size: 100, tag: "w2c", existing: true })
      yield* run("W3", W.readStream(floor, 10_000))
      yield* run("W4", W.catchUp(floor))
    }
    yield* run("W5", W.liveLatency(scale(1000, 200)))
    yield* run("W6", W.contendedWriters(floor, scale(100, 20)))
    if (floor !== undefined) {
      if (backend === "sqlite") {
        yield* run(
          "durability",
          Effect.flatMap(Backends.sqliteDurability, (stores) => W.durability(stores, scale(400, 80)))
        )
      }
      yield* run("memory1M", W.streamingMemory(floor, scale(Number(values.million), 100_000)))
    }
  })

const main = Effect.gen(function*() {
  const started = Date.now()
  yield* backend === "memory"
    ? program(undefined).pipe(Effect.provide(MemoryStore.layer()))
    : backend === "kurrentdb"
    ? Effect.flatMap(Kurrent.floor, program).pipe(Effect.provide(Kurrent.layer))
    : Effect.flatMap(Backends.floor(backend), program).pipe(
      Effect.andThen(processingRun),
      Effect.provide(Backends.layer(backend))
    )
  console.log(JSON.stringify(
    {
      backend,
      quick,
      node: process.version,
      date: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      results
    },
    null,
    2
  ))
})

// stdout carries only the JSON report: the product's log lines (a group's leases and partitions,
// for one) and every other workload's go to stderr with the progress lines.
Effect.runPromise(
  Effect.scoped(main).pipe(Effect.provide(Layer.empty), Effect.provideService(Logger.LogToStderr, true))
).catch((error) => {
  console.error(error)
  process.exit(1)
})
