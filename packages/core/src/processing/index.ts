/**
 * `@strata/core/processing`: what runs over the log. Checkpointed consumers (`Consumer`, and the one
 * rule for how a batch commits in `Checkpoints`), competing consumers (`ConsumerGroup`), leases
 * (`Lease`), declarative projections (`Projection`) and aggregates (`Aggregate`). The main entry
 * exports the same modules; this entry is the room on its own.
 *
 * @module @strata/core/processing
 * @since 0.1.0
 */
export * as Aggregate from "./Aggregate.ts"
export * as Checkpoints from "./Checkpoints.ts"
export * as Consumer from "./Consumer.ts"
export * as ConsumerGroup from "./ConsumerGroup.ts"
export * as Lease from "./Lease.ts"
export * as Projection from "./Projection.ts"
