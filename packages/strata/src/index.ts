/**
 * @strata/strata: the backend from a URL or `STRATA_URL` ({@link Strata}), plus everything
 * `@strata/core` exports, so one import serves a whole program.
 *
 * @module @strata/strata
 * @since 0.1.0
 */
export * from "@strata/core"
export * as Strata from "./Strata.ts"
export * as TenantUrl from "./TenantUrl.ts"
