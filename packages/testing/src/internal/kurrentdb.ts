// The KurrentDB server TestStore.kurrentdb() uses: KURRENTDB_URL, a container, or a fresh in-process
// emulator per scenario.
import { findRuntime, importOptional, SetupError } from "./containers.ts"

/** How TestStore.kurrentdb() chooses its server. */
export type KurrentMode = "auto" | "url" | "container" | "emulator"

/** A server for one scenario. */
export interface KurrentServer {
  readonly source: "KURRENTDB_URL" | "testcontainers" | "emulator"
  readonly connectionString: string
  readonly describe: string
  /** Whether the scenario has the server to itself (a fresh emulator or container). */
  readonly isolated: boolean
  readonly stop: () => Promise<void>
}

export const kurrentImage = "docker.kurrent.io/kurrent-latest/kurrentdb:latest"

interface KurrentContainerModule {
  readonly KurrentDbContainer: new(image: string) => {
    start(): Promise<{ getConnectionString(): string; stop(): Promise<unknown> }>
  }
}

interface EmulatorModule {
  readonly KurrentEmulator: {
    readonly start: () => Promise<{ readonly connectionString: string; readonly port: number; stop(): Promise<void> }>
  }
}

const redact = (connectionString: string) => connectionString.replace(/\/\/[^@/]*@/, "//***@")

const startContainer = async (endpoint: string): Promise<KurrentServer> => {
  const name = "@testcontainers/kurrentdb"
  const module = await importOptional<KurrentContainerModule>(name)
  if (module === undefined) {
    throw new SetupError(
      `TestStore.kurrentdb(): a container runtime answers at ${endpoint}, but ${name} is not installed: npm install --save-dev ${name} (it needs testcontainers 12, Node >= 22.22), or set KURRENTDB_URL, or STRATA_TESTCONTAINERS=0 to use the emulator`
    )
  }
  const started = await new module.KurrentDbContainer(kurrentImage).start()
  const connectionString = started.getConnectionString()
  return {
    source: "testcontainers",
    connectionString,
    describe: `a KurrentDB container (${redact(connectionString)})`,
    isolated: true,
    stop: async () => {
      await started.stop()
    }
  }
}

const startEmulator = async (): Promise<KurrentServer> => {
  const name = "@strata/kurrentdb-emulator"
  const module = await importOptional<EmulatorModule>(name)
  if (module === undefined) {
    throw new SetupError(
      `TestStore.kurrentdb(): KURRENTDB_URL is not set, no container runtime answers, and ${name} (the in-process KurrentDB emulator, inside the Strata repository only) cannot be loaded: set KURRENTDB_URL to a KurrentDB server, or run Docker/Podman with @testcontainers/kurrentdb installed`
    )
  }
  const emulator = await module.KurrentEmulator.start()
  return {
    source: "emulator",
    connectionString: emulator.connectionString,
    describe: `the KurrentDB emulator on 127.0.0.1:${emulator.port}`,
    isolated: true,
    stop: () => emulator.stop()
  }
}

/** Resolves and starts the server `mode` asks for, for one scenario (see TestStore.kurrentdb). */
export const startServer = async (mode: KurrentMode, env: NodeJS.ProcessEnv = process.env): Promise<KurrentServer> => {
  const url = env["KURRENTDB_URL"]
  if (mode === "url" || (mode === "auto" && url !== undefined && url !== "")) {
    if (url === undefined || url === "") {
      throw new SetupError("TestStore.kurrentdb({ use: \"url\" }): KURRENTDB_URL is not set")
    }
    return {
      source: "KURRENTDB_URL",
      connectionString: url,
      describe: `KURRENTDB_URL (${redact(url)})`,
      isolated: false,
      stop: async () => {}
    }
  }
  const containers = env["STRATA_TESTCONTAINERS"]
  if (mode === "container" || (mode === "auto" && containers === "1")) {
    const { endpoint, tried } = await findRuntime(env)
    if (endpoint === undefined) {
      throw new SetupError(
        `TestStore.kurrentdb(): ${
          mode === "container" ? "use: \"container\" was asked for" : "STRATA_TESTCONTAINERS=1"
        }, but no container runtime answers (tried ${
          tried.join(", ")
        }): start Docker or Podman (or set DOCKER_HOST), or set KURRENTDB_URL, or drop STRATA_TESTCONTAINERS=1 to use the emulator`
      )
    }
    return startContainer(endpoint)
  }
  if (mode === "auto" && containers !== "0") {
    const { endpoint } = await findRuntime(env)
    if (endpoint !== undefined) return startContainer(endpoint)
  }
  return startEmulator()
}
