/**
 * The parked-events store on KurrentDB: one Strata-owned stream per consumer
 * (`$strata-parked-<consumer>`, capped at one event, like checkpoints) whose event holds the
 * consumer's whole set of parked events. Parked events are few; each write replaces the set.
 *
 * **Gotchas**
 *
 * Writes are read-modify-write without an expected revision: a park and a discard of the same
 * consumer racing in two processes can lose one of the two. Run one instance per consumer name.
 * `settle` runs the replayed handler, then removes the entry (at-least-once: KurrentDB cannot commit
 * a handler's external writes with it).
 *
 * @since 0.1.0
 */
import { ParkedEvents } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import type { KurrentEvents } from "./KurrentEvents.ts"

const parkedStream = (consumer: string) => `$strata-parked-${consumer}`
const parkedType = "$strata.parked"

// The JSON of a parked entry as stored (its field names are the stored format, kept as written).
interface StoredEntry {
  readonly position: string
  readonly stream: string
  readonly version: string
  readonly eventId: string
  readonly eventType: string
  readonly error: string
  readonly attempts: number
  readonly parkedAt: string
}

const toStored = (entry: ParkedEvents.ParkedEvent): StoredEntry => ({
  position: entry.position.toString(),
  stream: entry.stream,
  version: entry.version.toString(),
  eventId: entry.id,
  eventType: entry.type,
  error: entry.error,
  attempts: entry.attempts,
  parkedAt: entry.parkedAt.toISOString()
})

const fromStored = (consumer: string) => (entry: StoredEntry): ParkedEvents.ParkedEvent => ({
  consumer,
  position: BigInt(entry.position),
  stream: entry.stream,
  version: BigInt(entry.version),
  id: entry.eventId,
  type: entry.eventType,
  error: entry.error,
  attempts: entry.attempts,
  parkedAt: new Date(entry.parkedAt)
})

/**
 * A `ParkedEvents` store over the KurrentDB backend's owned streams.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (events: KurrentEvents): ParkedEvents.ParkedEventStore => {
  const load = (operation: string, consumer: string) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName(operation, consumer)
      const event = yield* events.readOwned(operation, parkedStream(consumer))
      const stored = event?.type === parkedType ? (event.data as { entries: ReadonlyArray<StoredEntry> }).entries : []
      return stored.map(fromStored(consumer)).sort((a, b) => (a.position < b.position ? -1 : 1))
    })
  const save = (operation: string, consumer: string, entries: ReadonlyArray<ParkedEvents.ParkedEvent>) =>
    events.writeOwned(operation, parkedStream(consumer), parkedType, { entries: entries.map(toStored) })

  const remove = (consumer: string, position: bigint) =>
    Effect.gen(function*() {
      const at = yield* Inputs.bigint("ParkedEvents.remove", "position", position)
      const entries = yield* load("ParkedEvents.remove", consumer)
      const rest = entries.filter((entry) => entry.position !== at)
      if (rest.length === entries.length) return false
      yield* save("ParkedEvents.remove", consumer, rest)
      return true
    })

  return {
    park: (entry) =>
      Effect.gen(function*() {
        const at = yield* Inputs.bigint("ParkedEvents.park", "position", entry.position)
        const entries = yield* load("ParkedEvents.park", entry.consumer)
        yield* save("ParkedEvents.park", entry.consumer, [...entries.filter((e) => e.position !== at), entry])
      }),
    list: (consumer) => load("ParkedEvents.list", consumer),
    count: (consumer) => Effect.map(load("ParkedEvents.count", consumer), (entries) => entries.length),
    remove,
    settle: (consumer, position, work) =>
      Effect.gen(function*() {
        const entries = yield* load("ParkedEvents.settle", consumer)
        if (!entries.some((entry) => entry.position === position)) {
          return yield* ParkedEvents.notParked(consumer, position)
        }
        const result = yield* work
        yield* remove(consumer, position)
        return result
      })
  }
}
