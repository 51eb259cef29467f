/**
 * Processing workloads: Groups (issue 23). Each entry is a named workload run by bench/run.ts after the
 * storage workloads, with its floors measured in the same run.
 */
import type { Workload } from "./Processing.ts"

export const workloads: ReadonlyArray<Workload> = []
