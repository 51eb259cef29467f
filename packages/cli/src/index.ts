/**
 * @strata/cli: the `strata` command. Its logic lives in `@strata/core` (`Transfer`, `StoreAdmin`);
 * the command parses flags, draws progress and prints. Install the package for its `strata`
 * executable; `Cli` is the command itself, for a program that runs it.
 *
 * @module @strata/cli
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
