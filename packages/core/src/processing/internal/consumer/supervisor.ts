// The supervisor of a consumer: it runs attempts one after another, classifies each failure (the
// handler's, on an event, or the store's), marks poison events for parking, and otherwise restarts
// after the delay of its restart schedule (handler failures) or outage schedule (store outages),
// logging every step. It stops only when the restart schedule ends: the consumer is then `failed`.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as StoreError from "../../../StoreError.ts"
import { Checkpoints } from "../../Checkpoints.ts"
import type { AnyContext as Ctx } from "./context.ts"
import { describe, eventAnnotations, failedEvent, HandlerFailure, showEvent, tagOf } from "./failures.ts"
import type { ConsumerFailure } from "./model.ts"
import * as Parking from "./parking.ts"

type Step = (input: unknown) => Effect.Effect<Option.Option<Duration.Duration>>

// Steps a schedule by hand: the delay before the next attempt, or none when it has ended.
const stepper = (schedule: Schedule.Schedule<unknown, unknown>) =>
  Effect.map(
    Schedule.toStep(schedule),
    (step): Step => (input: unknown) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        step(now, input).pipe(
          Effect.map(([, delay]) => Option.some(delay)),
          Pull.catchDone(() => Effect.succeed(Option.none<Duration.Duration>()))
        ))
  )

// Where the two schedules stand: both start over once an attempt commits (see `Shared.progressed`).
interface Backoff {
  restart: Step
  outage: Step
  lastOutageDelay: Duration.Duration
}

const startOver = (ctx: Ctx, backoff: Backoff) =>
  Effect.gen(function*() {
    backoff.restart = yield* stepper(ctx.restart)
    backoff.outage = yield* stepper(ctx.outage)
  })

// The delay before the next attempt; none when the restart schedule has ended.
const nextDelay = (backoff: Backoff, failure: ConsumerFailure) =>
  Effect.gen(function*() {
    if (!failure.transient) return yield* backoff.restart(failure.error)
    const delay = yield* backoff.outage(failure.error)
    // Outages are always retried: past the schedule's end, with its last delay.
    if (delay._tag === "Some") backoff.lastOutageDelay = delay.value
    return delay._tag === "Some" ? delay : Option.some(backoff.lastOutageDelay)
  })

const classify = (ctx: Ctx, cause: Cause.Cause<unknown>): ConsumerFailure => {
  const found = Cause.findErrorOption(cause)
  if (found._tag === "Some" && found.value instanceof HandlerFailure) {
    const error = Cause.squash(found.value.cause)
    const event = failedEvent(found.value.event)
    const transient = StoreError.isRetryable(error)
    const attempts = transient ? 1 : Parking.countFailure(ctx.shared, event.position)
    return { error, message: describe(error), event, attempts, transient }
  }
  const error = Cause.squash(cause)
  return {
    error,
    message: describe(error),
    event: undefined,
    attempts: 1,
    // A lost lease (exclusive) is like an outage: stand by for it again, never give up.
    transient: StoreError.isRetryable(error) || (error instanceof StoreError.LeaseLost)
  }
}

// Counts, logs and answers one failed attempt: park and go on, restart after a delay, or give up
// (false).
const afterFailure = (ctx: Ctx, backoff: Backoff, failure: ConsumerFailure) =>
  Effect.gen(function*() {
    const { annotate, attributes, name, update } = ctx
    yield* Metric.update(
      Metric.withAttributes(ctx.metrics.failuresTotal, { ...attributes, error: tagOf(failure.error) }),
      1
    )
    const where = failure.event === undefined ? "" : ` on ${showEvent(failure.event)}`
    const logFailure = (message: string) =>
      Effect.logWarning(message).pipe(
        Effect.annotateLogs({ ...eventAnnotations(failure.event), "strata.consumer.attempts": failure.attempts }),
        annotate
      )
    if (Parking.markForParking(ctx, failure)) {
      yield* update((status) => ({ ...status, state: "restarting", restarts: status.restarts + 1, failure }))
      yield* logFailure(
        `Strata: consumer ${name} failed${where} ${failure.attempts} times, parking it: ${failure.message}`
      )
      return true
    }
    const delay = yield* nextDelay(backoff, failure)
    if (delay._tag === "None") {
      yield* update((status) => ({ ...status, state: "failed", failure }))
      yield* Effect.logError(
        `Strata: consumer ${name} failed${where} and its restart schedule has ended; it handles nothing more: ${failure.message}`
      ).pipe(Effect.annotateLogs(eventAnnotations(failure.event)), annotate)
      return false
    }
    yield* update((status) => ({ ...status, state: "restarting", restarts: status.restarts + 1, failure }))
    yield* logFailure(
      `Strata: consumer ${name} failed${where}${
        failure.event !== undefined && !failure.transient ? ` (attempt ${failure.attempts})` : ""
      }, restarting in ${Duration.format(delay.value)}: ${failure.message}`
    )
    yield* Effect.sleep(delay.value)
    return true
  })

// The supervisor: runs attempts, restarting failed ones on their schedule, parking poison events.
export const supervise = <A, E, R>(ctx: Ctx, attempt: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    // What the checkpoints promise, so the log says whether a batch's writes land exactly once.
    const delivery = (yield* Checkpoints).delivery ?? "at-least-once"
    yield* Effect.logInfo(`Strata: consumer ${ctx.name} started`).pipe(
      ctx.annotate,
      Effect.annotateLogs({ "strata.consumer.delivery": delivery })
    )
    const backoff: Backoff = {
      restart: yield* stepper(ctx.restart),
      outage: yield* stepper(ctx.outage),
      lastOutageDelay: Duration.millis(100)
    }
    while (true) {
      ctx.shared.progressed = false
      const exit = yield* Effect.exit(attempt)
      if (exit._tag === "Success") continue // unreachable: an attempt only ends by failing
      if (ctx.shared.progressed) yield* startOver(ctx, backoff)
      if (!(yield* afterFailure(ctx, backoff, classify(ctx, exit.cause)))) return
    }
  })
