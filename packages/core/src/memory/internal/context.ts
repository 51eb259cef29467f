// The one small context every concept module of the in-memory EventStore is built over: the shared
// state, the settings, the unit-of-work wrapper, the current fiber's read horizon, and the few
// stream helpers the append, read and lifecycle modules all use.
import * as Effect from "effect/Effect"
import * as Inputs from "../../backend/Inputs.ts"
import type * as StreamView from "../../backend/StreamView.ts"
import { StreamDeleted } from "../../StoreError.ts"
import type { InvalidStreamName } from "../../StoreError.ts"
import * as StreamName from "../../StreamName.ts"
import { horizon, type State, type StreamRecord, unitOfWork, visibleCount } from "./state.ts"

export interface Settings {
  readonly maxEventBytes: number
  readonly pageSize: number
}

export interface MemoryContext extends Settings {
  readonly state: State
  /** Runs an effect as a unit of work of this store (see `unitOfWork`). */
  readonly transaction: ReturnType<typeof unitOfWork>
  /** The current fiber's read horizon (see `horizon`). */
  readonly horizon: Effect.Effect<number>
  /** A stream's record, created (empty) on first use. */
  readonly recordFor: (name: string) => StreamRecord
  /** A valid stream name's record, if any; a tombstoned stream fails. */
  readonly openStream: (stream: string) => Effect.Effect<StreamRecord | undefined, InvalidStreamName | StreamDeleted>
}

// What a reader sees of a stream: its events up to the reader's horizon.
export const stored = (record: StreamRecord | undefined, h: number): StreamView.StoredStream | undefined => {
  if (record === undefined) return undefined
  const n = visibleCount(record, h)
  return { ...record, lastVersion: n === 0 ? undefined : BigInt(n - 1) }
}

// Where a stream's readable events start (retention), at `now` and horizon `h`.
export const visibleFrom = (record: StreamRecord, now: number, h: number): { first: bigint; minTime: number } => ({
  first: Inputs.firstVisibleVersion(stored(record, h)?.lastVersion, record),
  minTime: record.maxAgeMillis === undefined ? Number.NEGATIVE_INFINITY : now - record.maxAgeMillis
})

export const make = (state: State, settings: Settings): MemoryContext => {
  const { streams } = state

  const recordFor = (name: string): StreamRecord => {
    let record = streams.get(name)
    if (record === undefined) {
      record = {
        name,
        events: [],
        deleted: false,
        tombstoned: false,
        truncateBefore: undefined,
        maxCount: undefined,
        maxAgeMillis: undefined
      }
      streams.set(name, record)
    }
    return record
  }

  const openStream = (stream: string) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const record = streams.get(stream)
      if (record?.tombstoned) return yield* new StreamDeleted({ stream, tombstoned: true })
      return record
    })

  return {
    maxEventBytes: settings.maxEventBytes,
    pageSize: settings.pageSize,
    state,
    transaction: unitOfWork(state),
    horizon: horizon(state),
    recordFor,
    openStream
  }
}
