/**
 * Startup: what a SQL store layer reports when its database cannot be reached, opened or migrated,
 * and the opt-in boot retry for a database that is still starting (the docker-compose case).
 *
 * A layer's raw `SqlError` ("PgConnection: Failed to connect") names neither what it tried nor what
 * to check. {@link guard} turns every `SqlError` raised while the layer builds into one
 * `StoreError.StartupFailed` that names the target (host, port, database and user, or the file;
 * never a password), the problem and a hint, from the dialect's {@link Explain}.
 *
 * @since 0.1.0
 */
import { StoreError } from "@strata/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { isSqlError, type SqlError } from "effect/sql/SqlError"

/**
 * What went wrong, and what to check.
 *
 * @category models
 * @since 0.1.0
 */
export interface Explanation {
  readonly problem: string
  readonly hint: string
}

/**
 * Explains a startup failure of one database.
 *
 * @category models
 * @since 0.1.0
 */
export type Explain = (error: SqlError) => Explanation

/**
 * The driver's own words, for failures no dialect explains better.
 *
 * @category constructors
 * @since 0.1.0
 */
export const describe = (error: SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause
  const detail = cause instanceof Error ? cause.message : cause === undefined ? "" : String(cause)
  return [error.reason.message ?? error.message, detail].filter((part) => part !== "").join(": ")
}

/**
 * Masks the password of every `scheme://user:password@` in a text.
 *
 * @category constructors
 * @since 0.1.0
 */
export const redact = (text: string): string => text.replace(/(\/\/[^:/@\s]*):[^@\s]*@/g, "$1:***@")

/**
 * Maps every `SqlError` a layer fails with while it builds to `StartupFailed`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const guard = <A, E, R>(
  layer: Layer.Layer<A, E, R>,
  options: { readonly backend: string; readonly target: string; readonly explain: Explain }
): Layer.Layer<A, Exclude<E, SqlError> | StoreError.StartupFailed, R> =>
  Layer.catchCause(layer, (cause): Layer.Layer<A, Exclude<E, SqlError> | StoreError.StartupFailed> => {
    const failure = cause.reasons.find(Cause.isFailReason)
    const error = failure?.error ?? cause.reasons.find(Cause.isDieReason)?.defect
    if (!isSqlError(error)) {
      return Layer.effectDiscard(Effect.failCause(cause as Cause.Cause<Exclude<E, SqlError>>)) as never
    }
    const { hint, problem } = options.explain(error)
    // Not the driver's error itself: drivers keep the URL they were given (password included) on it.
    const scrubbed = new Error(redact(describe(error)))
    return Layer.effectDiscard(
      Effect.fail(
        new StoreError.StartupFailed({
          backend: options.backend,
          target: options.target,
          problem,
          hint,
          cause: scrubbed
        })
      )
    ) as never
  })

/**
 * Retries a startup step while it fails transiently (nothing listens yet, the server is starting),
 * logging each retry with its reason.
 *
 * @category combinators
 * @since 0.1.0
 */
export const retrying = <A, R>(
  step: Effect.Effect<A, SqlError, R>,
  options: {
    readonly schedule: Schedule.Schedule<unknown, unknown> | undefined
    readonly isTransient: (error: SqlError) => boolean
  }
): Effect.Effect<A, SqlError, R> =>
  options.schedule === undefined ? step : Effect.retry(
    step.pipe(
      Effect.tapError((error) =>
        options.isTransient(error)
          ? Effect.logWarning(`strata: the database is not ready (${describe(error)}); retrying`)
          : Effect.void
      )
    ),
    { schedule: options.schedule, while: options.isTransient }
  )

/**
 * A boot retry for a database that may still be starting: every second for up to a minute.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.max([
  Schedule.spaced("1 second"),
  Schedule.recurs(60)
])
