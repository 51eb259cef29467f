/**
 * Strata on a PostgreSQL cluster: a primary and its standbys, promoted by an HA manager
 * (pg_auto_failover, Patroni, ...). `@effect/sql-pg` connects to one host and has no multi-host URL
 * or `target_session_attrs`, so this module adds the smallest layer that does: the pool's sockets
 * are opened by a router that always points at the host answering as a writable primary
 * (`pg_is_in_recovery()` false and `transaction_read_only` off, what libpq's
 * `target_session_attrs=read-write` checks), found by probing every host.
 *
 * The router probes again every `checkInterval` and at once when a connection fails. When another
 * host answers as the primary, or the one in use turns read-only, it closes every socket to the
 * others, so no statement of this process reaches a former primary after the switch. While no host
 * answers as a writable primary, new connections fail with a connection error: the store reports
 * `StoreUnavailable` (transient), and `Retry`, subscriptions and supervised consumers retry it.
 *
 * The store itself is `PgStore`'s, unchanged: `PgStore.layerFromClient`, `PgStore.layerHealth`
 * and `Startup.guard` over this client, as `PgStore.layer` builds them over a single host.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import * as PgConnection from "@effect/sql-pg/PgConnection"
import type { Health } from "@strata/core"
import { StoreError } from "@strata/core"
import { SqlStore, Startup } from "@strata/sql"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Net from "node:net"
import * as PgDialect from "./PgDialect.ts"
import * as PgSchema from "./PgSchema.ts"
import * as PgStore from "./PgStore.ts"

/**
 * One member of the cluster.
 *
 * @category models
 * @since 0.1.0
 */
export interface Host {
  readonly host: string
  /** Default 5432. */
  readonly port?: number | undefined
}

/**
 * The router's view of the cluster: the host it connects to now, and how often it has switched.
 *
 * @category services
 * @since 0.1.0
 */
export class Primary extends Context.Service<Primary, {
  /** `host:port` of the writable primary new connections go to; `undefined` while none answers. */
  readonly current: Effect.Effect<string | undefined>
  /** How many times the router moved to another host since the layer started. */
  readonly switches: Effect.Effect<number>
  /**
   * Whether the primary, at its last probe, commits synchronously: `synchronous_standby_names` set
   * and `synchronous_commit` `on`, `remote_apply` or `remote_write` for this store's role and
   * database. When `false`, an acknowledged append can be lost at failover (docs/postgres-cluster.md).
   */
  readonly synchronous: Effect.Effect<boolean | undefined>
}>()("@strata/postgres/PgCluster/Primary") {}

/**
 * What {@link layer} provides: `PgStore.layer`'s services and the router's {@link Primary}.
 *
 * @category models
 * @since 0.1.0
 */
export type Services =
  | SqlStore.Services
  | PgClient.PgClient
  | SqlClient.SqlClient
  | Health.HorizonProbe
  | Primary

/**
 * Where the cluster's members are and how the router watches them, beside `PgStore`'s store options
 * (replica reads are `PgStore.layer`'s, not this layer's).
 *
 * @category models
 * @since 0.1.0
 */
export interface PgClusterOptions extends Omit<PgStore.PgStoreOptions, "replicas" | "consistency" | "replicaTimeout"> {
  /**
   * The members, in order of preference. Or give them in `url`:
   * `postgres://user:password@host1:5432,host2:5432/database?target_session_attrs=read-write`.
   */
  readonly hosts?: ReadonlyArray<Host | string> | undefined
  /** How often every host is probed while nothing fails. Default 1 s. */
  readonly checkInterval?: Duration.Input | undefined
  /** The longest one probe (connect, authenticate, one query) may take. Default 2 s. */
  readonly probeTimeout?: Duration.Input | undefined
}

/**
 * The cluster's connection settings: `PgClient`'s pool settings without `host`, `port`, `path`
 * and `stream` (the router owns where sockets go), plus {@link PgClusterOptions}.
 *
 * @category models
 * @since 0.1.0
 */
export type PgClusterConfig =
  & Omit<PgClient.PgPoolConfig, "host" | "port" | "path" | "stream">
  & PgClusterOptions

/**
 * A multi-host `postgres://` URL split into its members and a single-host URL (the first member)
 * that carries everything else (user, password, database, parameters). `target_session_attrs` must
 * be absent, `read-write` or `primary`: the store writes, so it always targets the primary.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@strata/postgres"
 *
 * const parsed = PgCluster.parseUrl("postgres://app@db1:5432,db2:5433/app?target_session_attrs=read-write")
 * // { _tag: "Success", hosts: [{ host: "db1", port: 5432 }, { host: "db2", port: 5433 }], url: "postgres://app@db1:5432/app" }
 * ```
 *
 * @category parsing
 * @since 0.1.0
 */
export const parseUrl = (
  url: string
):
  | { readonly _tag: "Success"; readonly hosts: ReadonlyArray<Member>; readonly url: string }
  | { readonly _tag: "Failure"; readonly detail: string } =>
{
  const match = /^(postgres(?:ql)?):\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(url)
  if (match === null) return { _tag: "Failure", detail: "the URL is not postgres://[user[:password]@]hosts/database" }
  const [, scheme, userinfo, authority, path, query] = match
  const hosts: Array<Member> = []
  for (const member of authority.split(",")) {
    const parsed = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(member)
    if (parsed === null) return { _tag: "Failure", detail: "a host of the URL is empty or malformed (host[:port],...)" }
    const port = parsed[2] === undefined ? 5432 : Number(parsed[2])
    if (!(port >= 1 && port <= 65535)) return { _tag: "Failure", detail: "a port of the URL is not 1-65535" }
    hosts.push({ host: parsed[1].replace(/^\[(.*)\]$/, "$1"), port })
  }
  const params = new URLSearchParams(query ?? "")
  const attrs = params.get("target_session_attrs")
  if (attrs !== null && attrs !== "read-write" && attrs !== "primary") {
    return {
      _tag: "Failure",
      detail: `target_session_attrs=${
        attrs.slice(0, 20)
      } is not supported: the store writes, so it connects to the primary (read-write or primary)`
    }
  }
  params.delete("target_session_attrs")
  const rest = params.toString()
  const first = hosts[0].host.includes(":") ? `[${hosts[0].host}]` : hosts[0].host
  return {
    _tag: "Success",
    hosts,
    url: `${scheme}://${userinfo === undefined ? "" : `${userinfo}@`}${first}:${hosts[0].port}${path}${
      rest === "" ? "" : `?${rest}`
    }`
  }
}

const hostOf = (member: Host | string): Member => {
  if (typeof member !== "string") return { host: member.host, port: member.port ?? 5432 }
  const parsed = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(member)
  return parsed === null
    ? { host: member, port: 0 }
    : { host: parsed[1].replace(/^\[(.*)\]$/, "$1"), port: parsed[2] === undefined ? 5432 : Number(parsed[2]) }
}

const label = (host: Member) => `${host.host.includes(":") ? `[${host.host}]` : host.host}:${host.port}`

interface Member {
  readonly host: string
  readonly port: number
}

type Answer = "writable" | "read-only" | "unreachable"

interface Probe {
  readonly answer: Answer
  readonly synchronous?: boolean
}

/**
 * The router: which host sockets go to, the sockets it opened, and the loop that keeps it true.
 * `connect` is the pool's `stream` factory (synchronous, as the driver calls it).
 */
const makeRouter = Effect.fnUntraced(function*(
  hosts: ReadonlyArray<Member>,
  base: PgConnection.Config,
  options: { readonly checkInterval: Duration.Duration; readonly probeTimeout: Duration.Duration }
) {
  let current: Member | undefined
  let switches = 0
  let synchronous: boolean | undefined
  const sockets = new Map<Net.Socket, Member>()
  const wake = yield* Queue.sliding<void>(1)

  const probe = (host: Member): Effect.Effect<Probe> =>
    Effect.scoped(
      Effect.gen(function*(): Effect.fn.Return<Probe, SqlError, Scope.Scope> {
        const connection = yield* PgConnection.make({
          ...base,
          host: host.host,
          port: host.port,
          stream: undefined,
          connectTimeout: options.probeTimeout
        })
        // What libpq's target_session_attrs=read-write checks, and what the primary promises.
        const result = yield* connection.query(
          "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only, " +
            "current_setting('synchronous_standby_names') AS standbys, current_setting('synchronous_commit') AS mode",
          [],
          false
        )
        const row = result.rows[0] as { recovery?: unknown; read_only?: unknown; standbys?: unknown; mode?: unknown }
        if (row === undefined || row.recovery !== false || row.read_only !== "off") return { answer: "read-only" }
        return {
          answer: "writable",
          synchronous: typeof row.standbys === "string" && row.standbys.trim() !== "" &&
            ["on", "remote_apply", "remote_write"].includes(String(row.mode))
        }
      })
    ).pipe(
      Effect.timeout(options.probeTimeout),
      Effect.orElseSucceed((): Probe => ({ answer: "unreachable" }))
    )

  const resolve = Effect.gen(function*() {
    const probes = yield* Effect.forEach(hosts, probe, { concurrency: "unbounded" })
    const answers = probes.map((p) => p.answer)
    const writable = hosts.filter((_, i) => answers[i] === "writable")
    const before = current
    const mine = before === undefined ? -1 : hosts.indexOf(before)
    // Keep the host in use while it answers as writable (two writable hosts is the HA manager's
    // split brain, not ours to arbitrate); keep it too while it does not answer at all (its sockets
    // fail by themselves if it is gone); drop it once it answers read-only.
    const next = mine >= 0 && answers[mine] === "writable"
      ? before
      : writable.length > 0
      ? writable[0]
      : mine >= 0 && answers[mine] === "unreachable"
      ? before
      : undefined
    const promise = next === undefined ? undefined : probes[hosts.indexOf(next)].synchronous
    if (promise === false && synchronous !== false && next !== undefined) {
      yield* Effect.logWarning(
        `Strata: PgCluster: the primary ${label(next)} commits without a synchronous standby: ` +
          "an acknowledged append can be lost if it fails over now"
      )
    }
    if (promise !== undefined) synchronous = promise
    if (next === before) return
    current = next
    if (before !== undefined) switches += 1
    // No statement may reach the former primary once another host is (or none is) the primary.
    for (const [socket, host] of sockets) if (host !== next) socket.destroy()
    yield* next === undefined
      ? Effect.logWarning(`Strata: PgCluster: no writable primary among ${hosts.map(label).join(", ")}`)
      : Effect.logInfo(
        `Strata: PgCluster: primary is ${label(next)}${before === undefined ? "" : ` (was ${label(before)})`}`
      )
  })

  const connect = (): Net.Socket => {
    const host = current
    if (host === undefined) {
      Queue.offerUnsafe(wake, undefined)
      throw new Error(`no host answers as a writable primary (of ${hosts.map(label).join(", ")}), connect ECONNREFUSED`)
    }
    const socket = Net.connect({
      host: host.host,
      port: host.port,
      noDelay: true,
      ...(base.keepAlive === undefined ? {} : {
        keepAlive: true,
        keepAliveInitialDelay: Duration.toMillis(Duration.fromInputUnsafe(base.keepAlive))
      })
    })
    sockets.set(socket, host)
    // A socket the server ends or that errors may mean the primary is gone: probe now.
    socket.once("error", () => Queue.offerUnsafe(wake, undefined))
    socket.once("end", () => Queue.offerUnsafe(wake, undefined))
    socket.once("close", () => sockets.delete(socket))
    return socket
  }

  yield* resolve
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.andThen(
        Effect.raceFirst(Queue.take(wake), Effect.sleep(options.checkInterval)),
        resolve
      )
    )
  )
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      for (const socket of sockets.keys()) socket.destroy()
    })
  )

  return {
    connect,
    primary: Primary.of({
      current: Effect.sync(() => (current === undefined ? undefined : label(current))),
      switches: Effect.sync(() => switches),
      synchronous: Effect.sync(() => synchronous)
    })
  }
})

const startupFailed = (target: string, problem: string, hint: string) =>
  Layer.unwrap<Services, never, never, StoreError.StartupFailed, never>(
    Effect.fail(new StoreError.StartupFailed({ backend: "postgres", target, problem, hint }))
  )

/**
 * `PgClient` and `SqlClient` over a pool whose connections go to the cluster's writable primary,
 * and the router's {@link Primary}. Use it to share one cluster client; {@link layer} builds the
 * whole store over it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (
  hosts: ReadonlyArray<Host | string>,
  config: Omit<PgClient.PgPoolConfig, "host" | "port" | "path" | "stream"> & {
    readonly checkInterval?: Duration.Input | undefined
    readonly probeTimeout?: Duration.Input | undefined
  }
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | Primary, SqlError> => {
  const { checkInterval, probeTimeout, ...pool } = config
  const members = hosts.map(hostOf)
  return Layer.effectContext(
    Effect.gen(function*() {
      const router = yield* makeRouter(members, pool, {
        checkInterval: Duration.fromInputUnsafe(checkInterval ?? "1 second"),
        probeTimeout: Duration.fromInputUnsafe(probeTimeout ?? "2 seconds")
      })
      const client = yield* PgClient.make({
        ...pool,
        // The driver names its spans' server.address/port from these; sockets come from the router.
        host: members[0].host,
        port: members[0].port,
        stream: router.connect
      })
      return Context.make(PgClient.PgClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(Primary, router.primary)
      )
    }) as Effect.Effect<
      Context.Context<PgClient.PgClient | SqlClient.SqlClient | Primary>,
      SqlError,
      Scope.Scope | Reactivity.Reactivity
    >
  ).pipe(Layer.provide(Reactivity.layer))
}

/**
 * The whole store (events, documents, consumers' checkpoints, leases: everything `PgStore.layer`
 * provides) on a cluster: writes, reads and subscriptions go to the writable primary, found by
 * probing the hosts, and follow it when the HA manager promotes another one. During the switch,
 * operations fail with `StoreUnavailable` (give appends a `Retry` schedule longer than the HA
 * manager's failover time, see docs/postgres-cluster.md); subscriptions and supervised consumers
 * resume after their last event on the new primary. A config with neither hosts nor a URL, a URL
 * that does not parse, or no host answering at startup fails the layer with `StartupFailed`.
 *
 * @example
 * ```ts
 * import { PgCluster } from "@strata/postgres"
 * import { Redacted } from "effect"
 *
 * const StoreLive = PgCluster.layer({
 *   url: Redacted.make("postgres://app@db1:5432,db2:5432/app?target_session_attrs=read-write")
 * })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: PgClusterConfig
): Layer.Layer<Services, StoreError.StartupFailed | StoreError.Unsupported> => {
  const { checkInterval, hosts, probeTimeout, url, ...rest } = config
  const schema = rest.schema
  // PgClient takes the store's options along with its own and ignores them.
  const pool = SqlStore.splitOptions(rest)[1]
  let members: ReadonlyArray<Host | string> = hosts ?? []
  let single: string | undefined
  if (url !== undefined) {
    const parsed = parseUrl(Redacted.value(url))
    if (parsed._tag === "Failure") {
      return startupFailed("postgres cluster", `the cluster URL is refused: ${parsed.detail}`, "Check the URL.")
    }
    members = [...members, ...parsed.hosts]
    single = parsed.url
  }
  if (members.length === 0) {
    return startupFailed("postgres cluster", "no hosts are given", "Give `hosts` or a URL with host1:port,host2:port.")
  }
  const bad = members.map(hostOf).find((member) => member.host === "" || !(member.port >= 1 && member.port <= 65535))
  if (bad !== undefined) {
    return startupFailed(
      "postgres cluster",
      "a host is empty or its port is not 1-65535",
      "Write hosts as host[:port]."
    )
  }
  const where = `postgres cluster ${members.map(hostOf).map(label).join(",")}${
    schema === undefined ? "" : ` (schema ${schema})`
  }`
  if (schema !== undefined) {
    const broken = PgSchema.check(schema)
    if (broken !== undefined) {
      return startupFailed(
        where,
        `the schema name ${JSON.stringify(schema.slice(0, 80))} is refused`,
        `${broken[0].toUpperCase()}${broken.slice(1)}.`
      )
    }
  }
  const client = {
    ...pool,
    ...(single === undefined ? {} : { url: Redacted.make(single) }),
    ...(schema === undefined ? {} : {
      startupParameters: { ...pool.startupParameters, search_path: PgSchema.quote(schema) }
    }),
    checkInterval,
    probeTimeout
  }
  const store: Layer.Layer<
    SqlStore.Services | Health.HorizonProbe,
    SqlError | StoreError.Unsupported,
    PgClient.PgClient | SqlClient.SqlClient
  > = Layer.merge(PgStore.layerFromClient(rest), PgStore.layerHealth)
  return Startup.guard(
    store.pipe(Layer.provideMerge(layerClient(members, client))),
    { backend: "postgres", target: where, explain: PgDialect.dialect.explainStartup }
  )
}
