/**
 * `@strata/core/transfer`: moving events between stores (the NDJSON line format, copy, load, verify).
 * The main entry exports it as `Transfer`.
 *
 * @module @strata/core/transfer
 * @since 0.1.0
 */
export * as Transfer from "./Transfer.ts"
