/**
 * `@strata/core/backend`: what a backend author builds on, kept apart from what users call.
 *
 * Every backend plans appends with {@link AppendPlan} (so each refuses the same input with the same
 * error), checks options with {@link Inputs}, judges retried appends with {@link Replay}, runs its
 * subscriptions on the one {@link Subscription} loop, encodes documents with {@link DocumentCodec},
 * and wraps its services with the {@link Tracing} spans. A new backend should pass
 * `@strata/conformance`'s suite.
 *
 * @module @strata/core/backend
 * @since 0.1.0
 */
export * as AppendPlan from "./AppendPlan.ts"
export * as DocumentCodec from "./DocumentCodec.ts"
export * as Inputs from "./Inputs.ts"
export * as Replay from "./Replay.ts"
export * as StreamView from "./StreamView.ts"
export * as Subscription from "./Subscription.ts"
export * as Tracing from "./Tracing.ts"
