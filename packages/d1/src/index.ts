/**
 * @strata/d1: Strata on Cloudflare D1.
 *
 * @module @strata/d1
 * @since 0.1.0
 */
export * as D1Dialect from "./D1Dialect.ts"
export * as D1Store from "./D1Store.ts"
