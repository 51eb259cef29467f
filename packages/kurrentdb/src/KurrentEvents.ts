/**
 * The EventStore on KurrentDB: streams are KurrentDB streams, versions their revisions, positions the
 * commit positions of `$all`.
 *
 * What KurrentDB does itself: expected revisions, idempotent re-appends (its own rule: the ids at the
 * expected position, or anywhere in the stream for `any`), soft delete (`$tb` in `$$stream`), tombstones,
 * retention (`$tb` / `$maxCount` / `$maxAge` on stream reads, not on `$all`), filtered reads and
 * catch-up subscriptions. What Strata adds on top, on the failure path only:
 * - a conflicting append is judged with Strata's replay rule (`Replay.classify`) against the stream's
 *   events, so a retry with a different expected version still returns the original result;
 * - a conflict on a soft-deleted stream reports no version, as the contract says;
 * - `streamInfo` reads the metastream and the stream's last event; for a soft-deleted stream (whose
 *   events no read returns) it learns the last revision from a write the server refuses, and for a
 *   tombstoned one from `$all`.
 *
 * Snapshots and checkpoints live in Strata-owned system streams (`$strata-snapshot-<stream>`,
 * `$strata-checkpoint-<name>`) with `$maxCount: 1`.
 *
 * @since 0.1.0
 */
import type { AppendResult as ClientAppendResult, Filter, ResolvedEvent } from "@kurrent/kurrentdb-client"
import { BACKWARDS, END, FORWARDS, START, STREAM_NAME } from "@kurrent/kurrentdb-client"
import { Event, type EventStore, ExpectedVersion, StoreError, StreamName } from "@strata/core"
import { AppendPlan, Inputs, Replay, StreamView } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { ClientFailure, type KurrentClient, transientTypes } from "./KurrentClient.ts"
import * as Codec from "./KurrentCodec.ts"

/**
 * Tuning of the EventStore on KurrentDB; every field has a default.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEventsOptions {
  readonly maxEventBytes?: number | undefined
  /** Most events a conflicting append looks back through to recognise a replay. Default 10,000. */
  readonly replayWindow?: number | undefined
  /** How long a dropped subscription waits before it resumes. Default 100 ms, doubling to 5 s. */
  readonly resubscribeDelay?: Duration.Input | undefined
  /** Events per read call. Default 1,000 (each call through the client's Rust reader has a fixed cost). */
  readonly pageSize?: number | undefined
}

const snapshotStream = (stream: string) => `$strata-snapshot-${stream}`
const checkpointStream = (name: string) => `$strata-checkpoint-${name}`
const snapshotType = "$strata.snapshot"
const snapshotDroppedType = "$strata.snapshot-dropped"
const checkpointType = "$strata.checkpoint"

/** The largest revision a stream can have (`long.MaxValue - 1`); the client refuses larger `fromRevision`s. */
const maxRevision = 9_223_372_036_854_775_806n

/** A revision no stream reaches: an append expecting it is refused, and the refusal names the current one. */
const probeRevision = 9_223_372_036_854_775_806n

/**
 * The internals a DocumentStore on the same client reuses.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEvents {
  readonly eventStore: EventStore.EventStoreShape
  /** Appends one planned part (no name check: Strata-owned `$` streams go through here too). */
  readonly appendPlan: (plan: AppendPlan.AppendPlan) => Effect.Effect<EventStore.AppendResult, EventStore.AppendError>
  /** Appends planned parts atomically (the v2 multi-stream append), with Strata's error mapping. */
  readonly appendPlans: (
    operation: string,
    plans: ReadonlyArray<AppendPlan.AppendPlan>
  ) => Effect.Effect<
    ReadonlyArray<EventStore.AppendResult>,
    EventStore.AppendError | StoreError.Unsupported
  >
  /** Reads a stream as client events, forwards or backwards, from a revision. */
  /** Reads `$all` forwards with a server-side filter, as client events (system streams included). */
  readonly scanAll: (operation: string, filter: Filter) => Stream.Stream<ResolvedEvent, StoreError.StoreUnavailable>
  readonly readRaw: (
    operation: string,
    stream: string,
    options: { readonly from?: bigint | undefined; readonly backwards?: boolean; readonly limit?: number | undefined }
  ) => Stream.Stream<ResolvedEvent, StoreError.StreamDeleted | StoreError.StoreUnavailable>
  /** Writes the one event of a Strata-owned `$strata-...` stream (capped at one event). */
  readonly writeOwned: (
    operation: string,
    target: string,
    type: string,
    data: unknown
  ) => Effect.Effect<void, StoreError.StoreUnavailable>
  /** Reads the one event of a Strata-owned stream, if any. */
  readonly readOwned: (
    operation: string,
    target: string
  ) => Effect.Effect<{ readonly type: string; readonly data: unknown } | undefined, StoreError.StoreUnavailable>
}

/**
 * Builds the EventStore over a connected client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (kurrent: KurrentClient, options: KurrentEventsOptions = {}): KurrentEvents => {
  const backend = "kurrentdb"
  const maxEventBytes = options.maxEventBytes ?? 1024 * 1024
  const replayWindow = options.replayWindow ?? 10_000
  const pageSize = options.pageSize ?? 1_000
  const { call } = kurrent
  const unavailable = kurrent.unavailable

  // ---- reading ----

  /** One read call of at most `count` events, collected (a page). */
  const readStreamPage = (
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
        return Effect.fail(unavailable(operation, failureOf(error)))
      })
    )

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
        return Effect.map(readStreamPage(operation, stream, from, backwards, want), (page) => {
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
  const readAllRaw = (
    operation: string,
    options: {
      readonly backwards: boolean
      readonly from: { readonly commit: bigint; readonly prepare: bigint } | undefined
      readonly filter: Filter | undefined
    }
  ): Stream.Stream<ResolvedEvent, StoreError.StoreUnavailable> =>
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

  const lastEvent = (operation: string, stream: string) =>
    Stream.runHead(readRaw(operation, stream, { backwards: true, limit: 1 }))

  const metadataOf = (operation: string, stream: string) =>
    Effect.map(lastEvent(operation, `$$${stream}`), (event) => {
      const data = Option.getOrUndefined(event)?.event?.data
      return {
        raw: typeof data === "object" && data !== null && !Array.isArray(data)
          ? data as Record<string, unknown>
          : undefined,
        revision: Option.getOrUndefined(event)?.event?.revision
      }
    })

  /** The last revision of a stream whatever hides its events: from the refusal of an impossible append. */
  const probe = (stream: string) =>
    call((client) =>
      client.appendToStream(stream, [
        { id: Event.makeEventId(), contentType: "application/json", type: "$strata.probe", data: {} } as never
      ], {
        streamState: probeRevision
      })
    ).pipe(
      Effect.flatMap(() =>
        Effect.fail(
          new StoreError.StoreUnavailable({ operation: "streamInfo", reason: "the server accepted a probe write" })
        )
      ),
      Effect.catchTag(
        "ClientFailure",
        (failure): Effect.Effect<bigint | undefined | "tombstoned", StoreError.StoreUnavailable> => {
          if (failure.type === "wrong-expected-version") {
            const actual = (failure.error as { actualState?: unknown }).actualState
            return Effect.succeed(typeof actual === "bigint" ? actual : undefined)
          }
          if (failure.type === "stream-deleted") return Effect.succeed("tombstoned" as const)
          return Effect.fail(unavailable("streamInfo", failure))
        }
      )
    )

  /** The last revision of a tombstoned stream, from `$all` (the stream itself can no longer be read). */
  const lastInAll = (stream: string) =>
    Stream.fromAsyncIterable(
      kurrent.client.readAll({
        direction: BACKWARDS,
        fromPosition: END,
        maxCount: 2,
        filter: { filterOn: STREAM_NAME, regex: `^${escapeRegex(stream)}$`, checkpointInterval: 1 }
      } as never) as AsyncIterable<ResolvedEvent>,
      (error) => unavailable("streamInfo", failureOf(error))
    ).pipe(
      Stream.filter((resolved) => resolved.event !== undefined && resolved.event.type !== "$streamDeleted"),
      Stream.runHead,
      Effect.map((event) => Option.getOrUndefined(event)?.event?.revision)
    )

  const toRecorded = (stream: Stream.Stream<ResolvedEvent, StoreError.StreamDeleted | StoreError.StoreUnavailable>) =>
    stream.pipe(
      Stream.map(Codec.fromResolved),
      Stream.filter((event): event is Event.RecordedEvent => event !== undefined)
    )

  // ---- appending ----

  /** Where the ids of a planned part are stored in its stream (the last `replayWindow` events). */
  const replayOf = (plan: AppendPlan.AppendPlan) =>
    Effect.gen(function*() {
      const { stream } = plan.request
      const stored = new Map<string, Replay.StoredId>()
      yield* readRaw("append", stream, { backwards: true, limit: replayWindow }).pipe(
        Stream.runForEach((resolved) =>
          Effect.sync(() => {
            const event = resolved.event
            if (event !== undefined) {
              stored.set(event.id.toLowerCase(), {
                stream,
                version: event.revision,
                position: event.position?.commit ?? -1n
              })
            }
          })
        )
      )
      return Replay.classifyPlan(plan, (id) => stored.get(id))
    })

  /** Strata's judgement of a conflict: a replay, a duplicate, or a real conflict. */
  const judgeConflict = (
    plan: AppendPlan.AppendPlan,
    actual: bigint | undefined
  ): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> =>
    Effect.gen(function*() {
      const { stream } = plan.request
      // Ids Strata generated for this call cannot be stored yet: only caller-supplied ids can replay.
      const supplied = plan.request.events.some((event) => event?.id !== undefined)
      const outcome = actual === undefined || !supplied ? { _tag: "New" as const } : yield* replayOf(plan)
      if (outcome._tag === "Replay") return outcome.result
      if (outcome._tag === "Duplicate") {
        return yield* new StoreError.DuplicateEvent({ stream, eventId: outcome.eventId })
      }
      const softDeleted = actual !== undefined && (yield* metadataOf("append", stream).pipe(
        Effect.map(({ raw }) => Codec.retentionOf(raw).softDeleted)
      ))
      return yield* conflict(stream, plan.request.expected, softDeleted ? undefined : actual)
    })

  const conflict = (
    stream: string,
    expected: ExpectedVersion.ExpectedVersion | undefined,
    actual: bigint | undefined
  ): Effect.Effect<never, StoreError.WrongExpectedVersion> =>
    Effect.fail(
      actual === undefined
        ? new StoreError.WrongExpectedVersion({
          stream,
          expected: ExpectedVersion.format(expected ?? ExpectedVersion.any)
        })
        : new StoreError.WrongExpectedVersion({
          stream,
          expected: ExpectedVersion.format(expected ?? ExpectedVersion.any),
          actual
        })
    )

  const isTombstoned = (operation: string, stream: string) =>
    lastEvent(operation, stream).pipe(
      Effect.as(false),
      Effect.catchTag("StreamDeleted", () => Effect.succeed(true))
    )

  /**
   * A "stream deleted" answer: a tombstone, or (for `streamExists`) a soft-deleted stream, which the
   * contract reports as a conflict with no version.
   */
  const deletedAnswer = (
    operation: string,
    stream: string,
    expected: ExpectedVersion.ExpectedVersion | undefined
  ): Effect.Effect<never, StoreError.WrongExpectedVersion | StoreError.StreamDeleted | StoreError.StoreUnavailable> =>
    Effect.flatMap(
      isTombstoned(operation, stream),
      (tombstoned): Effect.Effect<never, StoreError.WrongExpectedVersion | StoreError.StreamDeleted> =>
        tombstoned
          ? Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
          : conflict(stream, expected, undefined)
    )

  const appendPlan = (plan: AppendPlan.AppendPlan): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> => {
    const { stream } = plan.request
    return call((client) =>
      client.appendToStream(
        stream,
        plan.prepared.map((event, i) => Codec.toEventData(event, plan.request.events[i])),
        { streamState: Codec.streamState(plan.request.expected) }
      )
    ).pipe(
      Effect.map((result: ClientAppendResult) => ({
        stream,
        nextExpectedVersion: result.nextExpectedRevision,
        position: result.position?.commit ?? -1n
      })),
      Effect.catchTag("ClientFailure", (failure): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> => {
        if (failure.type === "wrong-expected-version") {
          const actual = (failure.error as { actualState?: unknown }).actualState
          return judgeConflict(plan, typeof actual === "bigint" ? actual : undefined)
        }
        if (failure.type === "stream-deleted") return deletedAnswer("append", stream, plan.request.expected)
        return Effect.fail(unavailable("append", failure))
      })
    )
  }

  const append: EventStore.EventStoreShape["append"] = (stream, events, appendOptions) =>
    Effect.flatMap(
      AppendPlan.one({ stream, events, expected: appendOptions?.expected }, maxEventBytes),
      appendPlan
    )

  const appendPlans: KurrentEvents["appendPlans"] = (operation, plans) =>
    call((client) =>
      client.multiStreamAppend(plans.map((plan) => ({
        streamName: plan.request.stream,
        expectedState: Codec.streamState(plan.request.expected),
        events: plan.prepared.map((event, i) => Codec.toRecordData(event, plan.request.events[i]))
      })) as never)
    ).pipe(
      // The session answers one position for the whole transaction: each part's own last position is
      // read back (one read per part), as the contract reports the position of each part's last event.
      Effect.flatMap((result) =>
        Effect.forEach(plans, (plan, i) => {
          const revision = result.responses[i]?.revision ?? -1n
          return Stream.runHead(readRaw(operation, plan.request.stream, { from: revision, limit: 1 })).pipe(
            Effect.map((head): EventStore.AppendResult => ({
              stream: plan.request.stream,
              nextExpectedVersion: revision,
              position: Option.getOrUndefined(head)?.event?.position?.commit ?? result.position
            })),
            Effect.catchTag("StreamDeleted", () =>
              Effect.succeed({ stream: plan.request.stream, nextExpectedVersion: revision, position: result.position }))
          )
        }, { concurrency: "unbounded" }).pipe(Effect.mapError((error) =>
          new ClientFailure({ type: "unavailable", error })
        ))
      ),
      Effect.catchTag("ClientFailure", (failure): Effect.Effect<
        ReadonlyArray<EventStore.AppendResult>,
        EventStore.AppendError | StoreError.Unsupported
      > => {
        const error = failure.error as { streamName?: string; stream?: string; actualState?: unknown }
        if (failure.type === "unsupported") {
          return Effect.fail(
            new StoreError.Unsupported({
              operation,
              backend,
              detail: "atomic multi-stream appends need KurrentDB 25.1 or later (the v2 append session)"
            })
          )
        }
        const named = plans.find((plan) => plan.request.stream === (error.streamName ?? error.stream))
        if (failure.type === "wrong-expected-version" && named !== undefined) {
          const actual = typeof error.actualState === "bigint" ? error.actualState : undefined
          // A replayed multi-stream append has every part stored already, in place.
          return Effect.flatMap(Effect.forEach(plans, replayOf), (outcomes) => {
            const results = outcomes.flatMap((outcome) => outcome._tag === "Replay" ? [outcome.result] : [])
            if (results.length === plans.length) return Effect.succeed(results)
            const duplicate = outcomes.findIndex((outcome) => outcome._tag === "Duplicate")
            const outcome = outcomes[duplicate]
            if (outcome?._tag === "Duplicate") {
              return Effect.fail(
                new StoreError.DuplicateEvent({ stream: plans[duplicate].request.stream, eventId: outcome.eventId })
              )
            }
            return Effect.map(judgeConflict(named, actual), (result) => [result])
          })
        }
        if (failure.type === "stream-tombstoned" && named !== undefined) {
          return deletedAnswer(operation, named.request.stream, named.request.expected)
        }
        return Effect.fail(unavailable(operation, failure))
      })
    )

  const appendMany: EventStore.EventStoreShape["appendMany"] = (requests) =>
    Effect.flatMap(AppendPlan.many("appendMany", requests, maxEventBytes), (plans) => appendPlans("appendMany", plans))

  // ---- reads ----

  const read: EventStore.EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("read", readOptions)
      yield* StreamName.make(stream)
      if (limit === 0) {
        // Still refuse a tombstoned stream, as every backend does.
        yield* lastEvent("read", stream)
        return Stream.empty
      }
      return toRecorded(readRaw("read", stream, { from, backwards: direction === "backwards", limit }))
    }))

  const readAll: EventStore.EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("readAll", readOptions)
      const filter = readOptions?.filter
      const backwards = direction === "backwards"
      // Backwards from a position returns what lies before it: start one past it to include it.
      if (from !== undefined && from > maxRevision && !backwards) return Stream.empty
      const fromPosition = from === undefined || from > maxRevision
        ? (backwards ? END : START)
        : { commit: backwards ? from + 1n : from, prepare: backwards ? from + 1n : from }
      const events = readAllRaw("readAll", {
        backwards,
        from: typeof fromPosition === "object" ? fromPosition : undefined,
        filter: Codec.serverFilter(filter)
      }).pipe(
        Stream.map(Codec.fromResolved),
        Stream.filter((event): event is Event.RecordedEvent =>
          isUserEvent(event) && Inputs.passes(filter, event.stream, event.type)
        )
      )
      return limit === undefined ? events : Stream.take(events, limit)
    }))

  // ---- subscriptions ----

  /** The position of the last record in `$all`, or -1 when it is empty. */
  const headPosition = Stream.suspend(() =>
    Stream.fromAsyncIterable(
      kurrent.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }) as AsyncIterable<ResolvedEvent>,
      (error) => unavailable("subscribeAll", failureOf(error))
    )
  ).pipe(
    Stream.runHead,
    Effect.map((head) => {
      const resolved = Option.getOrUndefined(head)
      return resolved?.event?.position?.commit ?? resolved?.commitPosition ?? -1n
    })
  )

  const resubscribeDelay = Duration.fromInputUnsafe(options.resubscribeDelay ?? "100 millis")

  /**
   * Runs a server subscription, resuming after the last delivered cursor when the connection drops.
   * The server's catch-up subscription is catch-up-then-live already (no seam), so Strata's polling
   * loop (`Subscription.catchUpThenLive`) is not used: it would read what the server pushes.
   */
  const resilient = <E>(
    open: (after: bigint | undefined) => Stream.Stream<Event.RecordedEvent, E>,
    cursorOf: (event: Event.RecordedEvent) => bigint,
    first: bigint | undefined,
    operation: string
  ): Stream.Stream<Event.RecordedEvent, Exclude<E, ClientFailure> | StoreError.StoreUnavailable> =>
    Stream.suspend(() => {
      let cursor = first
      let attempts = 0
      const attempt = (): Stream.Stream<Event.RecordedEvent, Exclude<E, ClientFailure> | StoreError.StoreUnavailable> =>
        open(cursor).pipe(
          Stream.tap((event) =>
            Effect.sync(() => {
              cursor = cursorOf(event)
              attempts = 0
            })
          ),
          Stream.catch(
            (error: E): Stream.Stream<Event.RecordedEvent, Exclude<E, ClientFailure> | StoreError.StoreUnavailable> => {
              if (!isClientFailure(error)) return Stream.fail(error as Exclude<E, ClientFailure>)
              if (!transientTypes.has(error.type) || attempts >= 20) return Stream.fail(unavailable(operation, error))
              const delay = Duration.min(Duration.times(resubscribeDelay, 2 ** attempts), Duration.seconds(5))
              attempts++
              return Stream.unwrap(Effect.as(Effect.sleep(delay), attempt()))
            }
          )
        )
      return attempt()
    })

  const subscription = (
    open: () => AsyncIterable<ResolvedEvent> & { unsubscribe(): Promise<void> }
  ): Stream.Stream<ResolvedEvent, ClientFailure> =>
    Stream.unwrap(
      Effect.acquireRelease(
        Effect.try({ try: open, catch: failureOf }),
        (sub) => Effect.promise(() => sub.unsubscribe().catch(() => undefined))
      ).pipe(Effect.map((sub) => Stream.fromAsyncIterable(sub, failureOf)))
    )

  const subscribe: EventStore.EventStoreShape["subscribe"] = (stream, subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      yield* StreamName.make(stream)
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* Inputs.bigint("subscribe", "from.after", from.after, -1n)
      // A tombstoned stream fails at once (the server would say so too, but only after the confirmation).
      const last = yield* lastEvent("subscribe", stream)
      // "end" is pinned to the revision now, so a resume after a drop cannot skip what came meanwhile.
      const first = from === "start"
        ? -1n
        : from === "end"
        ? Option.getOrUndefined(last)?.event?.revision ?? -1n
        : from.after
      const open = (after: bigint | undefined) =>
        subscription(() =>
          kurrent.client.subscribeToStream(stream, {
            fromRevision: after === undefined || after > maxRevision ? END : after < 0n ? START : after
          }) as never
        ).pipe(
          Stream.map(Codec.fromResolved),
          Stream.filter((event): event is Event.RecordedEvent => event !== undefined),
          Stream.catch((failure): Stream.Stream<Event.RecordedEvent, StoreError.StreamDeleted | ClientFailure> =>
            failure.type === "stream-deleted"
              ? Stream.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
              : Stream.fail(failure)
          )
        )
      return resilient(open, (event) => event.version, first, "subscribe")
    }))

  const subscribeAll: EventStore.EventStoreShape["subscribeAll"] = (subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* Inputs.bigint("subscribeAll", "from.after", from.after, 0n)
      yield* Inputs.filter("subscribeAll", subscribeOptions?.filter)
      const filter = subscribeOptions?.filter
      // "end" is pinned to the last position now (see subscribe).
      const first = from === "start" ? -1n : from === "end" ? yield* headPosition : from.after
      const open = (after: bigint | undefined) =>
        subscription(() =>
          kurrent.client.subscribeToAll({
            fromPosition: after === undefined || after > maxRevision
              ? END
              : after < 0n
              ? START
              : { commit: after, prepare: after },
            filter: Codec.serverFilter(filter)
          } as never) as never
        ).pipe(
          Stream.map(Codec.fromResolved),
          Stream.filter((event): event is Event.RecordedEvent =>
            isUserEvent(event) && Inputs.passes(filter, event.stream, event.type)
          )
        )
      return resilient(open, (event) => event.position, first, "subscribeAll")
    }))

  // ---- lifecycle ----

  const streamInfo: EventStore.EventStoreShape["streamInfo"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      // The last event and the metadata, read together; a tombstone fails the first (and the metastream).
      const head = lastEvent("streamInfo", stream).pipe(
        Effect.map((last) => ({ tombstoned: false, last })),
        Effect.catchTag("StreamDeleted", () => Effect.succeed({ tombstoned: true, last: Option.none<ResolvedEvent>() }))
      )
      const metadata = metadataOf("streamInfo", stream).pipe(
        Effect.catchTag("StreamDeleted", () => Effect.succeed({ raw: undefined, revision: undefined }))
      )
      const [{ raw }, { last, tombstoned }] = yield* Effect.all([metadata, head], { concurrency: 2 })
      if (tombstoned) {
        const lastVersion = yield* lastInAll(stream)
        return { stream, status: "tombstoned" as const, lastVersion, retention: {} }
      }
      const rules = Codec.retentionOf(raw)
      let lastVersion = Option.getOrUndefined(last)?.event?.revision
      if (raw !== undefined && (rules.softDeleted || lastVersion === undefined)) {
        // Retention or a soft delete hides the last event: ask the server for the current revision.
        const probed = yield* probe(stream)
        lastVersion = probed === "tombstoned" ? lastVersion : probed
      }
      const status = StreamView.status({ tombstoned: false, deleted: rules.softDeleted, lastVersion })
      return { stream, status, lastVersion, retention: Codec.toStreamRetention(rules, lastVersion) }
    })

  const deleteWith = (
    kind: "delete" | "tombstone",
    stream: string,
    deleteOptions: EventStore.AppendOptions | undefined
  ) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const expected = deleteOptions?.expected
      // Delete and Tombstone take no "stream exists" state: pin the current revision instead.
      let expectedRevision: bigint | "any" | "no_stream"
      if (expected?._tag === "StreamExists") {
        const last = Option.getOrUndefined(yield* lastEvent(kind, stream))?.event?.revision
        if (last === undefined) return yield* conflict(stream, expected, undefined)
        expectedRevision = last
      } else {
        expectedRevision = Codec.streamState(expected) as bigint | "any" | "no_stream"
      }
      yield* call((client) =>
        kind === "delete"
          ? client.deleteStream(stream, { expectedRevision })
          : client.tombstoneStream(stream, { expectedRevision })
      ).pipe(
        Effect.catchTag(
          "ClientFailure",
          (
            failure
          ): Effect.Effect<
            unknown,
            StoreError.WrongExpectedVersion | StoreError.StreamDeleted | StoreError.StoreUnavailable
          > => {
            if (failure.type === "stream-deleted") {
              return Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
            }
            if (failure.type === "wrong-expected-version") {
              const actual = (failure.error as { actualState?: unknown }).actualState
              const current = typeof actual === "bigint" ? actual : undefined
              // KurrentDB refuses to soft-delete a stream that never existed, whatever was expected;
              // the contract makes that a no-op when the expectation allows a missing stream.
              if (
                current === undefined &&
                (expected === undefined || expected._tag === "Any" || expected._tag === "NoStream")
              ) {
                return Effect.void
              }
              return conflict(stream, expected, current)
            }
            return Effect.fail(unavailable(kind === "delete" ? "deleteStream" : "tombstoneStream", failure))
          }
        )
      )
      yield* dropSnapshot(stream)
    })

  const deleteStream: EventStore.EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith("delete", stream, deleteOptions)

  const tombstoneStream: EventStore.EventStoreShape["tombstoneStream"] = (stream, deleteOptions) =>
    deleteWith("tombstone", stream, deleteOptions)

  /** Writes stream metadata, compare-and-set on the metastream's revision, retried on a race. */
  const updateMetadata = (
    operation: string,
    stream: string,
    change: (current: Record<string, unknown>) => Record<string, unknown>
  ) =>
    Effect.gen(function*() {
      const { raw, revision } = yield* metadataOf(operation, stream)
      const next = change({ ...raw })
      yield* call((client) =>
        client.appendToStream(`$$${stream}`, [{
          id: Event.makeEventId(),
          contentType: "application/json",
          type: "$metadata",
          data: next
        } as never], { streamState: revision ?? "no_stream" })
      )
      return next
    }).pipe(
      Effect.retry({
        while: (error) => isClientFailure(error) && error.type === "wrong-expected-version",
        schedule: Schedule.recurs(20)
      }),
      Effect.catchTag(
        "ClientFailure",
        (failure): Effect.Effect<never, StoreError.StreamDeleted | StoreError.StoreUnavailable> =>
          failure.type === "stream-deleted"
            ? Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
            : Effect.fail(unavailable(operation, failure))
      )
    )

  const setRetention: EventStore.EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      const rules = yield* Inputs.retention(patch)
      yield* StreamName.make(stream)
      if (yield* isTombstoned("setRetention", stream)) {
        return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      }
      const apply = (key: string, value: number | bigint | null | undefined, current: Record<string, unknown>) => {
        if (value === undefined) return
        if (value === null) delete current[key]
        else current[key] = typeof value === "bigint" ? Number(value) : value
      }
      const changed = Object.values(rules).some((value) => value !== undefined)
      if (changed) {
        yield* updateMetadata("setRetention", stream, (current) => {
          apply("$tb", rules.truncateBefore, current)
          apply("$maxCount", rules.maxCount, current)
          // KurrentDB keeps $maxAge in whole seconds: round up, so nothing younger than asked is hidden.
          apply(
            "$maxAge",
            rules.maxAgeMillis === undefined || rules.maxAgeMillis === null
              ? rules.maxAgeMillis
              : Math.ceil(rules.maxAgeMillis / 1000),
            current
          )
          return current
        })
      }
      const info = yield* streamInfo(stream)
      return info.retention
    })

  // ---- snapshots and checkpoints ----

  const writeOwned = (operation: string, target: string, type: string, data: unknown) =>
    call((client) =>
      client.appendToStream(target, [{ id: Event.makeEventId(), contentType: "application/json", type, data } as never])
    ).pipe(
      Effect.flatMap((result): Effect.Effect<void, ClientFailure> =>
        // The first write of an owned stream caps it at one event.
        result.nextExpectedRevision === 0n
          ? Effect.asVoid(call((client) => client.setStreamMetadata(target, { maxCount: 1 })))
          : Effect.void
      ),
      Effect.asVoid,
      Effect.catchTag("ClientFailure", (failure) => Effect.fail(unavailable(operation, failure)))
    )

  const readOwned = (operation: string, target: string) =>
    Effect.map(lastEvent(operation, target), (event) => Option.getOrUndefined(event)?.event).pipe(
      Effect.catchTag("StreamDeleted", (error) => Effect.fail(unavailable(operation, failureOf(error))))
    )

  const dropSnapshot = (stream: string) =>
    call((client) =>
      client.appendToStream(snapshotStream(stream), [{
        id: Event.makeEventId(),
        contentType: "application/json",
        type: snapshotDroppedType,
        data: {}
      } as never], { streamState: "stream_exists" })
    ).pipe(
      Effect.asVoid,
      Effect.catchTag("ClientFailure", (failure) =>
        failure.type === "wrong-expected-version" ? Effect.void : Effect.fail(unavailable("deleteStream", failure)))
    )

  const saveSnapshot: EventStore.EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* Inputs.bigint("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      yield* writeOwned("saveSnapshot", snapshotStream(stream), snapshotType, {
        version: version.toString(),
        state,
        schemaVersion,
        createdAt: new Date().toISOString()
      })
    })

  const loadSnapshot: EventStore.EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const event = yield* readOwned("loadSnapshot", snapshotStream(stream))
      if (event === undefined || event.type !== snapshotType) return Option.none()
      const data = event.data as { version: string; state: string; schemaVersion: number; createdAt: string }
      return Option.some({
        stream,
        version: BigInt(data.version),
        state: JSON.parse(data.state),
        schemaVersion: data.schemaVersion,
        createdAt: new Date(data.createdAt)
      })
    })

  const saveCheckpoint: EventStore.EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const at = yield* Inputs.bigint("saveCheckpoint", "position", position)
      yield* writeOwned("saveCheckpoint", checkpointStream(name), checkpointType, { position: at.toString() })
    })

  const loadCheckpoint: EventStore.EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("loadCheckpoint", name)
      const event = yield* readOwned("loadCheckpoint", checkpointStream(name))
      return event === undefined ? Option.none() : Option.some(BigInt((event.data as { position: string }).position))
    })

  const eventStore: EventStore.EventStoreShape = {
    backend,
    append,
    appendMany,
    read,
    readAll,
    subscribe,
    subscribeAll,
    streamInfo,
    deleteStream,
    tombstoneStream,
    setRetention,
    saveSnapshot,
    loadSnapshot,
    saveCheckpoint,
    loadCheckpoint
  }
  const scanAll: KurrentEvents["scanAll"] = (operation, filter) =>
    readAllRaw(operation, { backwards: false, from: undefined, filter })

  return { eventStore, appendPlan, appendPlans, readRaw, scanAll, writeOwned, readOwned }
}

/** Strata never writes `$` streams or `$` types to user streams: those are KurrentDB's (`$metadata`, `$streamDeleted`) or Strata's own. */
const isUserEvent = (event: Event.RecordedEvent | undefined): event is Event.RecordedEvent =>
  event !== undefined && !event.stream.startsWith("$") && !event.type.startsWith("$")

const positionOf = (event: ResolvedEvent): bigint => event.event?.position?.commit ?? event.commitPosition ?? -1n

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const typeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "type" in error && typeof error.type === "string"
    ? error.type
    : "unknown"

const isClientFailure = (error: unknown): error is ClientFailure =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "ClientFailure"

const failureOf = (error: unknown): ClientFailure =>
  isClientFailure(error) ? error : new ClientFailure({ type: typeOf(error), error })
