// The batched path (no interactive transactions: D1): the whole append, with the document a put
// carries, is one atomic batch whose own statements enforce every check. When a guard refuses it,
// nothing was written, and the state is re-read to say why.
import { JobStore, StoreError } from "@strata/core"
import { AppendPlan, DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Dcb from "../DcbSql.ts"
import type { AppendBatchInput, Batched } from "../Dialect.ts"
import { type AppendContext, type Atomically, input } from "./appendContext.ts"
import { conditionFailed } from "./appendTransaction.ts"

export const inBatch = (ctx: AppendContext, write: Batched): Atomically => (plans, now, document) =>
  Effect.gen(function*() {
    const conditions = AppendPlan.conditions(plans)
    // Jobs carried by the append (`JobQueue.append` checked that the queue is in this database).
    const jobs = yield* JobStore.Carried
    const batch: AppendBatchInput = {
      appends: plans.map((plan) => input(ctx, plan, now)),
      document,
      ...(conditions.length === 0 ? {} : { conditions }),
      ...(jobs === undefined || jobs.length === 0 ? {} : { jobs })
    }
    const outcome = yield* write.appendBatch(ctx.sql, batch)
    if (outcome._tag === "Ok") {
      yield* ctx.wake
      return {
        results: outcome.results.map((result) => ({
          stream: result.stream,
          nextExpectedVersion: result.lastVersion,
          position: result.position
        })),
        documentVersion: outcome.documentVersion
      }
    }
    // A guard failed and nothing was written: find the first part that explains it.
    for (const append of batch.appends) {
      const problem = yield* ctx.rows.diagnose(append.stream, append.expected)
      if (problem !== undefined) return yield* problem
    }
    for (const condition of conditions) {
      const statement = Dcb.firstConflict(ctx.sql, condition)
      const [row] = statement === undefined ? [] : yield* statement
      if (row !== undefined) return yield* conditionFailed(ctx, condition, row)
    }
    if (document !== undefined) {
      const row = yield* ctx.documents.documentRow(document.collection, document.id)
      const conflict = DocumentCodec.conflict(document.collection, document.id, document.expected, row?.version)
      if (conflict !== undefined) return yield* conflict
    }
    // The state moved on between the batch and the re-read; the caller may simply try again.
    return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
  })
