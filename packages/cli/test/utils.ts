/**
 * Runs a `strata` command line in this process, on captured stdout and stderr, as the bin would
 * (the same runner, the same exit status and error line), or the real bin in a child process (the
 * pinned Node, the workspace's TypeScript sources); and makes event files in the export line format.
 */
import { Event } from "@strata/core"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Writable } from "node:stream"
import { assert } from "vitest"
import * as Io from "../src/internal/Io.ts"
import * as Main from "../src/internal/Main.ts"

export const binPath = path.join(import.meta.dirname, "..", "src", "bin.ts")

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** A file to give the process as stdin. */
  readonly stdin?: string | undefined
  readonly env?: Record<string, string> | undefined
  /** Run the real bin in a child process (for what needs one: real pipes, the process's exit status). */
  readonly spawn?: boolean | undefined
}

export const start = (args: ReadonlyArray<string>, options: RunOptions = {}): ChildProcess =>
  spawn(process.execPath, ["--conditions=@strata/source", binPath, ...args], {
    stdio: [options.stdin === undefined ? "ignore" : fs.openSync(options.stdin, "r"), "pipe", "pipe"],
    env: { ...process.env, STRATA_URL: "", ...options.env }
  })

export const collect = (child: ChildProcess): Promise<Result> =>
  new Promise((resolve, reject) => {
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/**
 * A run in this process, started but not awaited: what it has written so far, its signal, its end.
 * `io` replaces the captured streams (a terminal's stderr, a stdin that never ends).
 */
export const startInProcess = (
  args: ReadonlyArray<string>,
  options: {
    readonly env?: Record<string, string> | undefined
    readonly io?: (captured: Io.Io) => Io.Io
  } = {}
): {
  readonly stdout: () => string
  readonly stderr: () => string
  readonly signal: () => void
  readonly done: Promise<number>
} => {
  const captured = Io.capture()
  const run = Main.make(args, {
    env: { ...process.env, STRATA_URL: "", ...options.env },
    io: options.io === undefined ? captured.io : options.io(captured.io)
  })
  return { stdout: captured.stdout, stderr: captured.stderr, signal: run.signal, done: run.start() }
}

/** A stderr that says it is a terminal (the progress bar draws on it), and what was written to it. */
export const terminal = (): {
  readonly stream: NodeJS.WritableStream & { isTTY: boolean }
  readonly text: () => string
} => {
  let text = ""
  const stream = Object.assign(
    new Writable({
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, callback) {
        text += typeof chunk === "string" ? chunk : chunk.toString("utf8")
        callback()
      }
    }),
    { isTTY: true, columns: 120 }
  )
  return { stream, text: () => text }
}

/**
 * Asserts a run failed the way every command fails on a mistake: exit status 1 and one line on stderr,
 * `strata: ...`, without a stack; matching `pattern` when given.
 */
export const oneLineError = (result: Result, pattern?: RegExp) => {
  assert.strictEqual(result.code, 1, result.stderr)
  const lines = result.stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, result.stderr)
  assert.match(lines[0], /^strata: /)
  assert.notMatch(result.stderr, /\n\s+at /)
  if (pattern !== undefined) assert.match(lines[0], pattern)
}

export const strata = async (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Result> => {
  if (options.spawn === true) return collect(start(args, options))
  const { io, stderr, stdout } = Io.capture({ stdin: options.stdin })
  const code = await Main.run(args, { env: { ...process.env, STRATA_URL: "", ...options.env }, io })
  return { code, stdout: stdout(), stderr: stderr() }
}

/** Resolves once `read()` satisfies `until`, polling; rejects after `ms`. */
export const waitFor = async (read: () => string, until: (text: string) => boolean, ms = 30_000) => {
  const deadline = Date.now() + ms
  while (!until(read())) {
    if (Date.now() > deadline) throw new Error(`timed out; got:\n${read()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cli-"))
  fs.chmodSync(dir, 0o755)
  return dir
}

export interface Line {
  readonly stream: string
  readonly version: string
  readonly id: string
  readonly type: string
  readonly data: unknown
  readonly metadata: Record<string, unknown>
}

/**
 * `count` events over `streams` streams (`<category>-<n>`), interleaved, types alternating
 * Added/Removed, as a file in the line format. Returns the file and the events.
 */
export const eventFile = (
  dir: string,
  name: string,
  options: {
    readonly count: number
    readonly streams: number
    readonly category?: string
    readonly firstVersion?: number
    /** The number of the first stream (`cart-<offset>`). */
    readonly offset?: number
  }
): { readonly file: string; readonly lines: ReadonlyArray<Line> } => {
  const lines: Array<Line> = []
  const next = new Map<string, number>()
  for (let i = 0; i < options.count; i++) {
    const stream = `${options.category ?? "cart"}-${(i % options.streams) + (options.offset ?? 0)}`
    const version = next.get(stream) ?? options.firstVersion ?? 0
    next.set(stream, version + 1)
    lines.push({
      stream,
      version: String(version),
      id: Event.makeEventId(),
      type: i % 2 === 0 ? "Added" : "Removed",
      data: { i, sku: `sku-${i}`, price: i * 1.25, tags: ["a", "é", "\u2028"], nested: { z: null, a: true } },
      metadata: { correlationId: `c-${i}`, ...(i % 3 === 0 ? { schemaVersion: 2 } : {}) }
    })
  }
  const file = path.join(dir, name)
  fs.writeFileSync(
    file,
    lines.map((line) => JSON.stringify({ ...line, time: new Date().toISOString() })).join("\n") + "\n"
  )
  return { file, lines }
}

/** The events of an export, without time and position (the store's own), by stream and version. */
export const parseExport = (text: string): Array<Line> =>
  text.split("\n").filter((line) => line !== "").map((line) => {
    const { data, id, metadata, stream, type, version } = JSON.parse(line)
    return { stream, version, id, type, data, metadata }
  }).sort((a, b) => a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : Number(a.version) - Number(b.version))
