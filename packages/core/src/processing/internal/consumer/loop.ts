// The one consuming loop `Consumer.run` and the supervised consumer share: load the checkpoint
// (through the `Checkpoints` in context when the attempt starts, so a fenced store provided around an
// attempt is the one used), subscribe just after it, handle each batch and commit.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Event from "../../../Event.ts"
import type { RecordedEvent } from "../../../Event.ts"
import { establishAll, type EventStore } from "../../../EventStore.ts"
import type { EventFilter, SubscribeFrom } from "../../../EventStore.ts"
import { InvalidArgument } from "../../../StoreError.ts"
import { type CheckpointError, Checkpoints } from "../../Checkpoints.ts"

export interface Loop<E, R> {
  readonly name: string
  readonly operation: string
  readonly filter: EventFilter | undefined
  readonly every: number
  /** Where to start without a checkpoint; "end" is fixed by the first attempt (see `Consumer.run`). */
  readonly initial: { value: SubscribeFrom }
  readonly handle: (event: RecordedEvent) => Effect.Effect<void, E, R>
  readonly onStart?: ((covered: bigint | undefined) => Effect.Effect<void>) | undefined
  readonly onCommit?: ((position: bigint, handled: number) => Effect.Effect<void>) | undefined
}

// Emits how many events each delivered batch held, once they are all handled and committed.
export const consume = <E, R>(
  loop: Loop<E, R>
): Stream.Stream<number, E | CheckpointError, R | EventStore | Checkpoints> =>
  Stream.unwrap(Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const checkpoint = yield* checkpoints.load(loop.name)
    const from: SubscribeFrom = checkpoint._tag === "Some" ? { after: checkpoint.value } : loop.initial.value
    const established = yield* establishAll({ from, filter: loop.filter })
    // "end" is resolved once, on the first attempt, so a restart before the first commit does not
    // skip what was appended during the outage.
    if (checkpoint._tag === "None") loop.initial.value = established.start
    const start = typeof established.start === "object" ? established.start.after : undefined
    yield* Effect.annotateCurrentSpan({
      "strata.consumer.from": start === undefined ? "start" : `after ${start}`
    })
    if (loop.onStart !== undefined) yield* loop.onStart(start)
    const handleBatch = (events: ReadonlyArray<RecordedEvent>) => {
      const position = events[events.length - 1].position
      const committed = checkpoints.commit(
        loop.name,
        position,
        Effect.forEach(events, (event) => Event.causedBy(loop.handle(event), event), { discard: true })
      )
      return loop.onCommit === undefined
        ? committed
        : Effect.tap(committed, () => loop.onCommit!(position, events.length))
    }
    return Stream.mapArrayEffect(established.events, (events) =>
      Effect.gen(function*() {
        for (let i = 0; i < events.length; i += loop.every) {
          yield* handleBatch(events.slice(i, i + loop.every))
        }
        return [events.length] as const
      }))
  }))

// `checkpointEvery`, checked for `run` and `make` alike.
export const checkEvery = (operation: string, every: number) =>
  Number.isSafeInteger(every) && every >= 1
    ? Effect.succeed(every)
    : Effect.fail(
      new InvalidArgument({ operation, detail: `checkpointEvery must be an integer >= 1, got ${String(every)}` })
    )
