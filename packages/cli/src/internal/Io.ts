// Where a run of the command reads and writes. The executable runs on the process's stdin, stdout
// and stderr (`processIo`); the tests run the command in process on strings (`capture`). Every
// command reaches the streams only through the `Io` service, never through `process` directly.
import type * as Console from "effect/Console"
import * as Context from "effect/Context"
import { Console as NodeConsole } from "node:console"
import * as fs from "node:fs"
import { Readable, Writable } from "node:stream"

export interface Io {
  /** Data: exports, tables, reports. `write` returning false means: wait for "drain". */
  readonly stdout: NodeJS.WritableStream
  /** Progress and notes, and the one-line error; a progress bar is drawn when it is a terminal. */
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean | undefined }
  /** stdin, opened when a command reads it (`import`). */
  readonly stdin: () => NodeJS.ReadableStream & { readonly isTTY?: boolean | undefined }
  /** stdin's size when it is a regular file, for `import`'s ETA. */
  readonly stdinSize: () => number | undefined
  /** What effect's CLI prints help, the version and parse errors with. */
  readonly console: Console.Console
}

/** The process's own streams. */
export const processIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: () => process.stdin,
  stdinSize: () => {
    try {
      const stat = fs.fstatSync(0)
      return stat.isFile() ? stat.size : undefined
    } catch {
      return undefined
    }
  },
  console: globalThis.console
}

/**
 * How writing to a stream has gone: `error` is set for good by the first error the stream emits
 * (EPIPE once the reader of a pipe is gone: `strata export | head -1`).
 */
export interface Guarded {
  readonly error: (Error & { readonly code?: string | undefined }) | undefined
}

const guarded = new WeakMap<NodeJS.WritableStream, Guarded>()

/**
 * Listens for the stream's errors from now on (once per stream) and records the first. Without a
 * listener, an EPIPE (which arrives after a write that seemed to succeed) is an unhandled 'error'
 * event: a stack trace and exit status 1. Every write of a run goes through a guarded stream:
 * `Main` guards stdout and stderr before the command starts, `Print` before each write.
 */
export const guard = (stream: NodeJS.WritableStream): Guarded => {
  const known = guarded.get(stream)
  if (known !== undefined) return known
  const state: { error: Guarded["error"] } = { error: undefined }
  stream.on("error", (error: Error) => void (state.error ??= error))
  guarded.set(stream, state)
  return state
}

/** Whether an error of stdout means that its reader went away (a closed pipe), not a failure. */
export const isReaderGone = (error: { readonly code?: string | undefined }): boolean =>
  error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED"

/** The streams of the current run (the process's, unless a runner provides others). */
export const Io = Context.Reference<Io>("@strata/cli/internal/Io", { defaultValue: () => processIo })

/** An `Io` on strings: what a run wrote to stdout and stderr, and a file (or nothing) as stdin. */
export const capture = (options: { readonly stdin?: string | undefined } = {}): {
  readonly io: Io
  readonly stdout: () => string
  readonly stderr: () => string
} => {
  let stdout = ""
  let stderr = ""
  const sink = (append: (text: string) => void) =>
    new Writable({
      decodeStrings: false,
      write(chunk: string | Buffer, _encoding, callback) {
        append(typeof chunk === "string" ? chunk : chunk.toString("utf8"))
        callback()
      }
    })
  const out = sink((text) => (stdout += text))
  const err = sink((text) => (stderr += text))
  const file = options.stdin
  return {
    io: {
      stdout: out,
      stderr: err,
      // The file is opened on the first read: a command that fails before reading leaves no descriptor open.
      stdin: () => Readable.from(file === undefined ? [] : read(file), { objectMode: false }),
      stdinSize: () => file === undefined ? undefined : fs.statSync(file).size,
      console: new NodeConsole({ stdout: out, stderr: err })
    },
    stdout: () => stdout,
    stderr: () => stderr
  }
}

async function* read(file: string): AsyncGenerator<Buffer> {
  for await (const chunk of fs.createReadStream(file)) yield chunk as Buffer
}
