/**
 * A pg_auto_failover cluster of the test's own: a monitor and two PostgreSQL 15 nodes (primary and
 * standby) on free loopback ports under a temporary directory, run from the system binaries as the
 * `postgres` OS user (when the test runs as root). Never the shared 5432 service.
 *
 * The monitor is tuned to notice a dead primary quickly (health checks every second, unhealthy after
 * 2 s, demote timeout 3 s); pg_auto_failover's defaults take ~50 s.
 */
import * as Effect from "effect/Effect"
import { execFile, execFileSync, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as PgCluster from "../../src/PgCluster.ts"

const bin = "/usr/lib/postgresql/15/bin"
const autoctl = "/usr/bin/pg_autoctl"
const extension = "/usr/share/postgresql/15/extension/pgautofailover.control"

/** Fails loudly, with the install line, when PostgreSQL 15 or pg_auto_failover is missing. */
export const requireBinaries = (): void => {
  const missing = [`${bin}/postgres`, `${bin}/pg_ctl`, `${bin}/psql`, autoctl, extension].filter((file) =>
    !Fs.existsSync(file)
  )
  if (missing.length > 0) {
    throw new Error(
      `the failover tests need PostgreSQL 15 and pg_auto_failover: missing ${missing.join(", ")}. ` +
        `Install them with: apt-get install -y postgresql-15 postgresql-15-auto-failover`
    )
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))))
    })
  })

const isRoot = typeof process.getuid === "function" && process.getuid() === 0
const owner = isRoot
  ? {
    uid: Number(execFileSync("id", ["-u", "postgres"]).toString().trim()),
    gid: Number(execFileSync("id", ["-g", "postgres"]).toString().trim())
  }
  : undefined

export interface Node {
  readonly name: string
  readonly port: number
  readonly pgdata: string
}

export interface NodeState {
  readonly name: string
  readonly port: number
  readonly reported: string
  readonly goal: string
}

export interface Cluster {
  readonly dir: string
  readonly monitorPort: number
  readonly nodes: ReadonlyArray<Node>
  readonly states: () => Promise<ReadonlyArray<NodeState>>
  readonly waitUntil: (
    what: string,
    check: (states: ReadonlyArray<NodeState>) => boolean,
    timeoutMs: number
  ) => Promise<void>
  /** The node the monitor has as primary (reported and goal state `primary`, or `wait_primary`). */
  readonly primary: () => Promise<Node | undefined>
  /**
   * SIGKILL the node's pg_autoctl processes (so nothing restarts it), then its postmaster, then what
   * is left of its backends (a machine lost: nothing it had not sent yet gets out).
   */
  readonly kill: (node: Node) => void
  /**
   * SIGSTOP the node's WAL senders: the standby stops receiving, as if replication lagged. Under
   * synchronous replication commits then wait; under asynchronous ones they are acknowledged anyway.
   */
  readonly pauseReplication: (node: Node) => number
  /** Milliseconds each startup step took. */
  readonly timings: Record<string, number>
  readonly psql: (port: number, database: string, sql: string | ReadonlyArray<string>) => Promise<string>
  readonly log: () => string
  readonly stop: () => void
}

const primaryStates = ["primary", "wait_primary", "single"]

/**
 * Starts the monitor and both nodes; `mode: "async"` turns the standby's replication quorum off, so
 * the primary commits without waiting for it (synchronous_standby_names empty).
 */
export const start = async (mode: "sync" | "async"): Promise<Cluster> => {
  requireBinaries()
  // On tmpfs when there is one: initdb and pg_basebackup fsync everything, slow on a busy disk, and a
  // SIGKILL (not a power cut) loses nothing from the page cache either way.
  const parent = Fs.existsSync("/dev/shm") ? "/dev/shm" : Os.tmpdir()
  const dir = Fs.mkdtempSync(Path.join(parent, "strata-failover-"))
  Fs.chmodSync(dir, 0o755)
  const run = Path.join(dir, "run")
  Fs.mkdirSync(run, { mode: 0o700 })
  if (owner !== undefined) {
    Fs.chownSync(dir, owner.uid, owner.gid)
    Fs.chownSync(run, owner.uid, owner.gid)
  }
  const env = {
    PATH: `${bin}:/usr/bin:/bin`,
    HOME: dir,
    XDG_CONFIG_HOME: Path.join(dir, "config"),
    XDG_DATA_HOME: Path.join(dir, "share"),
    XDG_RUNTIME_DIR: run,
    LANG: "C.UTF-8"
  }
  const children: Array<{ pid: number; pgdata: string }> = []
  const logs: Array<string> = []

  const launch = (name: string, args: ReadonlyArray<string>, pgdata: string) => {
    const out = Fs.openSync(Path.join(dir, `${name}.log`), "a")
    const child = spawn(autoctl, args, {
      env,
      cwd: dir,
      detached: true,
      stdio: ["ignore", out, out],
      ...(owner ?? {})
    })
    Fs.closeSync(out)
    child.unref()
    if (child.pid === undefined) throw new Error(`pg_autoctl for ${name} did not start`)
    children.push({ pid: child.pid, pgdata })
    logs.push(name)
  }

  // Each statement its own -c: psql sends one -c as one transaction, and ALTER SYSTEM refuses that.
  const psql = (port: number, database: string, sql: string | ReadonlyArray<string>) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        `${bin}/psql`,
        [
          "-X",
          "-q",
          "-tA",
          "-F",
          "|",
          "-h",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "postgres",
          "-d",
          database,
          ...(typeof sql === "string" ? [sql] : sql).flatMap((s) => ["-c", s])
        ],
        { env: { ...env, PGCONNECT_TIMEOUT: "3" }, timeout: 10_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim()))
      )
    )

  const monitorPort = await freePort()
  const nodes: Array<Node> = []
  for (const name of ["node1", "node2"]) {
    nodes.push({ name, port: await freePort(), pgdata: Path.join(dir, name) })
  }

  const states = async (): Promise<ReadonlyArray<NodeState>> => {
    const out = await psql(
      monitorPort,
      "pg_auto_failover",
      "SELECT nodename, nodeport, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid"
    )
    return out === "" ? [] : out.split("\n").map((line) => {
      const [name, port, reported, goal] = line.split("|")
      return { name, port: Number(port), reported, goal }
    })
  }

  const log = () =>
    logs.map((name) => {
      const text = Fs.existsSync(Path.join(dir, `${name}.log`))
        ? Fs.readFileSync(Path.join(dir, `${name}.log`), "utf8")
        : ""
      return `--- ${name}.log (tail)\n${text.split("\n").slice(-40).join("\n")}`
    }).join("\n")

  const waitUntil = async (
    what: string,
    check: (states: ReadonlyArray<NodeState>) => boolean,
    timeoutMs: number
  ) => {
    const deadline = Date.now() + timeoutMs
    let last: ReadonlyArray<NodeState> = []
    for (;;) {
      try {
        last = await states()
        if (check(last)) return
      } catch {
        // The monitor is still starting.
      }
      if (Date.now() > deadline) {
        throw new Error(
          `pg_auto_failover: ${what} not reached in ${timeoutMs} ms; states ${JSON.stringify(last)}\n${log()}`
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }

  const descendants = (root: number): Array<{ pid: number; comm: string }> => {
    const table = Fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
      try {
        const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
        return [{ pid: Number(entry), ppid, comm }]
      } catch {
        return []
      }
    })
    const found: Array<{ pid: number; comm: string }> = []
    const walk = (pid: number) => {
      for (const row of table) {
        if (row.ppid === pid) {
          found.push(row)
          walk(row.pid)
        }
      }
    }
    walk(root)
    return found
  }

  const postmasterPid = (pgdata: string): number | undefined => {
    try {
      const pid = Number(Fs.readFileSync(Path.join(pgdata, "postmaster.pid"), "utf8").split("\n")[0])
      return Number.isInteger(pid) && pid > 0 ? pid : undefined
    } catch {
      return undefined
    }
  }

  const signal = (pid: number) => {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Already gone.
    }
  }

  const kill = (node: Node) => {
    const child = children.find((c) => c.pgdata === node.pgdata)
    const postmaster = postmasterPid(node.pgdata)
    if (child === undefined || postmaster === undefined) throw new Error(`no running ${node.name} to kill`)
    // The keeper first, so it cannot restart PostgreSQL; then the postmaster.
    const keepers = [
      child.pid,
      ...descendants(child.pid).filter((p) => p.comm.startsWith("pg_autoctl")).map((p) => p.pid)
    ]
    const backends = descendants(postmaster).map((p) => p.pid)
    for (const pid of keepers) signal(pid)
    signal(postmaster)
    for (const pid of backends) signal(pid)
  }

  const pauseReplication = (node: Node) => {
    const postmaster = postmasterPid(node.pgdata)
    if (postmaster === undefined) throw new Error(`no running ${node.name}`)
    const senders = descendants(postmaster).filter((p) => {
      try {
        return Fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes("walsender")
      } catch {
        return false
      }
    })
    for (const sender of senders) process.kill(sender.pid, "SIGSTOP")
    return senders.length
  }

  const stop = () => {
    for (const child of children) {
      const postmaster = postmasterPid(child.pgdata)
      const all = [child.pid, ...descendants(child.pid).map((p) => p.pid)]
      for (const pid of all) signal(pid)
      if (postmaster !== undefined) {
        for (const p of descendants(postmaster)) signal(p.pid)
        signal(postmaster)
      }
    }
    Fs.rmSync(dir, { recursive: true, force: true })
  }

  const primary = async () => {
    const all = await states()
    const found = all.find((s) => primaryStates.includes(s.reported) && s.reported === s.goal)
    return found === undefined ? undefined : nodes.find((n) => n.name === found.name)
  }

  const timings: Record<string, number> = {}
  let mark = Date.now()
  const timed = (step: string) => {
    timings[step] = Date.now() - mark
    mark = Date.now()
  }
  const cluster: Cluster = {
    dir,
    monitorPort,
    nodes,
    states,
    waitUntil,
    primary,
    kill,
    pauseReplication,
    timings,
    psql,
    log,
    stop
  }
  try {
    const monitorData = Path.join(dir, "monitor")
    launch("monitor", [
      "create",
      "monitor",
      "--pgdata",
      monitorData,
      "--pgport",
      String(monitorPort),
      "--hostname",
      "127.0.0.1",
      "--listen",
      "127.0.0.1",
      "--auth",
      "trust",
      "--no-ssl",
      "--pgctl",
      `${bin}/pg_ctl`,
      "--run"
    ], monitorData)
    await waitUntil("the monitor answering", () => true, 60_000)
    timed("monitor")
    const monitor = `postgres://autoctl_node@127.0.0.1:${monitorPort}/pg_auto_failover?sslmode=disable`
    for (const node of nodes) {
      launch(node.name, [
        "create",
        "postgres",
        "--pgdata",
        node.pgdata,
        "--pgport",
        String(node.port),
        "--hostname",
        "127.0.0.1",
        "--listen",
        "127.0.0.1",
        "--auth",
        "trust",
        "--no-ssl",
        "--dbname",
        "strata",
        "--name",
        node.name,
        "--pgctl",
        `${bin}/pg_ctl`,
        "--monitor",
        monitor,
        "--run"
      ], node.pgdata)
      if (node === nodes[0]) {
        await waitUntil(
          `${node.name} as the first primary`,
          (s) => s.some((n) => n.name === node.name && primaryStates.includes(n.reported) && n.reported === n.goal),
          240_000
        )
        // pg_autoctl's pg_basebackup asks for a spread checkpoint (checkpoint_completion_target 0.9):
        // ~100 s on this machine before the standby can even start copying. Make it immediate.
        await psql(node.port, "strata", [
          "ALTER SYSTEM SET checkpoint_completion_target = 0",
          "SELECT pg_reload_conf()",
          "CHECKPOINT"
        ])
        timed(node.name)
      }
    }
    await waitUntil(
      "a primary and a secondary",
      (s) =>
        s.some((n) => n.reported === "primary" && n.goal === "primary") &&
        s.some((n) => n.reported === "secondary" && n.goal === "secondary"),
      240_000
    )
    timed("node2")
    if (mode === "async") {
      await psql(
        monitorPort,
        "pg_auto_failover",
        "SELECT pgautofailover.set_node_replication_quorum('default', 'node2', false)"
      )
      await new Promise((resolve) => setTimeout(resolve, 500))
      await waitUntil("the primary without a synchronous standby", (s) => s.every((n) => n.reported === n.goal), 60_000)
    }
    // What the primary promises: checked, not assumed.
    const names = async () => (await psql(nodes[0].port, "strata", "SHOW synchronous_standby_names"))
    const deadline = Date.now() + 30_000
    for (;;) {
      const value = await names()
      if (mode === "sync" ? value !== "" : value === "") break
      if (Date.now() > deadline) {
        throw new Error(`synchronous_standby_names is ${JSON.stringify(value)} in ${mode} mode`)
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    timed("replicationMode")
    // Quick failure detection, set once the cluster has formed (under load, 1 s health checks can
    // hold a joining standby back for minutes).
    await psql(
      monitorPort,
      "pg_auto_failover",
      [
        "ALTER SYSTEM SET pgautofailover.health_check_period = 1000",
        "ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000",
        "ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1",
        "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500",
        "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 2000",
        "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 3000",
        "SELECT pg_reload_conf()"
      ]
    )

    return cluster
  } catch (error) {
    cluster.stop()
    throw error
  }
}

/**
 * A cluster for the scope (stopped when it closes), the node that was primary when it started, and
 * `PgCluster.layer` over both nodes (`options` override the tests' defaults: a check every 500 ms).
 */
export const scoped = (mode: "sync" | "async", options?: Partial<PgCluster.PgClusterOptions>) =>
  Effect.gen(function*() {
    const cluster = yield* Effect.acquireRelease(
      Effect.promise(() => start(mode)),
      (c) => Effect.sync(() => c.stop())
    )
    const first = yield* Effect.promise(() => cluster.primary())
    if (first === undefined) return yield* Effect.die(new Error(`no primary after the ${mode} cluster started`))
    const backend = PgCluster.layer({
      hosts: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
      username: "postgres",
      database: "strata",
      checkInterval: "500 millis",
      ...options
    })
    return { cluster, first, backend }
  })
