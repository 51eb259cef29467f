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
import type { AppendRequest } from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import { InvalidArgument, type InvalidEvent, type InvalidStreamName, type WrongExpectedVersion } from "../StoreError.ts"
import * as StreamName from "../StreamName.ts"

/**
 * One stream's part of an append, ready to write.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendPlan {
  readonly request: AppendRequest
  readonly prepared: ReadonlyArray<Event.PreparedEvent>
}

/**
 * Plans a single-stream append.
 *
 * @category constructors
 * @since 0.1.0
 */
export const one = (
  request: AppendRequest,
  maxEventBytes: number
): Effect.Effect<AppendPlan, InvalidEvent | InvalidStreamName | WrongExpectedVersion> =>
  Effect.flatMap(
    StreamName.make(request.stream),
    (): Effect.Effect<AppendPlan, InvalidEvent | WrongExpectedVersion> => {
      const impossible = ExpectedVersion.impossible(request.stream, request.expected)
      return impossible !== undefined
        ? Effect.fail(impossible)
        : Effect.map(
          Event.prepare(request.stream, request.events, maxEventBytes),
          (prepared) => ({ request, prepared })
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
  maxEventBytes: number
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
    const plans = yield* Effect.forEach(requests, (request) => one(request, maxEventBytes))
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
