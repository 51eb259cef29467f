/**
 * The store a command works on: `--url`, or `STRATA_URL` when the flag is absent, or a tenant's
 * store (`--tenant ID` with the tenants' resolver, `--tenants` or `STRATA_TENANTS`: see
 * `Tenants.ts`); `--schema` puts a PostgreSQL store in a schema. Opened through
 * `Strata.layerFromUrl` (backends load lazily: memory:, postgres://..., kurrentdb://...), or for a
 * `sqlite:` URL through `SqliteUrl.layer` (loaded as lazily), which can refuse a missing file.
 *
 * @since 0.1.0
 */
import { EventStore, StoreAdmin, type StoreError, StoreUrl, type TenantError } from "@strata/core"
import { Strata } from "@strata/strata"
import * as Cause from "effect/Cause"
import { Flag } from "effect/cli"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as Output from "./Output.ts"
import * as Print from "./Print.ts"
import { ReaderGone } from "./Print.ts"
import * as Tenants from "./Tenants.ts"
import { CheckFailed, UsageError } from "./Usage.ts"

/**
 * `--url URL`, falling back to `STRATA_URL` (see {@link resolve}). Read as `Redacted`: never printed.
 *
 * @category flags
 * @since 0.1.0
 */
export const url = Flag.Redacted("url").pipe(
  Flag.withDescription(
    "the store: memory:, sqlite:FILE, postgres://user:password@host/db, kurrentdb://... (default: $STRATA_URL)"
  ),
  Flag.optional
)

/**
 * `--tenants SPEC`, falling back to `STRATA_TENANTS`: where the tenants' stores are (see `Tenants.ts`).
 *
 * @category flags
 * @since 0.1.0
 */
export const tenants = Flag.String("tenants").pipe(
  Flag.withDescription(
    "where tenants' stores are, as the program's TenantUrl resolver: a URL template with {tenant} " +
      "(sqlite:./tenants/{tenant}.db, postgres://h/db?schema=t_{tenant}), several separated by spaces (a hashed pool), " +
      "or a JSON file with \"template\", \"pool\" or \"urls\" (default: $STRATA_TENANTS)"
  ),
  Flag.optional
)

/**
 * The flags that name the store a command opens: `--url`, `--schema`, `--tenant`, `--tenants`.
 *
 * @category flags
 * @since 0.1.0
 */
export const flags = {
  url,
  schema: Flag.String("schema").pipe(
    Flag.withDescription("a PostgreSQL store in this schema (the URL's ?schema=)"),
    Flag.optional
  ),
  tenant: Flag.String("tenant").pipe(
    Flag.withDescription("the store of this tenant, from the tenants' resolver (--tenants or $STRATA_TENANTS)"),
    Flag.optional
  ),
  tenants
}

/**
 * What {@link flags} parse to.
 *
 * @category models
 * @since 0.1.0
 */
export interface Target {
  readonly url: Option.Option<Redacted.Redacted<string>>
  readonly schema: Option.Option<string>
  readonly tenant: Option.Option<string>
  readonly tenants: Option.Option<string>
}

// An environment variable as an option: unset and empty are alike (a test runner sets STRATA_URL="").
const env = (name: string) =>
  Effect.map(
    Config.option(Config.String(name)),
    (value) => Option.filter(value, (text) => text.trim() !== "")
  ).pipe(Effect.orElseSucceed(() => Option.none<string>()))

/**
 * The tenants' resolver from `--tenants` or `STRATA_TENANTS`.
 *
 * @category resolving
 * @since 0.1.0
 */
export const resolver = (spec: Option.Option<string>): Effect.Effect<Tenants.Resolver, UsageError> =>
  Effect.gen(function*() {
    const text = Option.isSome(spec) ? spec : yield* env("STRATA_TENANTS")
    if (Option.isNone(text)) {
      return yield* new UsageError({
        message:
          "tenants need their resolver: --tenants (a URL template with {tenant}, or a JSON file) or $STRATA_TENANTS"
      })
    }
    return yield* Tenants.parse(text.value)
  })

/**
 * `--schema NAME` on a store URL: PostgreSQL's `?schema=`. Other backends have no schemas, and a URL
 * that names another schema already is a contradiction: both refused.
 *
 * @category resolving
 * @since 0.1.0
 */
export const withSchema = (
  url: Redacted.Redacted<string>,
  schema: Option.Option<string>
): Effect.Effect<Redacted.Redacted<string>, UsageError> => {
  if (Option.isNone(schema)) return Effect.succeed(url)
  const scheme = StoreUrl.scheme(url)
  if (scheme !== "postgres" && scheme !== "postgresql") {
    return Effect.fail(
      new UsageError({
        message: `--schema is PostgreSQL's (a store in a schema); a ${scheme ?? "schemeless"} URL has none`
      })
    )
  }
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(url))
  } catch {
    // Left to the URL parser, which says what is wrong without quoting the URL.
    return Effect.succeed(url)
  }
  const current = parsed.searchParams.get("schema")
  if (current !== null && current !== schema.value) {
    return Effect.fail(
      new UsageError({
        message: `--schema ${JSON.stringify(schema.value)} contradicts the URL's ?schema=${JSON.stringify(current)}`
      })
    )
  }
  parsed.searchParams.set("schema", schema.value)
  return Effect.succeed(Redacted.make(parsed.toString()))
}

/**
 * The store URL the flags name: `--tenant` through the resolver, else `--url`, else `STRATA_URL`;
 * then `--schema`. `--url` and `--tenant` together are refused (which store was meant?). `as`
 * renames the flags in messages and drops the `STRATA_URL` fallback (`copy --to`).
 *
 * @category resolving
 * @since 0.1.0
 */
export const resolve = (
  target: Target,
  as: { readonly url: string; readonly tenant: string; readonly env: boolean } = {
    url: "--url",
    tenant: "--tenant",
    env: true
  }
): Effect.Effect<Redacted.Redacted<string>, UsageError | TenantError.TenantError> =>
  Effect.gen(function*() {
    if (Option.isSome(target.tenant)) {
      if (Option.isSome(target.url)) {
        return yield* new UsageError({ message: `give ${as.url} or ${as.tenant}, not both` })
      }
      const tenants = yield* resolver(target.tenants)
      return yield* withSchema(yield* Tenants.urlOf(tenants, target.tenant.value), target.schema)
    }
    const url = Option.isSome(target.url) || !as.env
      ? target.url
      : Option.map(yield* env("STRATA_URL"), Redacted.make)
    if (Option.isNone(url)) {
      return yield* new UsageError({
        message: Option.isSome(target.tenants)
          ? `--tenants names where tenants' stores are: add ${as.tenant} ID`
          : as.env
          ? `which store? give ${as.url} URL (or set $STRATA_URL), or ${as.tenant} ID with --tenants (or $STRATA_TENANTS)`
          : `which store? give ${as.url} URL, or ${as.tenant} ID with --tenants (or $STRATA_TENANTS)`
      })
    }
    return yield* withSchema(url.value, target.schema)
  })

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

/**
 * `--all-tenants`: run the command once for every tenant the resolver knows.
 *
 * @category flags
 * @since 0.1.0
 */
export const allTenants = Flag.Boolean("all-tenants").pipe(
  Flag.withDescription(
    "run for every tenant the resolver knows (a JSON resolver's \"urls\" or \"tenants\"), one after another; exit 1 naming the tenants that failed"
  ),
  Flag.withDefault(false)
)

/**
 * Runs `f` on every tenant's store URL (one tenant at a time, each in its own scope, so at most one
 * tenant's connections are open), to the end even when some fail: each failure is one line on
 * stderr (`tenant ID: ...`, and with `json` a `{"tenant", "error"}` line on stdout), and the run then
 * fails with `CheckFailed` naming the tenants that failed. An interrupt or stdout's reader gone
 * stops it at once.
 *
 * @category running
 * @since 0.1.0
 */
export const eachTenant = <E, R>(
  target: Target,
  options: { readonly json: boolean },
  f: (url: Redacted.Redacted<string>, tenant: string) => Effect.Effect<void, E, R>
) =>
  Effect.gen(function*() {
    if (Option.isSome(target.tenant) || Option.isSome(target.url)) {
      return yield* new UsageError({
        message: "--all-tenants runs on every tenant of the resolver: drop --url and --tenant"
      })
    }
    const tenants = yield* resolver(target.tenants)
    const ids = yield* Tenants.known(tenants)
    const failed: Array<string> = []
    for (const tenant of ids) {
      let url: Redacted.Redacted<string> | undefined
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        url = yield* withSchema(yield* Tenants.urlOf(tenants, tenant), target.schema)
        yield* f(url, tenant)
      })))
      if (exit._tag === "Success") continue
      if (
        Cause.hasInterruptsOnly(exit.cause) ||
        exit.cause.reasons.some((reason) => Cause.isFailReason(reason) && reason.error instanceof ReaderGone)
      ) return yield* Effect.failCause(exit.cause)
      failed.push(tenant)
      const message = Output.scrub(
        Output.describeFailure(exit.cause, false),
        url === undefined ? [] : Output.secretsOf(url)
      )
      yield* Print.note(`tenant ${tenant}: ${message}`)
      if (options.json) yield* Print.line(JSON.stringify({ tenant, error: message }))
    }
    if (failed.length > 0) {
      return yield* new CheckFailed({
        message: `${failed.length} of ${ids.length} tenant(s) failed: ${failed.join(", ")}`
      })
    }
  })
