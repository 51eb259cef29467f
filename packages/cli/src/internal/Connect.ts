/**
 * The store a command works on: `--url`, or `STRATA_URL` when the flag is absent, opened through
 * `Strata.layerFromUrl` (backends load lazily: memory:, postgres://..., kurrentdb://...), or for a
 * `sqlite:` URL through `SqliteUrl.layer` (loaded as lazily), which can refuse a missing file.
 *
 * @since 0.1.0
 */
import { EventStore, StoreAdmin, type StoreError, StoreUrl } from "@strata/core"
import { Strata } from "@strata/strata"
import { Flag } from "effect/cli"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as Output from "./Output.ts"
import { UsageError } from "./Usage.ts"

/**
 * `--url URL`, falling back to `STRATA_URL`. Read as `Redacted`: never printed.
 *
 * @category flags
 * @since 0.1.0
 */
export const url = Flag.Redacted("url").pipe(
  Flag.withDescription(
    "the store: memory:, sqlite:FILE, postgres://user:password@host/db, kurrentdb://... (default: $STRATA_URL)"
  ),
  Flag.withFallbackConfig(Config.Redacted("STRATA_URL"))
)

/**
 * An open store: its EventStore and StoreAdmin.
 *
 * @category models
 * @since 0.1.0
 */
export interface Opened {
  readonly eventStore: EventStore.EventStoreShape
  readonly admin: StoreAdmin.StoreAdminShape
  /** Every service the store's layer built (its SqlClient, for `strata jobs`). */
  readonly context: Context.Context<unknown>
}

/**
 * How a command opens its store. Only `create` may make a store: a mistyped SQLite path is an
 * error everywhere else, not a new empty database.
 *
 * - `create` (`import`, a copy's target): as a program's store layer does: a missing SQLite file
 *   becomes a new database, pending migrations are applied.
 * - `migrate` (`strata migrate`): a missing SQLite file becomes a new database; the command applies
 *   the migrations itself (and says which).
 * - `write` (`streams delete` / `tombstone`, `consumers reset`): an existing store that has the
 *   Strata schema; pending migrations are applied.
 * - `read` (`stats`, `streams info`, `export`, `tail`, `consumers list`, a copy's source): an
 *   existing store that has the Strata schema, left as it is (not migrated).
 * - `inspect` (`migrate status`, `migrate --check`): an existing store, schema or not, left as it is.
 *
 * @category models
 * @since 0.1.0
 */
export type Access = "create" | "migrate" | "write" | "read" | "inspect"

const sqlite = () => import("@strata/sqlite")

const layerOf = (
  url: Redacted.Redacted<string>,
  options: { readonly migrate: boolean; readonly mustExist: boolean }
): Layer.Layer<Strata.Services, StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported> =>
  StoreUrl.scheme(url) === "sqlite"
    // `mustExist` is SQLite's own: Strata.layerFromUrl has no such option to pass on.
    ? Layer.unwrap(Effect.map(Effect.promise(sqlite), ({ SqliteUrl }) => SqliteUrl.layer(url, options)))
    : Strata.layerFromUrl(url, { migrate: options.migrate })

// A SQLite store that failed to start because its file is not there: say so, with the file's name.
const missingFile = (url: Redacted.Redacted<string>) =>
  Effect.promise(sqlite).pipe(
    Effect.flatMap(({ SqliteUrl }) => SqliteUrl.parse(url)),
    Effect.map(({ filename }) => filename !== ":memory:" && !fs.existsSync(filename) ? filename : undefined),
    Effect.orElseSucceed(() => undefined)
  )

/**
 * Opens the store a URL names for the current scope, as `access` says.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (url: Redacted.Redacted<string>, access: Access) =>
  Effect.gen(function*() {
    const mustExist = access !== "create" && access !== "migrate"
    const context = yield* Layer.build(layerOf(url, { migrate: access === "create", mustExist })).pipe(
      Effect.catchTag("StartupFailed", (error) =>
        Effect.flatMap(
          mustExist && StoreUrl.scheme(url) === "sqlite" ? missingFile(url) : Effect.succeed(undefined),
          (filename): Effect.Effect<never, StoreError.StartupFailed | UsageError> =>
            filename === undefined ? Effect.fail(error) : Effect.fail(
              new UsageError({
                message: `${filename}: no such file (only strata migrate, import and copy --to create a store)`
              })
            )
        ))
    )
    const opened: Opened = {
      eventStore: Context.get(context, EventStore.EventStore),
      admin: Context.get(context, StoreAdmin.StoreAdmin),
      context: context as Context.Context<unknown>
    }
    if (access === "read" || access === "write") {
      const { applied, pending } = yield* opened.admin.migrationStatus
      if (applied.length === 0 && pending.length > 0) {
        return yield* new UsageError({
          message: `${Output.redactUrl(url)} has no Strata schema (no migration applied): run strata migrate first`
        })
      }
      if (access === "write" && pending.length > 0) yield* opened.admin.migrate
    }
    return opened
  })
