/**
 * The server the KurrentDB tests run against: `KURRENTDB_URL` when set, else a fresh in-process
 * emulator per test file (stopped with the layer).
 */
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** Where the tests connect, and whether it is the emulator. */
export const target = Effect.acquireRelease(
  Effect.promise(async () => {
    const url = process.env.KURRENTDB_URL
    if (url !== undefined && url !== "") return { connectionString: url, emulator: undefined }
    const emulator = await KurrentEmulator.start()
    return { connectionString: emulator.connectionString, emulator }
  }),
  ({ emulator }) => Effect.promise(() => emulator?.stop() ?? Promise.resolve())
)

/** Both stores on the test server. */
export const storeLayer = (options: Omit<KurrentStore.KurrentStoreOptions, "connectionString"> = {}) =>
  Layer.unwrap(Effect.map(target, ({ connectionString }) => KurrentStore.layer({ ...options, connectionString })))
