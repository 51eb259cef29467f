/**
 * Consumer checkpoints that commit in the same transaction as the handler's SQL: a projection
 * written through the store's SqlClient is updated exactly once per event, across crashes and
 * restarts (an interrupted batch rolls back together with its checkpoint). Only for databases with
 * transactions (`Dialect.Transactional`); D1 keeps the store's own checkpoints.
 *
 * @since 0.1.0
 */
import { Consumer, EventStore, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"

/**
 * A `Consumer.CheckpointStore` whose commit wraps the handler's work and the checkpoint in one
 * transaction of `sql`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const transactional = (sql: SqlClient.SqlClient): Consumer.CheckpointStore => ({
  load: Consumer.storeCheckpoints.load,
  commit: (name, position, work) =>
    sql.withTransaction(
      Effect.tap(work, () => Effect.flatMap(EventStore.EventStore, (store) => store.saveCheckpoint(name, position)))
    ).pipe(
      Effect.catchIf(isSqlError, (error) =>
        Effect.fail(
          new StoreError.StoreUnavailable({ operation: "Consumer.commit", reason: error.reason._tag, cause: error })
        ))
    )
})
