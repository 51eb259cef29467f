/**
 * The backend from configuration: one URL picks the store, so the same program runs on memory,
 * SQLite or PostgreSQL by changing `STRATA_URL`.
 *
 * | URL | backend | package (install it beside `@strata/strata`) |
 * | --- | --- | --- |
 * | `memory:` | {@link MemoryStore} | `@strata/core` |
 * | `sqlite:./app.db`, `sqlite:/abs/app.db`, `sqlite::memory:` | SQLite (`node:sqlite`) | `@strata/sqlite` |
 * | `postgres://user:password@host:5432/db`, `postgresql://...` (`?schema=orders`: a schema of its own; `?replica=host:port`: reads from a hot standby; `host1:5432,host2:5432` or `?target_session_attrs=read-write`: a cluster, followed through failover) | PostgreSQL | `@strata/postgres` |
 * | `kurrentdb://...` (also `esdb://`) | KurrentDB, the client's own connection string | `@strata/kurrentdb` |
 *
 * D1 is not a URL: a Worker gets its database as a binding, so use `D1Store.layer({ db: env.DB })`.
 *
 * Backend packages are imported only when their scheme is asked for (dynamic `import()`), so a
 * program on `memory:` never loads `node:sqlite` or the PostgreSQL driver, and each backend parses
 * its own URL (`SqliteUrl`, `PgUrl`). The URL is `Redacted` from the moment it is read: errors name
 * the scheme and what is wrong, never the URL, so a password in it reaches no log line or span.
 *
 * @since 0.1.0
 */
import { MemoryStore, type Projection, type Store, type StoreError, StoreUrl } from "@strata/core"
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"

/**
 * What every backend picked by URL provides: every service of a store (`Store.Services`: both
 * stores, their StoreAdmin, leases, units of work, checkpoints, parked events), derived from the
 * backend's record, so the same program runs on any of them.
 *
 * @category models
 * @since 0.1.0
 */
export type Services = Store.Services

/**
 * Store options shared by the backends; each backend ignores the ones it has no use for (the memory
 * store neither polls nor migrates).
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions {
  /** Events per page for reads and subscriptions. `STRATA_PAGE_SIZE`. */
  readonly pageSize?: number | undefined
  /** How often live subscriptions look for appends from other processes. `STRATA_POLL_INTERVAL`. */
  readonly pollInterval?: Duration.Input | undefined
  /** Largest event (data + metadata as UTF-8 JSON). `STRATA_MAX_EVENT_BYTES`. */
  readonly maxEventBytes?: number | undefined
  /** Apply pending migrations when the layer starts (SQL backends). Default true. `STRATA_MIGRATE`. */
  readonly migrate?: boolean | undefined
  /**
   * Retry the first contact with the database while it fails transiently (a server still starting),
   * e.g. `Startup.defaultRetry` from `@strata/sql` (SQL backends). Default: no retry.
   * `STRATA_STARTUP_RETRY` (a duration: keep retrying, once a second, for that long).
   */
  readonly startupRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Inline projections, run inside every append's transaction (memory, SQLite, PostgreSQL). A
   * KurrentDB URL with projections fails with `StoreUrlError` (`NotAvailable`): it has no
   * transactions; run them with `Projection.run`. Not read from the environment.
   */
  readonly projections?: ReadonlyArray<Projection.Any> | undefined
}

/**
 * Every form {@link layerFromUrl} accepts, as its errors list them.
 *
 * @category parsing
 * @since 0.1.0
 */
export const accepted: ReadonlyArray<string> = [
  "memory:",
  "sqlite:./file.db",
  "sqlite::memory:",
  "postgres://user:password@host:5432/database",
  "postgresql://user:password@host:5432/database",
  "kurrentdb://user:password@host:2113?tls=false"
]

const fail = (
  reason: StoreUrl.StoreUrlError["reason"],
  scheme: string | undefined,
  detail: string,
  cause?: unknown
) => Effect.fail(new StoreUrl.StoreUrlError({ reason, scheme, detail, accepted: [...accepted], cause }))

// A backend package is loaded on first use; a missing one is a typed error that says what to install.
// SQLite loads but cannot run where Node has no `node:sqlite` (before 22.13): say that instead.
const load = <A>(pkg: string, scheme: string, importer: () => Promise<A>) =>
  Effect.tryPromise({
    try: importer,
    catch: (cause) =>
      new StoreUrl.StoreUrlError({
        reason: "NotInstalled",
        scheme,
        detail: missingBuiltin(cause, "node:sqlite")
          ? `${pkg} needs node:sqlite, which this Node (${process.version}) does not have: use Node 22.19 or later (what Strata supports)`
          : `${pkg} could not be loaded: install it next to @strata/strata (npm install ${pkg})`,
        accepted: [...accepted],
        cause
      })
  })

const missingBuiltin = (cause: unknown, builtin: string): boolean =>
  cause instanceof Error &&
  ((cause as { readonly code?: unknown }).code === "ERR_UNKNOWN_BUILTIN_MODULE" ||
    /No such built-in module/.test(cause.message)) &&
  cause.message.includes(builtin)

type Backend = (
  url: Redacted.Redacted<string>,
  options: StoreOptions
) => Effect.Effect<
  Layer.Layer<Services, StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported>,
  StoreUrl.StoreUrlError
>

const postgres: Backend = (url, options) =>
  Effect.map(
    load("@strata/postgres", "postgres", () => import("@strata/postgres")),
    ({ PgUrl }) => PgUrl.layer(url, options)
  )

const kurrentdb: Backend = (url, { maxEventBytes, pageSize, projections }) =>
  (projections ?? []).length > 0
    ? fail(
      "NotAvailable",
      "kurrentdb",
      "KurrentDB has no transactions for inline projections to run in: run them with Projection.run"
    )
    : Effect.map(
      load("@strata/kurrentdb", "kurrentdb", () => import("@strata/kurrentdb")),
      ({ KurrentUrl }) => KurrentUrl.layer(url, { maxEventBytes, pageSize })
    )

// The one place a backend's scheme is registered.
const backends: Record<string, Backend> = {
  memory: (url, { maxEventBytes, pageSize, projections }) =>
    Redacted.value(url) === "memory:"
      ? Effect.succeed(MemoryStore.layer({ maxEventBytes, pageSize, projections }))
      : fail("Malformed", "memory", "memory: takes nothing after the colon"),
  sqlite: (url, options) =>
    Effect.map(
      load("@strata/sqlite", "sqlite", () => import("@strata/sqlite")),
      ({ SqliteUrl }) => SqliteUrl.layer(url, options)
    ),
  postgres,
  postgresql: postgres,
  kurrentdb,
  esdb: kurrentdb,
  d1: () => fail("Malformed", "d1", "D1 is a Worker binding, not a URL: use D1Store.layer({ db: env.DB })")
}

/**
 * Both stores on the backend a URL names, loading only that backend's package.
 *
 * **Gotchas**
 *
 * Pass the URL as a `Redacted` when it carries a password (as {@link layerConfig} does); a plain
 * string is wrapped at once and never echoed either.
 *
 * @example
 * import { Strata } from "@strata/strata"
 *
 * const StoreLive = Strata.layerFromUrl("sqlite:./app.db", { pageSize: 500 })
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromUrl = (
  url: string | Redacted.Redacted<string>,
  options: StoreOptions = {}
): Layer.Layer<Services, StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported> =>
  Layer.unwrap(Effect.suspend(() => {
    const redacted = Redacted.isRedacted(url) ? url : Redacted.make(url)
    const scheme = StoreUrl.scheme(redacted)
    if (scheme === undefined) return fail("UnknownScheme", undefined, "the URL has no scheme")
    const backend = Object.hasOwn(backends, scheme) ? backends[scheme] : undefined
    return backend === undefined
      ? fail("UnknownScheme", scheme, `no backend has the scheme ${scheme}:`)
      : backend(redacted, options)
  }))

const optionFields = {
  pageSize: Config.Int("STRATA_PAGE_SIZE").pipe(Config.withDefault(undefined)),
  pollInterval: Config.Duration("STRATA_POLL_INTERVAL").pipe(Config.withDefault(undefined)),
  maxEventBytes: Config.Int("STRATA_MAX_EVENT_BYTES").pipe(Config.withDefault(undefined)),
  migrate: Config.Boolean("STRATA_MIGRATE").pipe(Config.withDefault(undefined)),
  startupRetry: Config.Duration("STRATA_STARTUP_RETRY").pipe(
    Config.map((duration): Schedule.Schedule<unknown, unknown> | undefined =>
      Schedule.spaced("1 second").pipe(Schedule.upTo({ duration }))
    ),
    Config.withDefault(undefined)
  )
}

/**
 * The configuration {@link layerConfig} reads, with these variable names:
 *
 * | variable | meaning | default |
 * | --- | --- | --- |
 * | `STRATA_URL` | the store URL (read as `Redacted`) | required |
 * | `STRATA_PAGE_SIZE` | events per page for reads and subscriptions | the backend's (256) |
 * | `STRATA_POLL_INTERVAL` | e.g. `250 millis`, `1 second` | the backend's (SQLite 250 ms, PostgreSQL 500 ms) |
 * | `STRATA_MAX_EVENT_BYTES` | largest event | 1 MiB |
 * | `STRATA_MIGRATE` | `true` / `false`: apply pending migrations at startup | `true` |
 * | `STRATA_STARTUP_RETRY` | e.g. `60 seconds`: retry the first contact with the database for that long | no retry |
 *
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<{ readonly url: Redacted.Redacted<string> } & StoreOptions> = Config.all({
  url: Config.Redacted("STRATA_URL"),
  ...optionFields
})

/**
 * Both stores on the backend `STRATA_URL` names, with the store options from {@link config}.
 *
 * **When to use**
 *
 * In applications: one build runs on any backend. `defaultUrl` is for examples and tests only; a
 * service that forgets `STRATA_URL` should fail at startup, not quietly keep its events in memory.
 *
 * @example
 * import { Strata } from "@strata/strata"
 *
 * // STRATA_URL=sqlite:./app.db, or postgres://app:secret@db:5432/app, or memory:
 * const StoreLive = Strata.layerConfig()
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: {
    readonly defaultUrl?: string | undefined
    /** Inline projections (see `StoreOptions.projections`). */
    readonly projections?: ReadonlyArray<Projection.Any> | undefined
  } = {}
): Layer.Layer<
  Services,
  StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported | Config.ConfigError
> =>
  Layer.unwrap(Effect.gen(function*() {
    const { url, ...storeOptions } = yield* Config.all({
      ...optionFields,
      url: Config.Redacted("STRATA_URL").pipe(
        Config.option,
        Config.map(Option.orElse(() => Option.fromUndefinedOr(options.defaultUrl).pipe(Option.map(Redacted.make))))
      )
    })
    // A missing STRATA_URL is the first thing a new deployment meets: say what to set.
    if (Option.isNone(url)) return yield* fail("Missing", undefined, "STRATA_URL is not set: set it to a store URL")
    return layerFromUrl(url.value, { ...storeOptions, projections: options.projections })
  }))
