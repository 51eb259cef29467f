/**
 * Append requests checked and serialised before any backend touches storage: the stream name, an
 * expected version no stream can meet (a negative `exact`: `WrongExpectedVersion` without `actual`,
 * see `ExpectedVersion.impossible`), every event (Event.prepare), and for multi-stream appends that
 * each stream and each event id appears once.
 * Every backend plans appends with these, so each refuses the same input with the same error.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Event from "../Event.ts"
import type { AppendCondition, AppendRequest } from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import { InvalidArgument, type InvalidEvent, type InvalidStreamName, type WrongExpectedVersion } from "../StoreError.ts"
import * as StreamName from "../StreamName.ts"
import * as Inputs from "./Inputs.ts"

/**
 * One stream's part of an append, ready to write.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendPlan {
  readonly request: AppendRequest
  readonly prepared: ReadonlyArray<Event.PreparedEvent>
  /** The request's DCB condition, checked (`Inputs.condition`); absent when it has none. */
  readonly condition?: AppendCondition | undefined
}

/**
 * The conditions of planned appends (each request's own), for the backend to check atomically with
 * the write.
 *
 * @category constructors
 * @since 0.1.0
 */
export const conditions = (plans: ReadonlyArray<AppendPlan>): ReadonlyArray<AppendCondition> => {
  const found: Array<AppendCondition> = []
  for (const plan of plans) if (plan.condition !== undefined) found.push(plan.condition)
  return found
}

/**
 * Whether planned appends need the DCB path: a condition, or an event with tags.
 *
 * @category constructors
 * @since 0.1.0
 */
export const usesDcb = (plans: ReadonlyArray<AppendPlan>): boolean =>
  plans.some((plan) => plan.condition !== undefined || plan.prepared.some((event) => event.tags !== undefined))

/**
 * Whether a planned append carries a binary event (bytes rather than JSON data). Backends whose
 * fastest path binds JSON columns only send such appends down their general path.
 *
 * @category constructors
 * @since 0.1.0
 */
export const hasBinary = (plan: AppendPlan): boolean => plan.prepared.some((event) => event.bytes !== undefined)

/**
 * Plans a single-stream append.
 *
 * @category constructors
 * @since 0.1.0
 */
export const one = (
  request: AppendRequest,
  maxEventBytes: number,
  position?: (operation: string, name: string, value: unknown) => Effect.Effect<bigint, InvalidArgument>
): Effect.Effect<AppendPlan, InvalidEvent | InvalidStreamName | WrongExpectedVersion | InvalidArgument> =>
  // Eager: the name's check is a plain success or failure, so a valid name costs no step.
  Effect.flatMapEager(
    StreamName.make(request.stream),
    (): Effect.Effect<AppendPlan, InvalidEvent | WrongExpectedVersion | InvalidArgument> => {
      const impossible = ExpectedVersion.impossible(request.stream, request.expected)
      if (impossible !== undefined) return Effect.fail(impossible)
      const prepare = Event.prepare(request.stream, request.events, maxEventBytes)
      return request.condition === undefined
        ? Effect.map(prepare, (prepared) => ({ request, prepared }))
        : Effect.flatMap(
          Inputs.condition("append", request.condition, position),
          (condition) => Effect.map(prepare, (prepared) => ({ request, prepared, condition }))
        )
    }
  )

/**
 * Plans a multi-stream append (`appendMany`, or the events of a document write): at least one
 * request, each stream once, each event id once across all of them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const many = (
  operation: string,
  requests: ReadonlyArray<AppendRequest>,
  maxEventBytes: number,
  position?: (operation: string, name: string, value: unknown) => Effect.Effect<bigint, InvalidArgument>
): Effect.Effect<
  ReadonlyArray<AppendPlan>,
  InvalidArgument | InvalidEvent | InvalidStreamName | WrongExpectedVersion
> =>
  Effect.gen(function*() {
    const invalid = (detail: string) => new InvalidArgument({ operation, detail })
    if (!Array.isArray(requests) || requests.length === 0) return yield* invalid("needs at least one request")
    const streams = new Set<string>()
    for (const request of requests) {
      if (streams.has(request.stream)) {
        return yield* invalid(
          `stream ${JSON.stringify(request.stream)} appears twice; merge its events into one request`
        )
      }
      streams.add(request.stream)
    }
    const plans = yield* Effect.forEach(requests, (request) => one(request, maxEventBytes, position))
    // The per-stream checks all run before any write, so one id in two parts would pass them all.
    const ids = new Set<string>()
    for (const plan of plans) {
      for (const event of plan.prepared) {
        if (ids.has(event.id)) return yield* invalid(`event id ${event.id} appears in more than one request`)
        ids.add(event.id)
      }
    }
    return plans
  })
