/**
 * The `strata` command and its subcommands, to run from a program (the `strata` executable adds
 * `--verbose`, exit statuses, one-line errors with no password, and signal handling).
 *
 * @since 0.1.0
 */
import { Command } from "effect/cli"
import { createRequire } from "node:module"
import * as ConsoleCommand from "./internal/commands/Console.ts"
import * as Consumers from "./internal/commands/Consumers.ts"
import * as Copy from "./internal/commands/Copy.ts"
import * as Export from "./internal/commands/Export.ts"
import * as Import from "./internal/commands/Import.ts"
import * as Jobs from "./internal/commands/Jobs.ts"
import * as Migrate from "./internal/commands/Migrate.ts"
import * as Sql from "./internal/commands/Sql.ts"
import * as Stats from "./internal/commands/Stats.ts"
import * as Streams from "./internal/commands/Streams.ts"
import * as Tail from "./internal/commands/Tail.ts"

/**
 * The version `strata --version` prints: the package's own, read from its package.json (one level
 * above both `src/` and `dist/`), so it cannot drift from what is installed.
 *
 * @category constants
 * @since 0.1.0
 */
export const version: string =
  (createRequire(import.meta.url)("../package.json") as { readonly version: string }).version

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
    Jobs.command,
    ConsoleCommand.command,
    Export.command,
    Import.command,
    Copy.command
  ])
)

/**
 * Runs the command line (without `--verbose`, which the `strata` executable takes out first) with
 * the platform services provided (e.g. `NodeServices.layer` of `@effect/platform-node`): output on
 * the process's stdout and stderr, the store from `--url` or `STRATA_URL`.
 *
 * @category running
 * @since 0.1.0
 */
export const run = (args: ReadonlyArray<string>) => Command.runWith(strata, { version })(args)
