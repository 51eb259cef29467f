/**
 * The tenants' stores, as the CLI is told where they are (`--tenants` or `STRATA_TENANTS`): the same
 * three resolvers a program builds with `TenantUrl` (`@strata/strata`), so an operator names the
 * resolver the program uses, and `--tenant ID` opens exactly the store the program opens for ID.
 *
 * - a URL template holding `{tenant}`: `TenantUrl.template(url)`;
 * - several templates separated by spaces: `TenantUrl.pool(urls)` (each tenant hashed onto one
 *   server exactly as the program places it: `TenantStores.place` over the same server keys);
 * - a JSON file (or inline JSON), one of `{ "template": URL, "tenants": [...] }`,
 *   `{ "pool": [URL, ...], "tenants": [...] }` or `{ "urls": { "acme": URL, ... } }`
 *   (`TenantUrl.fromMap(urls)`); `tenants` lists the known tenants, for `--all-tenants`.
 *
 * @since 0.1.0
 */
import { TenantError, TenantStores } from "@strata/core"
import { TenantUrl } from "@strata/strata"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import { UsageError } from "./Usage.ts"

/**
 * Where the tenants' stores are (see the module documentation).
 *
 * @category models
 * @since 0.1.0
 */
export type Resolver =
  | { readonly _tag: "Template"; readonly url: string; readonly tenants: ReadonlyArray<string> | undefined }
  | { readonly _tag: "Pool"; readonly urls: ReadonlyArray<string>; readonly tenants: ReadonlyArray<string> | undefined }
  | { readonly _tag: "Urls"; readonly urls: Readonly<Record<string, string>> }

const placeholder = "{tenant}"

const forms = "a URL template holding {tenant}, several templates separated by spaces, or a JSON file " +
  "({\"template\": URL, \"tenants\": [...]}, {\"pool\": [URL, ...], \"tenants\": [...]} or {\"urls\": {\"acme\": URL}})"

const refuse = (message: string) => new UsageError({ message: `--tenants: ${message}` })

const templates = (urls: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<string>, UsageError> =>
  urls.length > 0 && urls.every((url) => typeof url === "string" && url.includes(placeholder))
    ? Effect.succeed(urls as ReadonlyArray<string>)
    : Effect.fail(
      refuse(`every template must hold ${placeholder} where the tenant id goes (else tenants would share one store)`)
    )

const tenantList = (value: unknown): Effect.Effect<ReadonlyArray<string> | undefined, UsageError> =>
  value === undefined
    ? Effect.succeed(undefined)
    : Array.isArray(value) && value.every((tenant) => typeof tenant === "string")
    ? Effect.succeed(value as ReadonlyArray<string>)
    : Effect.fail(refuse("\"tenants\" must be a list of tenant ids"))

const fromJson = (json: unknown): Effect.Effect<Resolver, UsageError> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return Effect.fail(refuse(`expected ${forms}`))
  const record = json as Record<string, unknown>
  if (typeof record["template"] === "string") {
    return Effect.all({ url: templates([record["template"]]), tenants: tenantList(record["tenants"]) }).pipe(
      Effect.map(({ tenants, url }) => ({ _tag: "Template" as const, url: url[0]!, tenants }))
    )
  }
  if (Array.isArray(record["pool"])) {
    return Effect.all({ urls: templates(record["pool"]), tenants: tenantList(record["tenants"]) }).pipe(
      Effect.map(({ tenants, urls }) => ({ _tag: "Pool" as const, urls, tenants }))
    )
  }
  const urls = record["urls"]
  if (typeof urls === "object" && urls !== null && !Array.isArray(urls)) {
    return Object.values(urls).every((url) => typeof url === "string")
      ? Effect.succeed({ _tag: "Urls" as const, urls: urls as Record<string, string> })
      : Effect.fail(refuse("every value of \"urls\" must be a store URL"))
  }
  return Effect.fail(refuse(`expected ${forms}`))
}

/**
 * Reads `--tenants` / `STRATA_TENANTS` (see the module documentation).
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (spec: string): Effect.Effect<Resolver, UsageError> =>
  Effect.suspend(() => {
    const text = spec.trim()
    if (text.startsWith("{")) {
      return Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () => refuse("the inline JSON does not parse")
      })
        .pipe(Effect.flatMap(fromJson))
    }
    if (text.includes(placeholder)) {
      const urls = text.split(/\s+/)
      return Effect.map(
        templates(urls),
        (urls): Resolver =>
          urls.length === 1
            ? { _tag: "Template", url: urls[0]!, tenants: undefined }
            : { _tag: "Pool", urls, tenants: undefined }
      )
    }
    if (!fs.existsSync(text)) return Effect.fail(refuse(`not a file, and not a URL template: expected ${forms}`))
    return Effect.try({
      try: () => JSON.parse(fs.readFileSync(text, "utf8")) as unknown,
      catch: (cause) =>
        refuse(`${text} is not a JSON file (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)})`)
    }).pipe(Effect.flatMap(fromJson))
  })

const fill = (url: string, tenant: string) => Redacted.make(url.split(placeholder).join(tenant))

/**
 * The store URL of one tenant: the id checked first (`TenantError`, `Invalid`), then put in its
 * template, or looked up (`TenantError`, `Unknown`, for a tenant a map does not have).
 *
 * @category resolving
 * @since 0.1.0
 */
export const urlOf = (
  resolver: Resolver,
  tenant: string
): Effect.Effect<Redacted.Redacted<string>, TenantError.TenantError> =>
  Effect.flatMap(TenantError.validate(tenant), (tenant) => {
    switch (resolver._tag) {
      case "Template":
        return Effect.succeed(fill(resolver.url, tenant))
      case "Pool":
        return Effect.succeed(
          fill(resolver.urls[TenantStores.place(tenant, resolver.urls.map(TenantUrl.stableKey))]!, tenant)
        )
      case "Urls":
        return Object.hasOwn(resolver.urls, tenant)
          ? Effect.succeed(Redacted.make(resolver.urls[tenant]!))
          : Effect.fail(
            new TenantError.TenantError({
              reason: "Unknown",
              tenant,
              detail: "the resolver's \"urls\" has no store for this tenant"
            })
          )
    }
  })

/**
 * Every tenant the resolver knows (a map's keys, or the `tenants` list of a template or pool), for
 * `--all-tenants`.
 *
 * @category resolving
 * @since 0.1.0
 */
export const known = (resolver: Resolver): Effect.Effect<ReadonlyArray<string>, UsageError> => {
  const tenants = resolver._tag === "Urls" ? Object.keys(resolver.urls) : resolver.tenants
  return tenants === undefined || tenants.length === 0
    ? Effect.fail(
      new UsageError({
        message:
          "--all-tenants: the resolver lists no tenants (a URL template knows none): give a JSON file with \"tenants\": [...] or \"urls\""
      })
    )
    : Effect.succeed(tenants)
}

/**
 * Every URL a resolver spec holds (its templates, or a map's URLs), so their passwords can be
 * scrubbed from what the command prints. Never fails: a spec that does not parse holds none.
 *
 * @category parsing
 * @since 0.1.0
 */
export const urlsIn = (spec: string): ReadonlyArray<string> => {
  const exit = Effect.runSyncExit(parse(spec))
  if (exit._tag === "Failure") return spec.includes(placeholder) ? spec.trim().split(/\s+/) : []
  const resolver = exit.value
  return resolver._tag === "Template"
    ? [resolver.url]
    : resolver._tag === "Pool"
    ? resolver.urls
    : Object.values(resolver.urls)
}
