#!/usr/bin/env node
/**
 * The `strata` executable.
 *
 * @since 0.1.0
 */
import * as Main from "./internal/Main.ts"
import * as Signals from "./internal/Signals.ts"

const run = Main.make(process.argv.slice(2), { env: process.env })

// Ctrl-C and SIGTERM interrupt the command (and release its connections); `tail` ends normally on
// them. Listening before the command starts: its first part runs synchronously (a memory: tail
// prints "following" there), and a signal before `process.on` would kill the process.
Signals.install(run.signal)

run.start().then((code) => {
  process.exitCode = code
  // Pools and listeners are closed by the command's scope; leave nothing that keeps the process up.
  setImmediate(() => process.exit(code))
})
