/**
 * `postgres://` and `postgresql://` store URLs, checked before a connection is tried, with errors
 * that never contain the URL (it may hold a password). The URL itself is handed to
 * `@effect/sql-pg` as a `Redacted` and parsed there: this module applies the same rules first, so
 * that the driver's own error (whose cause quotes the whole URL) is never raised.
 *
 * Accepted: `postgres://user:password@host:5432/database?sslmode=require`, with the query
 * parameters `@effect/sql-pg` understands (`host`, `port`, `user`, `password`, `dbname`,
 * `application_name`, `options`, `connect_timeout`, `sslmode`), and Strata's own `schema`
 * (`?schema=orders`: the store's PostgreSQL schema, see `PgSchema`; checked against `PgSchema.rule`),
 * `replica` (`?replica=standby1:5432&replica=standby2:5432`: hot standbys that serve reads, see
 * `PgReplica`; each the same URL with that host and port) and `consistency` (`primary` or `replica`,
 * the reads' default); others are ignored, as libpq does.
 *
 * @since 0.1.0
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import { type StoreError, StoreUrl } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as PgCluster from "./PgCluster.ts"
import * as PgDialect from "./PgDialect.ts"
import * as PgReplica from "./PgReplica.ts"
import * as PgSchema from "./PgSchema.ts"
import * as PgStore from "./PgStore.ts"

/**
 * The forms {@link parse} accepts, as error messages list them.
 *
 * @category parsing
 * @since 0.1.0
 */
export const accepted: ReadonlyArray<string> = [
  "postgres://user:password@host:5432/database",
  "postgresql://user:password@host:5432/database"
]

const malformed = (scheme: string | undefined, detail: string) =>
  new StoreUrl.StoreUrlError({ reason: "Malformed", scheme, detail, accepted: [...accepted] })

const decodes = (value: string): boolean => {
  try {
    decodeURIComponent(value)
    return true
  } catch {
    return false
  }
}

const validPort = (value: string) => /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535

const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

/**
 * The pool configuration a `postgres://` URL names: `{ url }`, still `Redacted`, once every part of
 * it is known to be valid, and the store's `schema` when the URL has `?schema=`. Errors say which
 * part is wrong, never what it contains.
 *
 * @example
 * import { PgUrl } from "@strata/postgres"
 * import * as Redacted from "effect/Redacted"
 *
 * PgUrl.parse(Redacted.make("postgres://app:secret@db.internal:5432/app"))
 *
 * @category parsing
 * @since 0.1.0
 */
export const parse = (
  url: Redacted.Redacted<string>
): Effect.Effect<
  PgClient.PgPoolConfig & {
    readonly schema?: string
    readonly replicas?: ReadonlyArray<Redacted.Redacted<string>>
    readonly consistency?: PgReplica.Consistency
  },
  StoreUrl.StoreUrlError
> => {
  const scheme = StoreUrl.scheme(url)
  if (scheme !== "postgres" && scheme !== "postgresql") {
    return Effect.fail(malformed(scheme, "the URL does not start with postgres:// or postgresql://"))
  }
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(url))
  } catch {
    // The TypeError's `input` is the whole URL: drop it.
    return Effect.fail(
      malformed(scheme, "the URL cannot be parsed (check the port, and escape special characters in the password)")
    )
  }
  if (!Redacted.value(url).slice(scheme.length + 1).startsWith("//")) {
    return Effect.fail(malformed(scheme, `the URL has no host part (write ${scheme}://host/database)`))
  }
  if (parsed.port !== "" && !validPort(parsed.port)) return Effect.fail(malformed(scheme, "the port is not 1-65535"))
  for (
    const [part, value] of [["user name", parsed.username], ["password", parsed.password], [
      "database name",
      parsed.pathname
    ]]
  ) {
    if (!decodes(value)) return Effect.fail(malformed(scheme, `the ${part} has an invalid percent-encoding`))
  }
  const port = parsed.searchParams.get("port")
  if (port !== null && !validPort(port)) return Effect.fail(malformed(scheme, "the port parameter is not 1-65535"))
  const timeout = parsed.searchParams.get("connect_timeout")
  if (timeout !== null && !/^\d+$/.test(timeout)) {
    return Effect.fail(malformed(scheme, "connect_timeout is not a whole number of seconds"))
  }
  const sslmode = parsed.searchParams.get("sslmode")
  if (sslmode !== null && !sslModes.includes(sslmode)) {
    return Effect.fail(malformed(scheme, `sslmode is not one of ${sslModes.join(", ")}`))
  }
  const schema = parsed.searchParams.get("schema")
  if (schema !== null) {
    const broken = PgSchema.check(schema)
    if (broken !== undefined) return Effect.fail(malformed(scheme, `the schema parameter is refused: ${broken}`))
  }
  const consistency = parsed.searchParams.get("consistency")
  if (consistency !== null && consistency !== "primary" && consistency !== "replica") {
    return Effect.fail(malformed(scheme, "consistency is not primary or replica"))
  }
  const replicas: Array<Redacted.Redacted<string>> = []
  for (const replica of parsed.searchParams.getAll("replica")) {
    // host:port, host, or [v6]:port; the rest of the URL is the primary's.
    const match = /^(\[[0-9a-fA-F:.]+\]|[^\s/?#@:[\]]+)(?::(\d+))?$/.exec(replica)
    if (match === null || (match[2] !== undefined && !validPort(match[2]))) {
      return Effect.fail(malformed(scheme, "a replica parameter is not host or host:port (port 1-65535)"))
    }
    const at = new URL(parsed.href)
    at.hostname = match[1]!
    at.port = match[2] ?? ""
    for (const own of ["replica", "consistency", "schema", "host", "port"]) at.searchParams.delete(own)
    replicas.push(Redacted.make(at.href))
  }
  if (replicas.length === 0 && consistency === null) {
    return Effect.succeed(schema === null ? { url } : { url, schema })
  }
  const primary = new URL(parsed.href)
  for (const own of ["replica", "consistency"]) primary.searchParams.delete(own)
  return Effect.succeed({
    url: Redacted.make(primary.href),
    ...(schema === null ? {} : { schema }),
    ...(replicas.length === 0 ? {} : { replicas }),
    ...(consistency === null ? {} : { consistency })
  })
}

/**
 * Both stores on the PostgreSQL database a `postgres://` URL names, with the given store options.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: PgStore.PgStoreOptions = {}
): Layer.Layer<
  PgStore.Services | PgReplica.Replicas,
  StoreError.StartupFailed | StoreError.Unsupported | StoreUrl.StoreUrlError
> => {
  const cluster = clusterUrl(Redacted.value(url))
  if (cluster === undefined) {
    return Layer.unwrap(Effect.map(parse(url), (client) => PgStore.layer({ ...client, ...options })))
  }
  if (cluster._tag === "Refused") return Layer.unwrap(Effect.fail(malformed(StoreUrl.scheme(url), cluster.detail)))
  const { consistency: _c, replicaTimeout: _t, replicas, ...rest } = options
  if (replicas !== undefined && replicas.length > 0) {
    return Layer.unwrap(Effect.fail(malformed(
      StoreUrl.scheme(url),
      "a cluster URL (several hosts) takes no replicas: read from standbys with PgStore.layer({ url, replicas }) on the primary's address"
    )))
  }
  const schema = cluster.schema ?? options.schema
  // The cluster's store has no standbys to read from: its Replicas serve every read from the primary.
  return PgReplica.layer({
    replicas: [],
    dialect: schema === undefined ? PgDialect.dialect : PgDialect.make(PgSchema.keys(schema))
  }).pipe(
    Layer.provideMerge(
      PgCluster.layer({ ...rest, url: Redacted.make(cluster.url), ...(schema === undefined ? {} : { schema }) })
    )
  )
}

// A URL with several hosts (`host1:5432,host2:5432`) or `target_session_attrs` names a cluster: its
// store is `PgCluster`'s, connected to whichever host answers as the writable primary. `?schema=`
// is the store's (taken out); `?replica=`/`?consistency=` are refused (a cluster has no replica reads).
const clusterUrl = (
  url: string
):
  | { readonly _tag: "Cluster"; readonly url: string; readonly schema: string | undefined }
  | { readonly _tag: "Refused"; readonly detail: string }
  | undefined =>
{
  const match = /^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?([^/?#]*)[^?#]*)(?:\?([^#]*))?$/.exec(url)
  if (match === null) return undefined
  const params = new URLSearchParams(match[3] ?? "")
  if (!match[2]!.includes(",") && !params.has("target_session_attrs")) return undefined
  if (params.has("replica") || params.has("consistency")) {
    return {
      _tag: "Refused",
      detail:
        "a cluster URL (several hosts, or target_session_attrs) takes no replica or consistency parameter: a cluster store reads from its primary"
    }
  }
  const schema = params.get("schema") ?? undefined
  if (schema !== undefined) {
    const broken = PgSchema.check(schema)
    if (broken !== undefined) return { _tag: "Refused", detail: `the schema parameter is refused: ${broken}` }
  }
  params.delete("schema")
  const query = params.toString()
  return { _tag: "Cluster", url: query === "" ? match[1]! : `${match[1]}?${query}`, schema }
}
