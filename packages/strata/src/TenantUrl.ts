/**
 * Tenants' stores from store URLs: a resolver for `TenantStores.layer` whose stores are opened with
 * {@link Strata.layerFromUrl}, so a tenant is a SQLite file, a PostgreSQL database or a memory store
 * by its URL, and the backend package is loaded only when a tenant on it is first used.
 *
 * A URL template holds `{tenant}` where the tenant's id goes (`sqlite:./tenants/{tenant}.db`,
 * `postgres://app@db-1:5432/app_{tenant}`). Tenant ids are checked against the rule of
 * `TenantError` before they are put in a URL (lowercase letters, digits, `-`, `_`), so an id can
 * never change a path or a URL's meaning.
 *
 * - {@link template}: one template for every tenant;
 * - {@link pool}: templates of several servers, each tenant hashed onto one (`TenantStores.place`);
 * - {@link fromMap}: a URL per tenant, from configuration.
 *
 * On PostgreSQL the database must exist: create it when you add the tenant (the store creates its
 * tables on first use, once), or use `TenantStores.make` with an Effect that creates it. A schema
 * per tenant in one database needs nothing created: `postgres://app@db:5432/app?schema=t_{tenant}`
 * (the tenant's first store creates its schema; see `PgSchema` in `@strata/postgres` for the rule a
 * schema name follows).
 *
 * @example
 * ```ts
 * import { Tenant, TenantStores } from "@strata/core"
 * import { TenantUrl } from "@strata/strata"
 *
 * const TenantsLive = TenantStores.layer(
 *   TenantUrl.template("sqlite:./tenants/{tenant}.db", { tenants: ["acme", "globex"] }),
 *   { maxOpen: 200, idleTimeout: "10 minutes" }
 * )
 * ```
 *
 * @since 0.1.0
 */
import { TenantError, TenantStores } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Strata from "./Strata.ts"

/**
 * What every resolver here takes besides its URLs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The tenants known now, for `Tenant.layerEach` (a list, or an Effect that reads one: a table, a
   * config service). Default: none ({@link fromMap} knows its keys).
   */
  readonly tenants?: ReadonlyArray<string> | Effect.Effect<ReadonlyArray<string>, TenantError.TenantError> | undefined
  /** Options for every tenant's store (`Strata.StoreOptions`: page size, poll interval, projections, ...). */
  readonly store?: Strata.StoreOptions | undefined
}

const placeholder = "{tenant}"

// A template from configuration without `{tenant}` would put every tenant in one store: every call
// of the resolver fails typed, saying so, instead of a throw at declaration.
const withoutPlaceholder = (urls: ReadonlyArray<string>, operation: string): TenantStores.Resolver | undefined => {
  if (urls.every((url) => url.includes(placeholder))) return undefined
  const misconfigured = (tenant: string) =>
    Effect.fail(
      new TenantError.TenantError({
        reason: "Misconfigured",
        tenant,
        detail:
          `TenantUrl.${operation}: a URL template needs ${placeholder} where the tenant id goes (otherwise every tenant would share one store)`
      })
    )
  return TenantStores.make({ store: misconfigured, tenants: misconfigured("*") })
}

const fill = (url: string, tenant: string) => Redacted.make(url.split(placeholder).join(tenant))

const known = (tenants: Options["tenants"]) =>
  tenants === undefined ? Effect.succeed([]) : Effect.isEffect(tenants) ? tenants : Effect.succeed(tenants)

/**
 * Every tenant on one URL template.
 *
 * @example
 * ```ts
 * import { TenantUrl } from "@strata/strata"
 *
 * const resolver = TenantUrl.template("sqlite:./tenants/{tenant}.db")
 *
 * // A PostgreSQL schema per tenant, in one database.
 * const inSchemas = TenantUrl.template("postgres://app@db:5432/app?schema=t_{tenant}")
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const template = (url: string, options: Options = {}): TenantStores.Resolver =>
  withoutPlaceholder([url], "template") ?? TenantStores.make({
    store: (tenant) => Effect.succeed(Strata.layerFromUrl(fill(url, tenant), options.store)),
    tenants: known(options.tenants)
  })

/**
 * A server's identity for hashing in {@link pool}: the URL without user, password and query, so
 * changing a password or a pool setting never moves a tenant. Tools that must place tenants as a
 * program does (the CLI's `--tenants`) use it too.
 *
 * @category utils
 * @since 0.1.0
 */
export const stableKey = (url: string): string => {
  try {
    const parsed = new URL(url)
    return parsed.host === ""
      ? `${parsed.protocol}${parsed.pathname}`
      : `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return url
  }
}

/**
 * Tenants hashed over several servers: each template names one server (its database per tenant
 * holds `{tenant}`), and each tenant is placed on one by rendezvous hashing over the servers'
 * address (scheme, host, port and path, never the password), as `TenantStores.hashed` does.
 *
 * **Gotchas**
 *
 * Adding a server moves about 1/n of the tenants to it, where their stores start empty: pin existing
 * tenants first (see `TenantStores.hashed`).
 *
 * @example
 * ```ts
 * import { TenantUrl } from "@strata/strata"
 *
 * const resolver = TenantUrl.pool([
 *   "postgres://app@db-1:5432/t_{tenant}",
 *   "postgres://app@db-2:5432/t_{tenant}"
 * ])
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const pool = (urls: ReadonlyArray<string>, options: Options = {}): TenantStores.Resolver =>
  withoutPlaceholder(urls, "pool") ?? TenantStores.hashed(
    urls.map((url) => ({ key: stableKey(url), url })),
    (server, tenant) => Strata.layerFromUrl(fill(server.url, tenant), options.store),
    known(options.tenants)
  )

/**
 * A URL per tenant (from configuration); every key is a known tenant, and a tenant not in the map
 * fails with `TenantError` (`Unknown`).
 *
 * @example
 * ```ts
 * import { TenantUrl } from "@strata/strata"
 *
 * const resolver = TenantUrl.fromMap({
 *   acme: "postgres://app@db-1:5432/acme",
 *   globex: "sqlite:./globex.db"
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromMap = (
  urls: Readonly<Record<string, string | Redacted.Redacted<string>>>,
  options: Omit<Options, "tenants"> = {}
): TenantStores.Resolver =>
  TenantStores.make({
    store: (tenant) =>
      Object.hasOwn(urls, tenant)
        ? Effect.succeed(Strata.layerFromUrl(urls[tenant]!, options.store))
        : Effect.fail(
          new TenantError.TenantError({
            reason: "Unknown",
            tenant,
            detail: "no store URL is configured for this tenant: add it to the map"
          })
        ),
    tenants: Effect.succeed(Object.keys(urls))
  })
