// The one small context every concept module of the SQL store is built over: the client, the
// dialect, the store's settings, error mapping, the transaction wrapper and the wake-up signals.
import type { Event } from "@strata/core"
import { StoreError } from "@strata/core"
import { Inputs, Subscription } from "@strata/core/backend"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"
import type { Dialect } from "../Dialect.ts"
import * as Rows from "../Rows.ts"
import * as SqlErrorText from "../SqlErrorText.ts"

export interface Settings {
  readonly dialect: Dialect
  readonly backend: string
  readonly maxEventBytes: number
  readonly pageSize: number
  readonly pollInterval: Duration.Input
}

export interface StoreContext extends Settings {
  readonly sql: SqlClient.SqlClient
  /** Subscriptions in this process wait on it (PostgreSQL's listener also publishes to it). */
  readonly signal: PubSub.PubSub<void>
  /** Published after every commit that wrote events through this store (PostgreSQL: NOTIFY). */
  readonly committed: PubSub.PubSub<void>
  /** Wakes both, after a commit. */
  readonly wake: Effect.Effect<void>
  /**
   * Transient database failures become StoreUnavailable, and so does a Strata table that does not
   * exist (reason `NotMigrated: ...`, saying to run the migrations); anything else is a bug, so a
   * defect.
   */
  readonly unavailable: (operation: string) => (error: SqlError) => Effect.Effect<never, StoreError.StoreUnavailable>
  readonly transaction: <A, E, R>(
    operation: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | SqlError | StoreError.StoreUnavailable, R>
  /** A version or position from a caller, within what the database binds (D1: 2^53). */
  readonly bigintInput: (
    operation: string,
    name: string,
    value: unknown,
    min?: bigint
  ) => Effect.Effect<bigint, StoreError.InvalidArgument>
  /** Runs an event query selecting `Rows.eventColumns`, read as values (see `Rows.fromValues`). */
  readonly events: (statement: Statement.Statement<unknown>) => Effect.Effect<Array<Event.RecordedEvent>, SqlError>
}

export const make = Effect.fnUntraced(function*(settings: Settings) {
  const sql = yield* SqlClient.SqlClient
  const { backend, dialect } = settings
  const signal = yield* Subscription.makeSignal
  const committed = yield* Subscription.makeSignal
  const fromValues = Rows.fromValues(dialect)

  // A missing Strata table is the operator's to fix (the store was opened with `migrate: false` on a
  // database nobody migrated), not a bug: typed, with what to do. StoreUnavailable because it is the
  // one error every operation may fail with, and because it does pass once the migrations run (a
  // deploy that migrates from a separate job while the program starts).
  const unavailable = (operation: string) => SqlErrorText.toStoreError(dialect.isTransient, operation)

  // A rollback on a dead connection fails, and effect/sql turns that into a defect; a COMMIT that fails
  // and cannot be cleaned up turns every failure of both into defects (seen under pg_terminate_backend:
  // a UniqueViolation beside the ConnectionError). When every defect is a database error and one of
  // them is transient, the attempt's outcome is unknown: StoreUnavailable, so a retry replays it and
  // the replay rule answers with what was stored. Any other defect is a bug, and stays one.
  const transaction = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>) =>
    sql.withTransaction(effect).pipe(
      Effect.catchCause((cause): Effect.Effect<never, E | SqlError | StoreError.StoreUnavailable> => {
        const defects = cause.reasons.filter(Cause.isDieReason).map((reason) => reason.defect)
        const transient = defects.every(isSqlError)
          ? defects.find((defect) => dialect.isTransient(defect))
          : undefined
        return transient === undefined
          ? Effect.failCause(cause)
          : Effect.fail(new StoreError.StoreUnavailable({ operation, reason: transient.reason._tag, cause: transient }))
      })
    )

  const bigintInput = (operation: string, name: string, value: unknown, min: bigint = 0n) =>
    Effect.flatMap(Inputs.bigint(operation, name, value, min), (checked) =>
      checked > dialect.maxInteger
        ? Effect.fail(
          new StoreError.InvalidArgument({
            operation,
            detail:
              `${name} ${checked} is above ${dialect.maxInteger}, the largest integer the ${backend} backend stores`
          })
        )
        : Effect.succeed(checked))

  const context: StoreContext = {
    ...settings,
    sql,
    signal,
    committed,
    wake: Effect.asVoid(Effect.andThen(PubSub.publish(signal, undefined), PubSub.publish(committed, undefined))),
    unavailable,
    transaction,
    bigintInput,
    events: (statement) => Effect.map(statement.values, (rows) => rows.map(fromValues))
  }
  return context
})
