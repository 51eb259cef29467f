/**
 * Strata on KurrentDB through the official `@kurrent/kurrentdb-client`: one client per layer,
 * providing the EventStore (KurrentDB streams) and the DocumentStore (one stream per document).
 *
 * Connection strings are the client's own: `kurrentdb://host:2113?tls=false` for a local node,
 * `kurrentdb://user:password@host:2113?tls=true&tlsCAFile=/path/ca.crt` for a secure one,
 * `kurrentdb+discover://...` for a cluster. Credentials never appear in errors, logs or spans:
 * errors name the endpoint (`host:port`) only.
 *
 * @example
 * ```ts
 * import { KurrentStore } from "@strata/kurrentdb"
 *
 * const StoreLive = KurrentStore.layer({ connectionString: "kurrentdb://127.0.0.1:2113?tls=false" })
 * // or, from KURRENTDB_URL:
 * const FromEnv = KurrentStore.layerConfig()
 * ```
 *
 * @since 0.1.0
 */
import { Store, StoreAdmin, type StoreError } from "@strata/core"
import { Backend, Otel } from "@strata/core/backend"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as KurrentClient from "./KurrentClient.ts"
import * as KurrentDocuments from "./KurrentDocuments.ts"
import * as KurrentEvents from "./KurrentEvents.ts"
import * as KurrentLeases from "./KurrentLeases.ts"
import * as KurrentParkedEvents from "./KurrentParkedEvents.ts"

/**
 * Where to connect, and the limits of both stores.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentStoreOptions extends KurrentEvents.KurrentEventsOptions {
  /** A KurrentDB connection string (plain, or Redacted when it carries credentials). */
  readonly connectionString: string | Redacted.Redacted<string>
  /** Largest document, as UTF-8 JSON. Default 1 MiB. */
  readonly maxDocumentBytes?: number | undefined
}

const reveal = (value: string | Redacted.Redacted<string>): string =>
  typeof value === "string" ? value : Redacted.value(value)

/**
 * Connects and builds the backend record; the client is disposed of with the scope.
 *
 * What KurrentDB cannot do atomically from the client shows in the record: no interactive
 * transactions (`commit: Batched`: units of work are `Unsupported`; a consumer's checkpoint is saved
 * in one multi-stream append with its lease, after its handler's writes: at least once), leases on
 * lease streams written with expected revisions (`KurrentLeases`), no inline projections;
 * `StoreAdmin.makeScan` (statistics read from `$all`, no schema, checkpoints not listable).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: KurrentStoreOptions) {
  const client = yield* KurrentClient.make(reveal(options.connectionString))
  const events = KurrentEvents.make(client, options)
  const leases = KurrentLeases.make(client, events)
  return {
    name: "kurrentdb",
    // The spans' server.address/port (a gossip seed list of several hosts names none).
    connection: Otel.connectionFromUrl(reveal(options.connectionString), "kurrentdb"),
    eventStore: events.eventStore,
    documentStore: KurrentDocuments.make(events, { maxDocumentBytes: options.maxDocumentBytes }),
    admin: StoreAdmin.makeScan(events.eventStore),
    commit: {
      _tag: "Batched",
      detail:
        "KurrentDB has no interactive transactions; write atomically with UnitOfWork.commit (appends to several streams and at most one document), appendMany or DocumentStore.put with `events`: each is one multi-stream append (KurrentDB 25.1 or later)",
      // A fenced checkpoint is one multi-stream append with the lease stream at its checked revision.
      saveCheckpoint: leases.saveCheckpoint
    },
    leases: leases.store,
    parkedEvents: KurrentParkedEvents.make(events),
    capabilities: Backend.capabilities({
      maxEventBytes: options.maxEventBytes ?? 1024 * 1024,
      maxDocumentBytes: options.maxDocumentBytes ?? 1024 * 1024,
      // KurrentDB's idempotency check is per stream and positional.
      rejectsReusedEventIds: false,
      // Its expected-revision check ignores a soft delete.
      exactMatchesSoftDeleted: true,
      // `$maxAge` is whole seconds.
      maxAgeResolutionMillis: 1000,
      // Checkpoints live in streams of their own.
      listsCheckpoints: false
    })
  } satisfies Backend.Backend
})

/**
 * Every service of a store on one KurrentDB connection (`Store.Services`), decorated (see
 * `Store.layer`). Leases, exclusive consumers and consumer groups work here (lease streams written with
 * expected revisions; see `KurrentLeases`), at least once.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: KurrentStoreOptions
): Layer.Layer<Store.Services, StoreError.StoreUnavailable> =>
  // Takes no inline projections, so the derivation cannot refuse them.
  Store.layerBackend(make(options)) as Layer.Layer<Store.Services, StoreError.StoreUnavailable>

/**
 * {@link layer} with options from Config; by default the connection string is `KURRENTDB_URL`.
 *
 * @example
 * ```ts
 * import { KurrentStore } from "@strata/kurrentdb"
 * import { Config } from "effect"
 *
 * KurrentStore.layerConfig({ connectionString: Config.Redacted("KURRENTDB_URL") })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<KurrentStoreOptions> = { connectionString: Config.Redacted("KURRENTDB_URL") }
): Layer.Layer<Store.Services, StoreError.StoreUnavailable | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(config), layer))
