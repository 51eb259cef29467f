/**
 * @strata/core: what programs use. The EventStore and DocumentStore contract and typed events (this
 * folder), processing (`processing/`: consumers, groups, leases, projections, aggregates), the store
 * layers derived from a backend (`store/`), the in-memory backend (`memory/`) and transfer
 * (`transfer/`). Backend authors import the SPI from `@strata/core/backend`.
 *
 * @module @strata/core
 * @since 0.1.0
 */
export * as ParkedEvents from "./backend/ParkedEvents.ts"
export * as Dcb from "./Dcb.ts"
export * as DocumentQuery from "./DocumentQuery.ts"
export * as DocumentStore from "./DocumentStore.ts"
export * as Event from "./Event.ts"
export * as EventCodec from "./EventCodec.ts"
export * as EventStore from "./EventStore.ts"
export * as ExpectedVersion from "./ExpectedVersion.ts"
export * as Health from "./Health.ts"
export * as JobQueue from "./jobs/JobQueue.ts"
export * as JobStore from "./jobs/JobStore.ts"
export * as MemoryStore from "./memory/MemoryStore.ts"
export * as Metrics from "./Metrics.ts"
export * as Aggregate from "./processing/Aggregate.ts"
export * as Consumer from "./processing/Consumer.ts"
export * as ConsumerGroup from "./processing/ConsumerGroup.ts"
export * as Lease from "./processing/Lease.ts"
export * as Projection from "./processing/Projection.ts"
export * as Retry from "./Retry.ts"
export * as NamedStore from "./store/NamedStore.ts"
export * as Store from "./store/Store.ts"
export * as StoreAdmin from "./StoreAdmin.ts"
export * as StoreError from "./StoreError.ts"
export * as StoreUrl from "./StoreUrl.ts"
export * as StreamName from "./StreamName.ts"
export * as Tenant from "./tenant/Tenant.ts"
export * as TenantError from "./tenant/TenantError.ts"
export * as TenantStores from "./tenant/TenantStores.ts"
export * as Transfer from "./transfer/Transfer.ts"
export * as UnitOfWork from "./UnitOfWork.ts"
export * as StrataWorkflowEngine from "./workflow/StrataWorkflowEngine.ts"
export * as WorkflowHistory from "./workflow/WorkflowHistory.ts"
