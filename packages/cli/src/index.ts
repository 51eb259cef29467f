/**
 * @strata/cli: the `strata` command. Its logic lives in `@strata/core` (`Transfer`, `StoreAdmin`);
 * these modules parse flags, draw progress and print.
 *
 * @module @strata/cli
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
export * as Connect from "./Connect.ts"
export * as Output from "./Output.ts"
export * as Print from "./Print.ts"
export * as Progress from "./Progress.ts"
export * as Signals from "./Signals.ts"
export * as Usage from "./Usage.ts"
