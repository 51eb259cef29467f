/**
 * Leases on D1: the SQL lease store of `@strata/sql` (each operation one statement), plus fenced
 * checkpoints that need no transaction: the lease check and the checkpoint save are one `batch()`.
 *
 * The batch inserts into `strata_guard` a 0 unless the lease row still carries the holder's token
 * (the guard's CHECK then aborts the whole batch, checkpoint included), saves the checkpoint, and
 * empties the guard. So a holder that stalled past its TTL can never move a checkpoint after another
 * took over. The handler's own writes ran before, outside the batch: delivery stays at least once.
 *
 * @since 0.1.0
 */
import type { D1Client } from "@effect/sql-d1/D1Client"
import { Consumer, type Lease, StoreError } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import { Leases } from "@strata/sql"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as D1Dialect from "./D1Dialect.ts"

const guardFailed = (error: SqlError) => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  return /CHECK constraint failed/.test(
    `${error.reason.message ?? ""} ${error.message} ${cause instanceof Error ? cause.message : String(cause)}`
  )
}

/**
 * The lease store for D1, with `fencedCheckpoints` as one batch.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (client: D1Client): Effect.Effect<Lease.LeaseStoreShape> =>
  Effect.gen(function*() {
    const dialect = D1Dialect.make(client)
    const base = yield* Leases.make({ isTransient: dialect.isTransient }).pipe(
      Effect.provideService(SqlClient.SqlClient, client)
    )
    const fencedCheckpoints = (lease: Lease.Lease): Consumer.CheckpointStore => ({
      load: Consumer.storeCheckpoints.load,
      commit: (name, position, work) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const result = yield* restore(work)
            yield* Inputs.checkpointName("saveCheckpoint", name)
            yield* client.batch([
              client`INSERT INTO strata_guard (ok) SELECT CASE WHEN EXISTS (
                SELECT 1 FROM strata_leases WHERE name = ${lease.name} AND holder = ${lease.holder}
                AND token = ${lease.token} AND expires_at > 0) THEN 1 ELSE 0 END`,
              client`INSERT INTO strata_checkpoints (name, position) VALUES (${name}, ${position})
                ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
              client`DELETE FROM strata_guard`
            ]).pipe(
              Effect.catchIf(guardFailed, () =>
                Effect.fail(new StoreError.LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token }))),
              Effect.catchTag("SqlError", (error) =>
                dialect.isTransient(error)
                  ? Effect.fail(
                    new StoreError.StoreUnavailable({
                      operation: "Consumer.commit",
                      reason: error.reason._tag,
                      cause: error
                    })
                  )
                  : Effect.die(error))
            )
            return result
          })
        )
    })
    return { ...base, fencedCheckpoints }
  })
