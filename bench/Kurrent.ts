/**
 * `--backend kurrentdb`: the store on the in-process emulator (or KURRENTDB_URL), and as its floor the
 * raw `@kurrent/kurrentdb-client` on the same server doing the minimum: one append call with the
 * expected revision, one read call. The ratios are Strata's overhead over the client, not KurrentDB's
 * speed: on the emulator the server is JavaScript in the same process.
 */
import { eventTypeFilter, FORWARDS, KurrentDBClient, START, WrongExpectedVersionError } from "@kurrent/kurrentdb-client"
import type { DocumentStore, EventStore } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import type { Floor } from "./Workloads.ts"

class Target extends Context.Service<Target, { readonly connectionString: string }>()("bench/KurrentTarget") {
  static readonly layer = Layer.effect(Target)(Effect.acquireRelease(
    Effect.promise(async () => {
      const url = process.env.KURRENTDB_URL
      if (url !== undefined && url !== "") return { connectionString: url, stop: () => Promise.resolve() }
      const emulator = await KurrentEmulator.start()
      return { connectionString: emulator.connectionString, stop: emulator.stop }
    }),
    (target) => Effect.promise(target.stop)
  ))
}

/** The store and the raw client, on one server. */
export const layer: Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore | Target, unknown> = Layer
  .unwrap(Effect.map(Target, ({ connectionString }) => KurrentStore.layer({ connectionString })))
  .pipe(Layer.provideMerge(Target.layer))

const count = async (iterable: AsyncIterable<unknown>) => {
  let n = 0
  for await (const _ of iterable) n++
  return n
}

/**
 * A server for benches that measure this process's heap: KURRENTDB_URL, or the emulator in a child
 * process (stopped with the scope), so what they count is the client's memory alone.
 */
export const outOfProcess: Effect.Effect<{ readonly connectionString: string }, Error, Scope.Scope> = Effect
  .acquireRelease(
    Effect.callback<{ readonly connectionString: string; readonly stop: () => void }, Error>((resume) => {
      const url = process.env.KURRENTDB_URL
      if (url !== undefined && url !== "") return resume(Effect.succeed({ connectionString: url, stop: () => {} }))
      const child = spawn(process.execPath, [
        "--conditions=@strata/source",
        "--input-type=module",
        "-e",
        `import { KurrentEmulator } from "@strata/kurrentdb-emulator"
         const e = await KurrentEmulator.start(); console.log(e.connectionString)`
      ], { stdio: ["ignore", "pipe", "inherit"] })
      child.stdout.once(
        "data",
        (line: Buffer) => resume(Effect.succeed({ connectionString: line.toString().trim(), stop: () => child.kill() }))
      )
      child.once("exit", (code) => resume(Effect.fail(new Error(`the emulator exited (${code})`))))
    }),
    (target) => Effect.sync(target.stop)
  )

/** The store on {@link outOfProcess}. */
export const layerOutOfProcess: Layer.Layer<EventStore.EventStore | DocumentStore.DocumentStore, unknown> = Layer
  .unwrap(Effect.map(outOfProcess, ({ connectionString }) => KurrentStore.layer({ connectionString })))

/** The raw client floor. `appendIndexed` is `append`: KurrentDB has no optional indexes to pay for. */
export const floor: Effect.Effect<Floor, unknown, Target | Scope.Scope> = Effect.gen(function*() {
  const { connectionString } = yield* Target
  const client = yield* Effect.acquireRelease(
    Effect.sync(() => KurrentDBClient.connectionString(connectionString)),
    (client) => Effect.promise(() => client.dispose())
  )
  const append: Floor["append"] = (stream, expected, payloads) =>
    Effect.tryPromise(() =>
      client.appendToStream(
        stream,
        payloads.map((data) => ({
          id: crypto.randomUUID(),
          contentType: "application/json" as const,
          type: "OrderPlaced",
          data: JSON.parse(data),
          metadata: undefined
        })),
        { streamState: expected < 0 ? "no_stream" : BigInt(expected) }
      ).then(
        () => undefined,
        (error: unknown) => {
          // The conflict answer comes in the append's own response.
          if (!(error instanceof WrongExpectedVersionError)) throw error
          return typeof error.actualState === "bigint" ? Number(error.actualState) : -1
        }
      )
    )
  return {
    append,
    appendIndexed: append,
    readStream: (stream) => Effect.tryPromise(() => count(client.readStream(stream, { direction: FORWARDS }))),
    // The same server-side filter the store uses for an unfiltered readAll (no system events).
    readAll: Effect.tryPromise(() =>
      count(client.readAll({ fromPosition: START, filter: eventTypeFilter({ regex: "^[^$]" }) } as never))
    ),
    seedStore: (total, payload) =>
      Effect.tryPromise(async () => {
        const data = JSON.parse(payload)
        for (let i = 0; i < total; i += 1000) {
          const batch = Array.from({ length: Math.min(1000, total - i) }, () => ({
            id: crypto.randomUUID(),
            contentType: "application/json" as const,
            type: "Seeded",
            data,
            metadata: undefined
          }))
          await client.appendToStream(`seed-${i / 1000}`, batch)
        }
        return count(client.readAll({ fromPosition: START, filter: eventTypeFilter({ regex: "^[^$]" }) } as never))
      })
  } satisfies Floor
})
