/**
 * @strata/kurrentdb: Strata on KurrentDB.
 *
 * @module @strata/kurrentdb
 *
 * @since 0.1.0
 */
// @barrel: Auto-generated exports

export * as KurrentClient from "./KurrentClient.ts"
export * as KurrentCodec from "./KurrentCodec.ts"
export * as KurrentDocuments from "./KurrentDocuments.ts"
export * as KurrentEvents from "./KurrentEvents.ts"
export * as KurrentLeases from "./KurrentLeases.ts"
export * as KurrentParkedEvents from "./KurrentParkedEvents.ts"
export * as KurrentStore from "./KurrentStore.ts"
export * as KurrentUrl from "./KurrentUrl.ts"
