// The one small context every concept module of the EventStore on KurrentDB is built over: the
// client, the settings, the mapping of client failures to StoreUnavailable, and the paged reads of a
// stream and of `$all` that appends, reads, the lifecycle and the owned streams all go through.
import type { Filter, ResolvedEvent } from "@kurrent/kurrentdb-client"
import { BACKWARDS, END, FORWARDS, START } from "@kurrent/kurrentdb-client"
import { type Event, StoreError } from "@strata/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { ClientFailure, type KurrentClient } from "../KurrentClient.ts"
import type { KurrentEvents } from "./shape.ts"

export interface Settings {
  readonly backend: string
  readonly maxEventBytes: number
  /** Most events a conflicting append looks back through to recognise a replay. */
  readonly replayWindow: number
  /** Events per read call. */
  readonly pageSize: number
  /** The first wait of a dropped subscription before it resumes (doubling to 5 s). */
  readonly resubscribeDelay: Duration.Duration
  /** How long the shared live reader waits for a wake-up before reading `$all` anyway. */
  readonly pollInterval: Duration.Duration
}

/** Where a page of `$all` starts. */
export interface AllPosition {
  readonly commit: bigint
  readonly prepare: bigint
}

export interface KurrentContext extends Settings {
  readonly kurrent: KurrentClient
  /** Wakes the shared live reader: published after each append of this store (and by the server's pushes). */
  readonly signal: PubSub.PubSub<void>
  readonly call: KurrentClient["call"]
  readonly unavailable: KurrentClient["unavailable"]
  readonly readRaw: KurrentEvents["readRaw"]
  readonly readAllRaw: (
    operation: string,
    options: {
      readonly backwards: boolean
      readonly from: AllPosition | undefined
      readonly filter: Filter | undefined
    }
  ) => Stream.Stream<ResolvedEvent, StoreError.StoreUnavailable>
  /** The last event of a stream, if any (a tombstone fails with StreamDeleted). */
  readonly lastEvent: (
    operation: string,
    stream: string
  ) => Effect.Effect<Option.Option<ResolvedEvent>, StoreError.StreamDeleted | StoreError.StoreUnavailable>
  /** A stream's metadata (the last `$metadata` event of its metastream) and the metastream's revision. */
  readonly metadataOf: (operation: string, stream: string) => Effect.Effect<
    { readonly raw: Record<string, unknown> | undefined; readonly revision: bigint | undefined },
    StoreError.StreamDeleted | StoreError.StoreUnavailable
  >
  readonly isTombstoned: (operation: string, stream: string) => Effect.Effect<boolean, StoreError.StoreUnavailable>
}

/** The largest revision a stream can have (`long.MaxValue - 1`); the client refuses larger `fromRevision`s. */
export const maxRevision = 9_223_372_036_854_775_806n

export const make = (kurrent: KurrentClient, settings: Settings): KurrentContext => {
  const { pageSize } = settings
  const unavailable = kurrent.unavailable

  // Reads are paged: one call per page of `pageSize` events, so memory stays flat and no single call
  // runs into the client's deadline on a long stream.
  const readRaw: KurrentEvents["readRaw"] = (operation, stream, readOptions) => {
    const backwards = readOptions.backwards === true
    const limit = readOptions.limit ?? Number.POSITIVE_INFINITY
    // Past the largest revision there is nothing forwards, and backwards means "from the end".
    if (readOptions.from !== undefined && readOptions.from > maxRevision && !backwards) return Stream.empty
    const first = readOptions.from === undefined || readOptions.from > maxRevision ? undefined : readOptions.from
    return Stream.paginate(
      { from: first, remaining: limit },
      ({ from, remaining }) => {
        const want = Math.min(pageSize, remaining)
        return Effect.map(readStreamPage(kurrent, operation, stream, from, backwards, want), (page) => {
          const last = page[page.length - 1]?.event?.revision
          const next = last === undefined ? undefined : backwards ? last - 1n : last + 1n
          const done = page.length < want || next === undefined || next < 0n || remaining - page.length <= 0
          return [page, done ? Option.none() : Option.some({ from: next, remaining: remaining - page.length })] as const
        })
      }
    )
  }

  /**
   * `$all` in pages. Forwards, a page starts at the last position read (inclusive on the server), so that
   * record is dropped; backwards, the server starts before the given position.
   */
  const readAllRaw: KurrentContext["readAllRaw"] = (operation, options) =>
    Stream.paginate(
      { from: options.from, skip: undefined as bigint | undefined },
      ({ from, skip }) =>
        Effect.tryPromise({
          try: async () => {
            const out: Array<ResolvedEvent> = []
            for await (
              const event of kurrent.client.readAll({
                direction: options.backwards ? BACKWARDS : FORWARDS,
                fromPosition: from ?? (options.backwards ? END : START),
                maxCount: pageSize + (skip === undefined ? 0 : 1),
                ...(options.filter === undefined ? {} : { filter: options.filter })
              } as never) as AsyncIterable<ResolvedEvent>
            ) out.push(event)
            return out
          },
          catch: (error) => unavailable(operation, failureOf(error))
        }).pipe(Effect.map((raw) => {
          const page = skip === undefined ? raw : raw.filter((event) => positionOf(event) !== skip)
          const last = raw[raw.length - 1]
          const full = raw.length >= pageSize + (skip === undefined ? 0 : 1)
          if (!full || last === undefined) return [page, Option.none()] as const
          const position = positionOf(last)
          const next = { commit: position, prepare: last.event?.position?.prepare ?? position }
          return [page, Option.some({ from: next, skip: options.backwards ? undefined : position })] as const
        }))
    )

  const lastEvent: KurrentContext["lastEvent"] = (operation, stream) =>
    Stream.runHead(readRaw(operation, stream, { backwards: true, limit: 1 }))

  const metadataOf: KurrentContext["metadataOf"] = (operation, stream) =>
    Effect.map(lastEvent(operation, `$$${stream}`), (event) => {
      const data = Option.getOrUndefined(event)?.event?.data
      return {
        raw: typeof data === "object" && data !== null && !Array.isArray(data)
          ? data as Record<string, unknown>
          : undefined,
        revision: Option.getOrUndefined(event)?.event?.revision
      }
    })

  const isTombstoned: KurrentContext["isTombstoned"] = (operation, stream) =>
    lastEvent(operation, stream).pipe(
      Effect.as(false),
      Effect.catchTag("StreamDeleted", () => Effect.succeed(true))
    )

  return {
    ...settings,
    kurrent,
    signal: Effect.runSync(PubSub.sliding<void>(1)),
    call: kurrent.call,
    unavailable,
    readRaw,
    readAllRaw,
    lastEvent,
    metadataOf,
    isTombstoned
  }
}

/** One read call of at most `count` events, collected (a page). */
const readStreamPage = (
  kurrent: KurrentClient,
  operation: string,
  stream: string,
  from: bigint | undefined,
  backwards: boolean,
  count: number
): Effect.Effect<ReadonlyArray<ResolvedEvent>, StoreError.StreamDeleted | StoreError.StoreUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      const out: Array<ResolvedEvent> = []
      for await (
        const event of kurrent.client.readStream(stream, {
          direction: backwards ? BACKWARDS : FORWARDS,
          fromRevision: from ?? (backwards ? END : START),
          maxCount: count
        })
      ) out.push(event)
      return out
    },
    catch: (error) => error
  }).pipe(
    Effect.catch((error): Effect.Effect<
      ReadonlyArray<ResolvedEvent>,
      StoreError.StreamDeleted | StoreError.StoreUnavailable
    > => {
      const type = typeOf(error)
      if (type === "stream-not-found") return Effect.succeed([])
      if (type === "stream-deleted") return Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
      return Effect.fail(kurrent.unavailable(operation, failureOf(error)))
    })
  )

/** Strata never writes `$` streams or `$` types to user streams: those are KurrentDB's (`$metadata`, `$streamDeleted`) or Strata's own. */
export const isUserEvent = (event: Event.RecordedEvent | undefined): event is Event.RecordedEvent =>
  event !== undefined && !event.stream.startsWith("$") && !event.type.startsWith("$")

const positionOf = (event: ResolvedEvent): bigint => event.event?.position?.commit ?? event.commitPosition ?? -1n

const typeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "type" in error && typeof error.type === "string"
    ? error.type
    : "unknown"

export const isClientFailure = (error: unknown): error is ClientFailure =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "ClientFailure"

export const failureOf = (error: unknown): ClientFailure =>
  isClientFailure(error) ? error : new ClientFailure({ type: typeOf(error), error })
