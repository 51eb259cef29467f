// A PostgreSQL 15 primary with hot standbys, from the system binaries (initdb, pg_basebackup, pg_ctl
// under /usr/lib/postgresql/15/bin), on free loopback ports in a temp directory of its own: never
// the shared 5432 service. Run as the `postgres` OS user when the tests run as root. Missing binaries
// fail the test file loudly (ReplicaClusterError). Stopped (immediate) and removed in teardown.
//
// The standbys stream from the primary (pg_basebackup -R: standby.signal + primary_conninfo) with
// hot_standby on, so they serve read-only queries. `pause`/`resume` stop and restart a standby's
// replay (pg_wal_replay_pause), for the stalled-replica tests.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

export const binaries = process.env.STRATA_PG_BIN ?? "/usr/lib/postgresql/15/bin"

export class ReplicaClusterError extends Error {
  override readonly name = "ReplicaClusterError"
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const run = (command: string, args: ReadonlyArray<string>, log: string) => {
  const binary = Path.join(binaries, command)
  if (!Fs.existsSync(binary)) {
    throw new ReplicaClusterError(
      `${binary} is missing: the replica tests need the PostgreSQL 15 server binaries (apt-get install postgresql-15), or STRATA_PG_BIN naming their directory`
    )
  }
  const [file, argv] = isRoot ? ["runuser", ["-u", "postgres", "--", binary, ...args]] : [binary, [...args]]
  const result = ChildProcess.spawnSync(file, argv, { encoding: "utf8", timeout: 180_000 })
  Fs.appendFileSync(log, `$ ${command} ${args.join(" ")}\n${result.stdout ?? ""}${result.stderr ?? ""}\n`)
  if (result.status !== 0) {
    throw new ReplicaClusterError(
      `${command} ${args.join(" ")} failed (${result.status ?? result.signal}): ${
        (result.stderr || result.stdout || String(result.error)).slice(-2000)
      }`
    )
  }
  return result.stdout
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

export interface Cluster {
  readonly primaryUrl: string
  readonly standbyUrls: ReadonlyArray<string>
  readonly dir: string
  /** psql-free SQL on a node: runs `psql`-less through the node's own client in tests; here, raw. */
  readonly ports: { readonly primary: number; readonly standbys: ReadonlyArray<number> }
}

export const url = (port: number, database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`

/** Starts the cluster: a primary and `standbys` hot standbys. */
export const start = (
  options: { readonly standbys: number }
): Effect.Effect<Cluster, ReplicaClusterError, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-replica-"))
        Fs.chmodSync(dir, 0o755)
        const log = Path.join(dir, "cluster.log")
        Fs.writeFileSync(log, "")
        Fs.chmodSync(log, 0o666)
        const own = (path: string) => {
          if (isRoot) ChildProcess.spawnSync("chown", ["-R", "postgres:postgres", path])
        }
        own(dir)
        const primary = Path.join(dir, "primary")
        const primaryPort = await freePort()
        run("initdb", ["-D", primary, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], log)
        Fs.appendFileSync(
          Path.join(primary, "postgresql.conf"),
          [
            `port = ${primaryPort}`,
            "listen_addresses = '127.0.0.1'",
            `unix_socket_directories = '${dir}'`,
            "wal_level = replica",
            "max_wal_senders = 10",
            "hot_standby = on",
            "fsync = off",
            "full_page_writes = off",
            "max_connections = 200",
            "wal_keep_size = '256MB'",
            ""
          ].join("\n")
        )
        run("pg_ctl", ["-D", primary, "-l", Path.join(dir, "primary.log"), "-w", "-t", "120", "start"], log)
        const standbys: Array<number> = []
        try {
          for (let i = 0; i < options.standbys; i++) {
            const data = Path.join(dir, `standby${i}`)
            const port = await freePort()
            run("pg_basebackup", [
              "-h",
              "127.0.0.1",
              "-p",
              String(primaryPort),
              "-U",
              "postgres",
              "-D",
              data,
              "-R",
              "-X",
              "stream",
              "-c",
              "fast"
            ], log)
            Fs.appendFileSync(
              Path.join(data, "postgresql.conf"),
              [`port = ${port}`, "hot_standby = on", "hot_standby_feedback = on", ""].join("\n")
            )
            run("pg_ctl", ["-D", data, "-l", Path.join(dir, `standby${i}.log`), "-w", "-t", "120", "start"], log)
            standbys.push(port)
          }
        } catch (error) {
          stopAll(dir)
          throw error
        }
        return {
          dir,
          primaryUrl: url(primaryPort),
          standbyUrls: standbys.map((port) => url(port)),
          ports: { primary: primaryPort, standbys }
        }
      },
      catch: (cause) =>
        cause instanceof ReplicaClusterError
          ? cause
          : new ReplicaClusterError(`cannot start the replica cluster: ${String(cause)}`)
    }),
    (cluster) => Effect.sync(() => stopAll(cluster.dir))
  )

const stopAll = (dir: string) => {
  for (const entry of Fs.existsSync(dir) ? Fs.readdirSync(dir) : []) {
    const data = Path.join(dir, entry)
    if (Fs.existsSync(Path.join(data, "postmaster.pid"))) {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"], Path.join(dir, "cluster.log"))
      } catch {
        // already down
      }
    }
  }
  Fs.rmSync(dir, { recursive: true, force: true })
}

export class ReplicaCluster extends Context.Service<ReplicaCluster, Cluster>()("test/ReplicaCluster") {
  static readonly layer = (standbys: number) => Layer.effect(ReplicaCluster, start({ standbys }))
}

export const redacted = (value: string) => Redacted.make(value)
