/**
 * @strata/console: a local web console for any Strata store (streams, events, the `$all` live tail,
 * consumers, parked events with replay and discard), locked behind a per-run token on 127.0.0.1.
 *
 * @module @strata/console
 * @since 0.1.0
 */
export * as Console from "./Console.ts"
