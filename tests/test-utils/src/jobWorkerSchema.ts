// The data of the multi-process job tests' queue (shared by jobWorker.ts and JobProcesses.ts).
import * as Schema from "effect/Schema"

/** A job of the multi-process tests: its number. */
export const Work = Schema.Struct({ n: Schema.Number })
