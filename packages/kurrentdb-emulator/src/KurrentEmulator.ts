/**
 * An in-process gRPC server that speaks KurrentDB's client protocol, for tests: the real
 * `@kurrent/kurrentdb-client` (grpc-js for writes and subscriptions, the Rust bridge for reads) connects
 * to it with an ordinary `kurrentdb://127.0.0.1:<port>?tls=false` connection string.
 *
 * Served: ServerFeatures/GetSupportedMethods, Streams Read (stream and $all, forwards and backwards,
 * filters, links resolved on request, catch-up subscriptions with confirmation, caught-up and
 * checkpoint messages), Append, BatchAppend (advertised, so the client appends through it as it does
 * against a current server; `batchAppend: false` starts the older mode), Delete, Tombstone, and the
 * v2 StreamsService/AppendSession (multi-stream append) and AppendRecords (with consistency checks,
 * the current mode only), and PersistentSubscriptions (competing
 * consumers: create, update, delete, read with ack/nack, info, list, replay parked, restart). Not
 * served: projections, users, gossip. See the package README for what is emulated how.
 * The handlers live in `internal/`, a module per protocol service (features, streams with reads and
 * batchAppend, streamsV2, persistent), over the errors and codec modules.
 *
 * @example
 * ```ts
 * import { KurrentDBClient } from "@kurrent/kurrentdb-client"
 * import { KurrentEmulator } from "@strata/kurrentdb-emulator"
 *
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
import { persistentService } from "./internal/persistent.ts"
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
  /**
   * The version ServerFeatures reports. Default "26.1.0" (the first with AppendRecords) when
   * AppendRecords is served, else "25.1.0" (the first with multi-stream appends).
   */
  readonly serverVersion?: string | undefined
  /** Whether the v2 AppendSession is served and advertised. Default true; false emulates a server before 25.1. */
  readonly multiStreamAppend?: boolean | undefined
  /**
   * Whether BatchAppend is served and advertised. Default true, as every server since 21.10 does, so
   * the client appends through it; false is the older mode, where the client appends with Append.
   */
  readonly batchAppend?: boolean | undefined
  /**
   * Whether the v2 AppendRecords (multi-stream append with consistency checks, 26.1) is served and
   * advertised. Default: true when the v2 service is served and BatchAppend is on (the current mode);
   * the older mode (`batchAppend: false` or `multiStreamAppend: false`) leaves it out.
   */
  readonly appendRecords?: boolean | undefined
  /**
   * Whether the log starts with the records a fresh node writes (epoch, default users). Default true,
   * so `$all` is never empty of system events; false starts with an empty log.
   */
  readonly systemEvents?: boolean | undefined
}

/**
 * The largest request message the server accepts: the v2 streams service's
 * `MaxReceiveMessageSize`, 1.5 x `MaxAppendSize` (256 MiB), ApiV2Plugin.cs. grpc-js would refuse
 * anything over 4 MiB by default; the v1 service's own, smaller limit is checked in its handlers.
 */
export const maxReceiveMessageSize = 384 * 1024 * 1024

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
  if (options.systemEvents ?? true) database.seedSystemEvents()
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxReceiveMessageSize,
    "grpc.max_send_message_length": -1
  })
  const multiStream = options.multiStreamAppend ?? true
  const batchAppend = options.batchAppend ?? true
  const appendRecords = multiStream && (options.appendRecords ?? batchAppend)
  const state = { unavailable: false }
  const live = new Set<() => void>()
  const context: HandlerContext = { database, faults: state, live }

  server.addService(
    P.featuresGrpc.ServerFeaturesService,
    featuresService(options, { multiStream, batchAppend, appendRecords })
  )
  server.addService(P.streamsGrpc.StreamsService, streamsService(context, { batchAppend }))
  const persistent = persistentService(context)
  server.addService(P.persistentGrpc.PersistentSubscriptionsService, persistent.service as never)
  if (multiStream) {
    server.addService(P.streamsV2Grpc.StreamsServiceService, streamsV2Service(context, { appendRecords }))
  }

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
        persistent.stop()
        server.tryShutdown(() => resolve())
        setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, 1_000).unref()
      })
  }
  return emulator
}
