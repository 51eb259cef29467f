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
import { DocumentStore, EventStore, Lease, ParkedEvents, StoreAdmin, type StoreError, UnitOfWork } from "@strata/core"
import { Tracing } from "@strata/core/backend"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as KurrentClient from "./KurrentClient.ts"
import * as KurrentDocuments from "./KurrentDocuments.ts"
import * as KurrentEvents from "./KurrentEvents.ts"
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
 * Connects and builds both stores; the client is disposed of with the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: KurrentStoreOptions) {
  const client = yield* KurrentClient.make(reveal(options.connectionString))
  const events = KurrentEvents.make(client, options)
  const eventStore = EventStore.EventStore.of(Tracing.eventStore(events.eventStore))
  const documentStore = DocumentStore.DocumentStore.of(
    Tracing.documentStore(KurrentDocuments.make(events, { maxDocumentBytes: options.maxDocumentBytes }))
  )
  const parkedEvents = KurrentParkedEvents.make(events)
  return { eventStore, documentStore, parkedEvents, endpoint: client.endpoint }
})

/**
 * Leases on KurrentDB: not built yet (a lease stream written with expected revisions would be);
 * every operation fails with `Unsupported`, so `Lease.holding` and `ConsumerGroup.run` fail at once
 * rather than run unguarded.
 *
 * @category constructors
 * @since 0.1.0
 */
export const leases: Lease.LeaseStoreShape = Lease.unsupported(
  "kurrentdb",
  "leases and consumer groups need a lease store; run them on PostgreSQL, SQLite or D1 beside KurrentDB"
)

/**
 * KurrentDB has no interactive transactions: `UnitOfWork.transaction` fails with `Unsupported`,
 * pointing at the forms that are one multi-stream append.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unitOfWork: UnitOfWork.UnitOfWorkShape = UnitOfWork.unsupported(
  "kurrentdb",
  "KurrentDB has no interactive transactions; write atomically with UnitOfWork.commit (appends to several streams and at most one document), appendMany or DocumentStore.put with `events`: each is one multi-stream append (KurrentDB 25.1 or later)"
)

/**
 * The EventStore and DocumentStore on one KurrentDB connection, {@link leases} (`Unsupported`),
 * {@link unitOfWork} (`Unsupported`), and a StoreAdmin (`StoreAdmin.layerScan`: statistics read
 * from `$all`, no schema, checkpoints not listable).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: KurrentStoreOptions
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | StoreAdmin.StoreAdmin | Lease.LeaseStore,
  StoreError.StoreUnavailable
> =>
  Layer.provideMerge(
    StoreAdmin.layerScan,
    Layer.effectContext(
      Effect.map(make(options), ({ documentStore, eventStore, parkedEvents }) =>
        Context.make(EventStore.EventStore, eventStore).pipe(
          Context.add(DocumentStore.DocumentStore, documentStore),
          Context.add(ParkedEvents.ParkedEvents, parkedEvents),
          Context.add(Lease.LeaseStore, leases),
          Context.add(UnitOfWork.UnitOfWork, unitOfWork)
        ))
    )
  )

/**
 * {@link layer} with options from Config; by default the connection string is `KURRENTDB_URL`.
 *
 * @example
 * ```ts
 * KurrentStore.layerConfig({ connectionString: Config.Redacted("KURRENTDB_URL") })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<KurrentStoreOptions> = { connectionString: Config.Redacted("KURRENTDB_URL") }
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | StoreAdmin.StoreAdmin | Lease.LeaseStore,
  StoreError.StoreUnavailable | Config.ConfigError
> => Layer.unwrap(Effect.map(Config.unwrap(config), layer))
