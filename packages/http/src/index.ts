/**
 * @strata/http: a Strata store over HTTP with Effect's own HTTP modules (`effect/http`): stream
 * versions as ETags and conditional headers as expected versions (`Preconditions`), store errors as
 * problem+json (`Problem`), command and state endpoints for an `Aggregate` (`AggregateHttp`), and
 * health routes (`HealthHttp`).
 *
 * @module @strata/http
 * @since 0.1.0
 */
export * as AggregateHttp from "./AggregateHttp.ts"
export * as HealthHttp from "./HealthHttp.ts"
export * as Preconditions from "./Preconditions.ts"
export * as Problem from "./Problem.ts"
