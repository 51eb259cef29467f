/**
 * The `strata` command: its subcommands, and how a run ends (exit status, one-line errors, no
 * password in any output).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import { CliError, Command } from "effect/cli"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as Consumers from "./commands/Consumers.ts"
import * as Copy from "./commands/Copy.ts"
import * as Export from "./commands/Export.ts"
import * as Import from "./commands/Import.ts"
import * as Migrate from "./commands/Migrate.ts"
import * as Sql from "./commands/Sql.ts"
import * as Stats from "./commands/Stats.ts"
import * as Streams from "./commands/Streams.ts"
import * as Tail from "./commands/Tail.ts"
import * as Output from "./Output.ts"

/**
 * The version `strata --version` prints.
 *
 * @category constants
 * @since 0.1.0
 */
export const version = "0.1.0"

/**
 * The root command.
 *
 * @category commands
 * @since 0.1.0
 */
export const strata = Command.make("strata").pipe(
  Command.withDescription(
    "Operate a Strata event store. Every command takes the store as --url or $STRATA_URL. " +
      "Add --verbose anywhere for the full cause of an error."
  ),
  Command.withSubcommands([
    Migrate.command,
    Sql.command,
    Tail.command,
    Stats.command,
    Streams.command,
    Consumers.command,
    Export.command,
    Import.command,
    Copy.command
  ])
)

/**
 * Runs the command line (without `--verbose`, which the `strata` executable takes out first).
 *
 * @category running
 * @since 0.1.0
 */
export const run = (args: ReadonlyArray<string>) => Command.runWith(strata, { version })(args)

/**
 * The exit status and the line to print on stderr for how a run ended. Parse errors and help were
 * already printed by the parser; anything else becomes one line (the whole cause with `verbose`),
 * with every secret of the URLs given scrubbed out.
 *
 * @category running
 * @since 0.1.0
 */
export const conclude = <A, E>(
  exit: Exit.Exit<A, E>,
  options: { readonly verbose: boolean; readonly secrets: ReadonlyArray<string> }
): { readonly code: number; readonly message: string | undefined } => {
  if (Exit.isSuccess(exit)) return { code: 0, message: undefined }
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) return { code: 130, message: "interrupted" }
  const error = Cause.squash(cause)
  if (CliError.isCliError(error)) {
    const code = (error as { readonly [Runtime.errorExitCode]?: number })[Runtime.errorExitCode]
    return { code: code ?? 1, message: undefined }
  }
  return { code: 1, message: Output.scrub(Output.describeFailure(cause, options.verbose), options.secrets) }
}
