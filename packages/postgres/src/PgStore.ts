/**
 * Strata on PostgreSQL: the shared SQL store with the PostgreSQL dialect (`PgDialect`), migrations
 * applied at startup (under an advisory lock, so N processes can start at once), and `PgNotifier`'s
 * LISTEN/NOTIFY wake-ups between processes.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { DocumentStore, EventStore } from "@strata/core"
import { SqlStore } from "@strata/sql"
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as PgDialect from "./PgDialect.ts"
import * as PgNotifier from "./PgNotifier.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface PgStoreOptions extends SqlStore.StoreOptions {
  /**
   * Under load, the longest a commit waits before a NOTIFY tells other processes about it (one
   * NOTIFY covers every commit in the interval; the first commit after a quiet one is sent at once).
   * Subscribers in this process are woken at commit regardless. Default 5 ms.
   */
  readonly notifyInterval?: Duration.Input | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type PgStoreConfig = PgClient.PgPoolConfig & PgStoreOptions

/**
 * Both stores over the PgClient in context (use this to share a client you built yourself).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options: PgStoreOptions = {}
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore,
  SqlError,
  PgClient.PgClient | SqlClient.SqlClient
> =>
  SqlStore.layer({
    dialect: PgDialect.dialect,
    backend: "postgres",
    ...SqlStore.splitOptions(options)[0],
    // NOTIFY wakes subscribers across processes; the poll is only the fallback.
    pollInterval: options.pollInterval ?? Duration.millis(500),
    onStart: (store) =>
      Effect.gen(function*() {
        const self = crypto.randomUUID()
        yield* PgNotifier.listen(store.signal, self)
        yield* PgNotifier.notify(store.committed, { self, interval: options.notifyInterval ?? Duration.millis(5) })
      })
  })

/**
 * Both stores plus the PgClient/SqlClient they use (so consumers can write projections in the same
 * transaction as their checkpoint).
 *
 * @example
 * PgStore.layer({ url: Redacted.make(process.env.DATABASE_URL!) })
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: PgStoreConfig
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | PgClient.PgClient | SqlClient.SqlClient,
  SqlError
> => {
  const [options, { notifyInterval, ...client }] = SqlStore.splitOptions(config)
  return layerFromClient({ ...options, notifyInterval }).pipe(Layer.provideMerge(PgClient.layer(client)))
}

/**
 * {@link layer} from Config, e.g. `PgStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<PgClient.PgPoolConfig>,
  options: PgStoreOptions = {}
): Layer.Layer<
  EventStore.EventStore | DocumentStore.DocumentStore | PgClient.PgClient | SqlClient.SqlClient,
  SqlError | Config.ConfigError
> => layerFromClient(options).pipe(Layer.provideMerge(PgClient.layerConfig(config)))
