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

const fiber = Effect.runFork(Cli.run(args).pipe(Effect.provide(NodeServices.layer)))

// Ctrl-C interrupts the command (and releases its connections); `tail` listens itself and ends normally.
process.on("SIGINT", () => {
  if (process.listenerCount("SIGINT") === 1) Effect.runFork(Fiber.interrupt(fiber))
})

fiber.addObserver((exit) => {
  const { code, message } = Cli.conclude(exit, { verbose, secrets })
  if (message !== undefined) process.stderr.write(`strata: ${message}\n`)
  process.exitCode = code
  // Pools and listeners are closed by the command's scope; leave nothing that keeps the process up.
  setImmediate(() => process.exit(code))
})
