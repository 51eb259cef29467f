/**
 * `@strata/core/memory`: the in-memory backend, a complete implementation of the contract
 * (transactions and rollbacks included). The main entry exports it as `MemoryStore`.
 *
 * @module @strata/core/memory
 * @since 0.1.0
 */
export * as MemoryStore from "./MemoryStore.ts"
