/**
 * `node --conditions=@strata/source --expose-gc bench/binary.ts --backend memory|sqlite|postgres|d1|kurrentdb
 *   [--size 330] [--appends 400] [--reads 2000] [--rounds 5]`
 *
 * Binary payloads against JSON payloads of the same size on one backend, through the same store:
 * - append: one-event appends to fresh streams at concurrency 1, events/s;
 * - read: a whole stream of `--reads` events read forwards, events/s.
 * JSON events carry `--size` bytes of JSON text (the bench's ~330-byte domain event, padded or cut
 * to size); binary events carry `--size` random bytes. Rounds interleave the two kinds (the order
 * alternates per round) so load on the shared machine hits both alike. Prints one JSON object: per
 * figure the median events/s of each kind and the ratio binary / JSON as median with min and max
 * over rounds (> 1: binary is faster).
 */
import { Event, EventStore, MemoryStore, type Store } from "@strata/core"
import { D1Store } from "@strata/d1"
import { SqliteStore } from "@strata/sqlite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { D1TestDatabase } from "../packages/d1/test/utils.ts"
import * as Backends from "./Backends.ts"
import * as Kurrent from "./Kurrent.ts"
import { payload } from "./Workloads.ts"

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: "sqlite" },
    size: { type: "string", default: "330" },
    appends: { type: "string", default: "400" },
    reads: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" }
  }
})
const backend = values.backend as string
const size = Number(values.size)
const appendCount = Number(values.appends)
const readCount = Number(values.reads)
const rounds = Number(values.rounds)

const layerOf = (name: string): Layer.Layer<EventStore.EventStore, unknown> => {
  switch (name) {
    case "memory":
      return MemoryStore.layer() as Layer.Layer<Store.Services>
    case "sqlite":
      return SqliteStore.layer({
        filename: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "strata-binary-bench-")), "bench.db")
      })
    case "postgres":
      return Backends.layer("postgres")
    case "d1":
      return Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Store.layer({ db }))).pipe(
        Layer.provide(D1TestDatabase.layer)
      )
    case "kurrentdb":
      return Kurrent.layer
    default:
      throw new Error(`unknown backend ${name}; use memory, sqlite, postgres, d1 or kurrentdb`)
  }
}

// JSON data whose text is `size` bytes: the domain event with a note padded (or cut) to fit.
const jsonData = (bytes: number): unknown => {
  const base = JSON.stringify({ ...payload, note: "" }).length
  if (bytes >= base) return { ...payload, note: "x".repeat(bytes - base) }
  return { note: "x".repeat(Math.max(0, bytes - 11)) }
}
const json = jsonData(size)
const binary = globalThis.crypto.getRandomValues(new Uint8Array(size))
const kinds = {
  json: (type: string): Event.NewEvent => ({ type, data: json }),
  binary: (type: string): Event.NewEvent => Event.binary(type, binary, { contentType: "application/x-bench" })
} as const
type Kind = keyof typeof kinds

const run = Effect.gen(function*() {
  const store = yield* EventStore.EventStore
  const tag = Math.random().toString(36).slice(2, 8)
  // One stream per kind to read, filled in batches of 100.
  for (const kind of ["json", "binary"] as const) {
    for (let i = 0; i < readCount; i += 100) {
      const n = Math.min(100, readCount - i)
      yield* store.append(`read${tag}${kind}-1`, Array.from({ length: n }, () => kinds[kind]("Read")))
    }
  }
  const append = (kind: Kind, round: number) =>
    Effect.gen(function*() {
      const start = performance.now()
      for (let i = 0; i < appendCount; i++) {
        yield* store.append(`app${tag}${kind}-${round}x${i}`, [kinds[kind]("Appended")])
      }
      return appendCount / ((performance.now() - start) / 1000)
    })
  const read = (kind: Kind) =>
    Effect.gen(function*() {
      const start = performance.now()
      let count = 0
      let bytes = 0
      yield* Stream.runForEach(store.read(`read${tag}${kind}-1`), (event) =>
        Effect.sync(() => {
          count++
          // One access: the memory store hands out a fresh copy on each.
          const data = event.data
          if (data instanceof Uint8Array) bytes += data.length
        }))
      if (count !== readCount) {
        return yield* Effect.die(new Error(`read ${count} ${kind} events, expected ${readCount}`))
      }
      if (kind === "binary" && bytes !== readCount * size) return yield* Effect.die(new Error("binary bytes lost"))
      return count / ((performance.now() - start) / 1000)
    })
  // Untimed warm-up of both paths.
  for (const kind of ["json", "binary"] as const) {
    yield* append(kind, -1)
    yield* read(kind)
  }
  const samples = {
    append: { json: [] as Array<number>, binary: [] as Array<number> },
    read: { json: [] as Array<number>, binary: [] as Array<number> }
  }
  for (let round = 0; round < rounds; round++) {
    const order: ReadonlyArray<Kind> = round % 2 === 0 ? ["json", "binary"] : ["binary", "json"]
    for (const kind of order) {
      ;(globalThis as { gc?: () => void }).gc?.()
      samples.append[kind].push(yield* append(kind, round))
      samples.read[kind].push(yield* read(kind))
    }
    process.stderr.write(`round ${round + 1}/${rounds}\n`)
  }
  const median = (xs: ReadonlyArray<number>) => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const figure = (of: { json: Array<number>; binary: Array<number> }) => {
    const ratios = of.json.map((j, i) => of.binary[i] / j)
    return {
      jsonPerSecond: Math.round(median(of.json)),
      binaryPerSecond: Math.round(median(of.binary)),
      ratio: Number(median(ratios).toFixed(3)),
      ratioMin: Number(Math.min(...ratios).toFixed(3)),
      ratioMax: Number(Math.max(...ratios).toFixed(3))
    }
  }
  return {
    backend,
    payloadBytes: size,
    rounds,
    appends: appendCount,
    readEvents: readCount,
    append: figure(samples.append),
    read: figure(samples.read)
  }
})

const main = Effect.scoped(Effect.gen(function*() {
  const context = yield* Layer.build(layerOf(backend))
  return yield* Effect.provideContext(run, context as Context.Context<EventStore.EventStore>)
}))

Effect.runPromise(main).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  }
)
