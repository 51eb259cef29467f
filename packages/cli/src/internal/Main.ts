// One run of the `strata` command line, as the executable does it: `--verbose` taken out, the
// command run with the Node platform services, its exit mapped to an exit status and at most one
// line on stderr (`strata: ...`), every secret of the URLs given scrubbed out. bin.ts runs it on
// the process (its streams, its environment, its signals); the tests run it in process on captured
// streams, and see the same output and exit status.
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import { CliError } from "effect/cli"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Cli from "../Cli.ts"
import { guard, Io, processIo } from "./Io.ts"
import * as Output from "./Output.ts"
import { ReaderGone } from "./Print.ts"
import * as Signals from "./Signals.ts"
import * as Tenants from "./Tenants.ts"

export interface Options {
  /** The environment (`STRATA_URL`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The streams (default: the process's). */
  readonly io?: Io | undefined
}

export interface Run {
  /** Starts the command; resolves with the exit status once it has ended and printed its error line. */
  readonly start: () => Promise<number>
  /** SIGINT or SIGTERM: stops a command listening for it (`tail`), interrupts any other. */
  readonly signal: () => void
}

/** A run of `argv` (the arguments after `strata`), not started yet, so signals can be routed to it first. */
export const make = (argv: ReadonlyArray<string>, options: Options): Run => {
  const verbose = argv.includes("--verbose")
  const args = argv.filter((arg) => arg !== "--verbose")
  // Every URL this run may print something about: its password is scrubbed from any error line.
  const urls = [
    options.env["STRATA_URL"],
    ...args.flatMap((arg, i) =>
      ["--url", "--from", "--to"].includes(args[i - 1] ?? "")
        ? [arg]
        : /^--(url|from|to)=/.test(arg)
        ? [arg.slice(arg.indexOf("=") + 1)]
        : []
    )
  ].filter((url): url is string => url !== undefined)
  // The tenants' resolver (`--tenants`, `STRATA_TENANTS`: templates, or a JSON file of URLs) too.
  const resolvers = [
    options.env["STRATA_TENANTS"],
    ...args.flatMap((arg, i) =>
      args[i - 1] === "--tenants" ? [arg] : arg.startsWith("--tenants=") ? [arg.slice("--tenants=".length)] : []
    )
  ].filter((spec): spec is string => spec !== undefined && spec.trim() !== "")
  const secrets = [...urls, ...resolvers.flatMap(Tenants.urlsIn)].flatMap(Output.secretsOf)
  const io = options.io ?? processIo
  // From the first line on, an error of stdout or stderr (EPIPE: the reader closed the pipe) is
  // handled: the command learns of it at its next write instead of the process crashing.
  const stderr = guard(io.stderr)
  guard(io.stdout)

  let fiber: Fiber.Fiber<void, unknown> | undefined
  // (A signal comes from the event loop, never inside `runFork`: `fiber` is set by then.)
  const router = Signals.make(() => {
    if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
  })
  const program = Cli.run(args).pipe(
    Effect.provideService(Signals.Router, router),
    Effect.provideService(Io, io),
    Effect.provideService(Console.Console, io.console),
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: defined(options.env) })),
    Effect.provide(NodeServices.layer)
  )
  return {
    signal: router.signal,
    start: () =>
      new Promise<number>((resolve) => {
        const started = Effect.runFork(program)
        fiber = started
        started.addObserver((exit) => {
          const { code, message } = conclude(exit, { verbose, secrets })
          if (message !== undefined && stderr.error === undefined) io.stderr.write(`strata: ${message}\n`)
          resolve(code)
        })
      })
  }
}

const defined = (env: Options["env"]): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined))

/** Runs `argv` in process to its end: its exit status. */
export const run = (argv: ReadonlyArray<string>, options: Options): Promise<number> => make(argv, options).start()

/**
 * The exit status and the line to print on stderr for how a run ended. Parse errors and help were
 * already printed by the parser; stdout's reader gone is a normal end (exit status 0, nothing
 * printed); anything else becomes one line (the whole cause with `verbose`), with every secret of
 * the URLs given scrubbed out.
 */
export const conclude = <A, E>(
  exit: Exit.Exit<A, E>,
  options: { readonly verbose: boolean; readonly secrets: ReadonlyArray<string> }
): { readonly code: number; readonly message: string | undefined } => {
  if (Exit.isSuccess(exit)) return { code: 0, message: undefined }
  const cause = exit.cause
  // The reader of stdout went away (`strata export | head -1`): it has what it wanted.
  if (cause.reasons.some((reason) => Cause.isFailReason(reason) && reason.error instanceof ReaderGone)) {
    return { code: 0, message: undefined }
  }
  if (Cause.hasInterruptsOnly(cause)) return { code: 130, message: "interrupted" }
  const error = Cause.squash(cause)
  if (CliError.isCliError(error)) {
    const code = (error as { readonly [Runtime.errorExitCode]?: number })[Runtime.errorExitCode]
    return { code: code ?? 1, message: undefined }
  }
  return { code: 1, message: Output.scrub(Output.describeFailure(cause, options.verbose), options.secrets) }
}
