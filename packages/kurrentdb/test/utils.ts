/**
 * The server the KurrentDB conformance run targets, in this order:
 * - `KURRENTDB_URL` when set (a server of your own);
 * - a real KurrentDB in a container when `STRATA_TESTCONTAINERS=1` (needs `@testcontainers/kurrentdb`
 *   installed and a container runtime; without either the run fails loudly, it never falls back);
 * - otherwise a fresh in-process emulator per test file, stopped with the layer. It advertises
 *   BatchAppend like a current server, so single-stream appends take the client's production path;
 *   `STRATA_KURRENT_APPEND=append` starts it in the older mode (the client appends with Append, as it
 *   also does when a call carries its own credentials). The `kurrentdb-append` project runs the
 *   conformance suite that way (vitest.append.config.ts).
 */
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

interface Target {
  readonly connectionString: string
  readonly stop: () => Promise<unknown>
}

const container = async (): Promise<Target> => {
  const name = "@testcontainers/kurrentdb"
  let module: {
    KurrentDbContainer: new(
      image: string
    ) => { start(): Promise<{ getConnectionString(): string; stop(): Promise<unknown> }> }
  }
  try {
    module = await import(name)
  } catch (cause) {
    throw new Error(
      `STRATA_TESTCONTAINERS=1 but ${name} cannot be loaded: install it (npm i -D -w @strata/kurrentdb ${name}) and run a container runtime`,
      { cause }
    )
  }
  const started = await new module.KurrentDbContainer("docker.kurrent.io/kurrent-latest/kurrentdb:latest").start()
  return { connectionString: started.getConnectionString(), stop: () => started.stop() }
}

/** Which append path the emulator leads the client to: BatchAppend (default) or the older Append. */
export const appendPath: "batch" | "append" = process.env.STRATA_KURRENT_APPEND === "append" ? "append" : "batch"

/** Where the tests connect. */
export const target = Effect.acquireRelease(
  Effect.promise(async (): Promise<Target> => {
    const url = process.env.KURRENTDB_URL
    if (url !== undefined && url !== "") return { connectionString: url, stop: () => Promise.resolve() }
    if (process.env.STRATA_TESTCONTAINERS === "1") return container()
    const emulator = await KurrentEmulator.start({ batchAppend: appendPath === "batch" })
    return { connectionString: emulator.connectionString, stop: emulator.stop }
  }),
  ({ stop }) => Effect.promise(stop)
)

/** The name of the target, for test titles. */
export const targetName = process.env.KURRENTDB_URL
  ? "KURRENTDB_URL"
  : process.env.STRATA_TESTCONTAINERS === "1"
  ? "testcontainers"
  : `emulator, ${appendPath === "batch" ? "BatchAppend" : "Append"}`

/** Both stores on the test server. */
export const storeLayer = (options: Omit<KurrentStore.KurrentStoreOptions, "connectionString"> = {}) =>
  Layer.unwrap(Effect.map(target, ({ connectionString }) => KurrentStore.layer({ ...options, connectionString })))
