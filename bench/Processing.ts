/**
 * The processing side of the benchmark (consumers, projections, subscribers, groups): one module per
 * area, each a list of named workloads. bench/run.ts runs them after the storage workloads.
 */
import type { Store } from "@strata/core"
import type * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"

/** What a processing workload is handed. */
export interface Context {
  /** "postgres" | "sqlite" | "memory" | "kurrentdb". */
  readonly backend: string
  /** Smaller sizes for a smoke run (`--quick`). */
  readonly quick: boolean
}

/** A named workload: skipped (`undefined` effect) where the backend cannot run it. */
export interface Workload {
  readonly name: string
  readonly run: (context: Context) => Effect.Effect<unknown, unknown, Store.Services | SqlClient.SqlClient> | undefined
}
