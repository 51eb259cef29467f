/**
 * `@strata/core/backend`: what a backend author builds on, kept apart from what users call.
 *
 * A backend gives one {@link Backend} record, from which `Store.layerBackend` derives every service
 * of a store; it keeps its leases in a {@link LeaseStore} and parked events in a {@link ParkedEvents}
 * store. Every backend plans appends with {@link AppendPlan} (so each refuses the same input with the same
 * error), checks options with {@link Inputs}, judges retried appends with {@link Replay}, runs its
 * subscriptions on the one {@link Subscription} loop and encodes documents with {@link DocumentCodec};
 * core wraps its services with the {@link Tracing} spans, whose OpenTelemetry attributes and links
 * {@link Otel} names. A new backend should pass
 * `@strata/conformance`'s suite.
 *
 * @module @strata/core/backend
 * @since 0.1.0
 */
export * as AppendPlan from "./AppendPlan.ts"
export * as Backend from "./Backend.ts"
export * as DocumentCodec from "./DocumentCodec.ts"
export * as Inputs from "./Inputs.ts"
export * as LeaseStore from "./LeaseStore.ts"
export * as LiveFeed from "./LiveFeed.ts"
export * as Otel from "./Otel.ts"
export * as ParkedEvents from "./ParkedEvents.ts"
export * as Replay from "./Replay.ts"
export * as StreamView from "./StreamView.ts"
export * as Subscription from "./Subscription.ts"
export * as Tracing from "./Tracing.ts"
