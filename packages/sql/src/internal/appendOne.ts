// The one-round-trip path: a single-stream append as the dialect's one statement (`appendOne`), the
// hot path of every single-stream append that nothing else must commit with. Plain combinators, no
// generator.
import { type EventStore, ExpectedVersion, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import type { Transactional } from "../Dialect.ts"
import { type AppendContext, input, type Plan } from "./appendContext.ts"
import { conditionFailed } from "./appendTransaction.ts"

// A conflict the one-round-trip path has shown is no replay (none of its event ids is stored): it
// goes to the caller as it is, without the replay check's extra round trip.
export class SettledConflict {
  readonly conflict: StoreError.WrongExpectedVersion
  constructor(conflict: StoreError.WrongExpectedVersion) {
    this.conflict = conflict
  }
}

export const inOneStatement = (ctx: AppendContext, appendOne: NonNullable<Transactional["appendOne"]>) => {
  const { sql, wake } = ctx
  return (plan: Plan, now: number) => {
    const one = plan.condition === undefined
      ? input(ctx, plan, now)
      : { ...input(ctx, plan, now), conditions: [plan.condition] }
    return Effect.flatMap(
      appendOne(sql, one),
      (outcome): Effect.Effect<
        ReadonlyArray<EventStore.AppendResult>,
        | StoreError.StreamDeleted
        | StoreError.WrongExpectedVersion
        | StoreError.AppendConditionFailed
        | StoreError.StoreUnavailable
        | SettledConflict
      > => {
        switch (outcome._tag) {
          case "ConditionFailed":
            return Effect.fail(conditionFailed(ctx, outcome.condition, outcome.row))
          case "Raced":
            return Effect.fail(new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" }))
          case "Tombstoned":
            return Effect.fail(new StoreError.StreamDeleted({ stream: one.stream, tombstoned: true }))
          case "Conflict": {
            const conflict = new StoreError.WrongExpectedVersion({
              stream: one.stream,
              expected: ExpectedVersion.format(one.expected),
              actual: outcome.actual
            })
            return Effect.fail(outcome.replay === false ? new SettledConflict(conflict) : conflict)
          }
          case "Ok":
            // Taken only outside a transaction (see `append.ts`): the statement has committed, so
            // subscribers wake now, not through `afterCommit` (a step to find no transaction).
            return Effect.as(wake, [{
              stream: one.stream,
              nextExpectedVersion: outcome.lastVersion,
              position: outcome.position
            }])
        }
      }
    )
  }
}
