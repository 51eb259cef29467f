/**
 * @strata/kurrentdb-emulator: a test-only, in-process gRPC emulator of KurrentDB.
 *
 * @since 0.1.0
 */
export * as Database from "./Database.ts"
export * as KurrentEmulator from "./KurrentEmulator.ts"
