/**
 * @strata/core: the EventStore and DocumentStore contract, typed events, composition layers and
 * the in-memory backend. Backend authors import the SPI from `@strata/core/backend`.
 *
 * @module @strata/core
 * @since 0.1.0
 */
export * as Aggregate from "./Aggregate.ts"
export * as Consumer from "./Consumer.ts"
export * as ConsumerGroup from "./ConsumerGroup.ts"
export * as DocumentQuery from "./DocumentQuery.ts"
export * as DocumentStore from "./DocumentStore.ts"
export * as Event from "./Event.ts"
export * as EventCodec from "./EventCodec.ts"
export * as EventStore from "./EventStore.ts"
export * as ExpectedVersion from "./ExpectedVersion.ts"
export * as Lease from "./Lease.ts"
export * as MemoryStore from "./MemoryStore.ts"
export * as Metrics from "./Metrics.ts"
export * as ParkedEvents from "./ParkedEvents.ts"
export * as Projection from "./Projection.ts"
export * as Retry from "./Retry.ts"
export * as Store from "./Store.ts"
export * as StoreAdmin from "./StoreAdmin.ts"
export * as StoreError from "./StoreError.ts"
export * as StoreUrl from "./StoreUrl.ts"
export * as StreamName from "./StreamName.ts"
export * as Transfer from "./Transfer.ts"
export * as UnitOfWork from "./UnitOfWork.ts"
