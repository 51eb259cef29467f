#!/usr/bin/env node
/**
 * The `strata` executable.
 *
 * @since 0.1.0
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Cli from "./Cli.ts"
import * as Output from "./Output.ts"
import * as Signals from "./Signals.ts"

const argv = process.argv.slice(2)
const verbose = argv.includes("--verbose")
const args = argv.filter((arg) => arg !== "--verbose")

// Every URL this run may print something about: its password is scrubbed from any error line.
const urls = [
  process.env["STRATA_URL"],
  ...args.flatMap((arg, i) =>
    ["--url", "--from", "--to"].includes(args[i - 1] ?? "")
      ? [arg]
      : /^--(url|from|to)=/.test(arg)
      ? [arg.slice(arg.indexOf("=") + 1)]
      : []
  )
].filter((url): url is string => url !== undefined)
const secrets = urls.flatMap(Output.secretsOf)

// Ctrl-C and SIGTERM interrupt the command (and release its connections); `tail` ends normally on
// them. Listening before the command runs: its first part runs synchronously inside `runFork` (a
// memory: tail prints "following" there), and a signal before `process.on` would kill the process.
const program = Cli.run(args).pipe(Effect.provide(NodeServices.layer))
// (Node calls signal listeners from the event loop, never inside `runFork`: `fiber` is set by then.)
Signals.install(() => Effect.runFork(Fiber.interrupt(fiber)))
const fiber = Effect.runFork(program)

fiber.addObserver((exit) => {
  const { code, message } = Cli.conclude(exit, { verbose, secrets })
  if (message !== undefined) process.stderr.write(`strata: ${message}\n`)
  process.exitCode = code
  // Pools and listeners are closed by the command's scope; leave nothing that keeps the process up.
  setImmediate(() => process.exit(code))
})
