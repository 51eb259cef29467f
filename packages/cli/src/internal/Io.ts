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
