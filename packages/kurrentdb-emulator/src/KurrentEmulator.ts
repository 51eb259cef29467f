/**
 * An in-process gRPC server that speaks KurrentDB's client protocol, for tests: the real
 * `@kurrent/kurrentdb-client` (grpc-js for writes and subscriptions, the Rust bridge for reads) connects
 * to it with an ordinary `kurrentdb://127.0.0.1:<port>?tls=false` connection string.
 *
 * Served: ServerFeatures/GetSupportedMethods, Streams Read (stream and $all, forwards and backwards,
 * filters, catch-up subscriptions with confirmation, caught-up and checkpoint messages), Append,
 * Delete, Tombstone, and the v2 StreamsService/AppendSession (multi-stream append). Not served:
 * BatchAppend (not advertised, so the client falls back to Append), persistent subscriptions,
 * projections, users, gossip, AppendRecords. See the package README for what is emulated how.
 * The handlers live in `internal/`, a module per protocol service (features, streams with reads,
 * streamsV2), over the errors and codec modules.
 *
 * @example
 * ```ts
 * const emulator = await KurrentEmulator.start()
 * const client = KurrentDBClient.connectionString(emulator.connectionString)
 * // ...
 * await emulator.stop()
 * ```
 *
 * @since 0.1.0
 */
import * as grpc from "@grpc/grpc-js"
import { Database } from "./Database.ts"
import type { HandlerContext } from "./internal/context.ts"
import { featuresService } from "./internal/features.ts"
import { streamsService } from "./internal/streams.ts"
import { streamsV2Service } from "./internal/streamsV2.ts"
import * as P from "./protocol.ts"

/**
 * Options of {@link start}.
 *
 * @category models
 * @since 0.1.0
 */
export interface EmulatorOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** The version ServerFeatures reports. Default "25.1.0" (the first with multi-stream appends). */
  readonly serverVersion?: string | undefined
  /** Whether the v2 AppendSession is served and advertised. Default true; false emulates a server before 25.1. */
  readonly multiStreamAppend?: boolean | undefined
}

/**
 * A running emulator.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEmulator {
  readonly port: number
  /** `kurrentdb://127.0.0.1:<port>?tls=false` */
  readonly connectionString: string
  readonly database: Database
  /** Refuses every call with UNAVAILABLE while true, like a node that went away. */
  unavailable: boolean
  readonly stop: () => Promise<void>
}

/**
 * Starts an emulator on 127.0.0.1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (options: EmulatorOptions = {}): Promise<KurrentEmulator> => {
  const database = new Database()
  const server = new grpc.Server()
  const multiStream = options.multiStreamAppend ?? true
  const state = { unavailable: false }
  const live = new Set<() => void>()
  const context: HandlerContext = { database, faults: state, live }

  server.addService(P.featuresGrpc.ServerFeaturesService, featuresService(options, multiStream))
  server.addService(P.streamsGrpc.StreamsService, streamsService(context))
  if (multiStream) server.addService(P.streamsV2Grpc.StreamsServiceService, streamsV2Service(context))

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${options.port ?? 0}`,
      grpc.ServerCredentials.createInsecure(),
      (error, port) => error === null ? resolve(port) : reject(error)
    )
  )

  const emulator: KurrentEmulator = {
    port,
    connectionString: `kurrentdb://127.0.0.1:${port}?tls=false`,
    database,
    get unavailable() {
      return state.unavailable
    },
    set unavailable(value: boolean) {
      state.unavailable = value
      // Going away drops every live subscription, as a node restart would.
      if (value) { for (const drop of [...live]) drop() }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const drop of [...live]) drop()
        server.tryShutdown(() => resolve())
        setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, 1_000).unref()
      })
  }
  return emulator
}
