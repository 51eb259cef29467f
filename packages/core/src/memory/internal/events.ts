// The in-memory backend's EventStore over the shared state. Every write runs as one synchronous
// step (JavaScript runs one fiber at a time between suspensions), so checks and writes are atomic
// without locks.
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as AppendPlan from "../../backend/AppendPlan.ts"
import * as Inputs from "../../backend/Inputs.ts"
import * as Replay from "../../backend/Replay.ts"
import * as StreamView from "../../backend/StreamView.ts"
import * as Subscription from "../../backend/Subscription.ts"
import type { RecordedEvent } from "../../Event.ts"
import { type AppendResult, EventStore, type EventStoreShape } from "../../EventStore.ts"
import * as ExpectedVersion from "../../ExpectedVersion.ts"
import type { ProjectionFailed, StoreUnavailable } from "../../StoreError.ts"
import { DuplicateEvent, StreamDeleted, WrongExpectedVersion } from "../../StoreError.ts"
import * as StreamName from "../../StreamName.ts"
import {
  horizon as horizonOf,
  type Journal,
  lastVersionOf,
  type State,
  type StreamRecord,
  unitOfWork,
  visibleCount
} from "./state.ts"

/** Runs inside an append's unit of work, after its events are written (inline projections). */
export type AfterWrite = (
  events: ReadonlyArray<RecordedEvent>
) => Effect.Effect<void, ProjectionFailed | StoreUnavailable>

export const make = (
  state: State,
  options: { readonly maxEventBytes: number; readonly pageSize: number },
  hooks: { afterWrite: AfterWrite | undefined }
) => {
  const backend = "memory"
  const { maxEventBytes, pageSize } = options
  const { checkpoints, eventIds, log, signal, snapshots, streams } = state
  const transaction = unitOfWork(state)
  const horizon = horizonOf(state)

  // What a reader sees of a stream: its events up to the reader's horizon.
  const stored = (record: StreamRecord | undefined, h: number): StreamView.StoredStream | undefined => {
    if (record === undefined) return undefined
    const n = visibleCount(record, h)
    return { ...record, lastVersion: n === 0 ? undefined : BigInt(n - 1) }
  }

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

  type Planned = AppendPlan.AppendPlan

  // Decides one stream's part of an append without writing: a replay result, or a conflict, or "write".
  const check = (
    plan: Planned
  ): AppendResult | "write" | WrongExpectedVersion | StreamDeleted | DuplicateEvent => {
    const { request } = plan
    const record = streams.get(request.stream)
    if (record?.tombstoned) return new StreamDeleted({ stream: request.stream, tombstoned: true })
    const outcome = Replay.classifyPlan(plan, (id) => eventIds.get(id))
    if (outcome._tag === "Replay") return outcome.result
    if (outcome._tag === "Duplicate") return new DuplicateEvent({ stream: request.stream, eventId: outcome.eventId })
    const conflict = ExpectedVersion.check(request.stream, request.expected, {
      lastVersion: lastVersionOf(record),
      deleted: record?.deleted ?? false
    })
    if (conflict !== undefined) return conflict
    return "write"
  }

  const write = (plan: Planned, now: number, journal: Journal | undefined, written: Array<RecordedEvent>) => {
    const record = recordFor(plan.request.stream)
    const createdAt = new Date(now)
    const wasDeleted = record.deleted
    const count = plan.prepared.length
    journal?.push(() => {
      for (let i = 0; i < count; i++) eventIds.delete(log.pop()!.id)
      record.events.length -= count
      record.deleted = wasDeleted
    })
    let last: RecordedEvent | undefined
    for (const event of plan.prepared) {
      last = {
        id: event.id,
        stream: record.name,
        version: BigInt(record.events.length),
        position: BigInt(log.length + 1),
        type: event.type,
        data: JSON.parse(event.data),
        metadata: JSON.parse(event.metadata),
        createdAt
      }
      record.events.push(last)
      log.push(last)
      eventIds.set(last.id, last)
      written.push(last)
    }
    record.deleted = false
    return { stream: record.name, nextExpectedVersion: last!.version, position: last!.position }
  }

  // Checks every part first and writes only when all pass: all-or-nothing across streams. Runs as a
  // unit of work (its own, or the caller's), so inline projections and a document write carried by
  // `put` commit with the events, and subscribers see them only after the commit.
  const inUnit = <E = never>(
    plans: ReadonlyArray<Planned>,
    now: number,
    beforeWrite?: (journal: Journal | undefined) => Effect.Effect<void, E>
  ) =>
    transaction(Effect.gen(function*() {
      const outcomes: Array<AppendResult | "write"> = []
      for (const plan of plans) {
        const outcome = check(plan)
        if (typeof outcome === "object" && "_tag" in outcome) return yield* outcome
        outcomes.push(outcome)
      }
      const journal = yield* state.journal
      if (beforeWrite !== undefined) yield* beforeWrite(journal)
      const written: Array<RecordedEvent> = []
      const results = plans.map((plan, i) => {
        const outcome = outcomes[i]
        return outcome === "write" ? write(plan, now, journal, written) : outcome
      })
      if (written.length > 0 && hooks.afterWrite !== undefined) yield* hooks.afterWrite(written)
      return results
    }))

  // The same with nothing else to commit and no unit open: check and write in one synchronous step
  // (no suspension, so no other fiber can interleave) and commit at once, without the lock.
  const atOnce = (plans: ReadonlyArray<Planned>, now: number) => {
    const outcomes: Array<AppendResult | "write"> = []
    for (const plan of plans) {
      const outcome = check(plan)
      if (typeof outcome === "object" && "_tag" in outcome) return Effect.fail(outcome)
      outcomes.push(outcome)
    }
    const written: Array<RecordedEvent> = []
    const results = plans.map((plan, i) => {
      const outcome = outcomes[i]
      return outcome === "write" ? write(plan, now, undefined, written) : outcome
    })
    if (written.length > 0) {
      state.visible = log.length
      PubSub.publishUnsafe(signal, undefined)
    }
    return Effect.succeed(results)
  }

  const commit = <E = never>(
    plans: ReadonlyArray<Planned>,
    now: number,
    beforeWrite?: (journal: Journal | undefined) => Effect.Effect<void, E>
  ) =>
    Effect.flatMap(
      state.journal,
      (journal) =>
        journal === undefined && !state.busy && beforeWrite === undefined && hooks.afterWrite === undefined
          ? atOnce(plans, now)
          : inUnit(plans, now, beforeWrite)
    )

  const appendMany: EventStoreShape["appendMany"] = (requests) =>
    Effect.gen(function*() {
      const plans = yield* AppendPlan.many("appendMany", requests, maxEventBytes)
      const now = yield* Clock.currentTimeMillis
      return yield* commit(plans, now)
    })

  const append: EventStoreShape["append"] = (stream, events, appendOptions) =>
    Effect.gen(function*() {
      const plan = yield* AppendPlan.one({ stream, events, expected: appendOptions?.expected }, maxEventBytes)
      const now = yield* Clock.currentTimeMillis
      const [result] = yield* commit([plan], now)
      return result
    })

  const visibleFrom = (record: StreamRecord, now: number, h: number): { first: bigint; minTime: number } => ({
    first: Inputs.firstVisibleVersion(stored(record, h)?.lastVersion, record),
    minTime: record.maxAgeMillis === undefined ? Number.NEGATIVE_INFINITY : now - record.maxAgeMillis
  })

  const openStream = (stream: string) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const record = streams.get(stream)
      if (record?.tombstoned) return yield* new StreamDeleted({ stream, tombstoned: true })
      return record
    })

  const read: EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("read", readOptions)
      const record = yield* openStream(stream)
      if (record === undefined) return Stream.empty
      const forwards = direction === "forwards"
      const last = BigInt(visibleCount(record, yield* horizon) - 1)
      // Backwards from past the end starts at the last event (stepping down one by one would hang).
      const start = forwards ? from ?? 0n : from === undefined || from > last ? last : from
      return Subscription.paged({
        initial: start,
        pageSize,
        limit,
        readPage: (cursor: bigint, want: number) =>
          Effect.gen(function*() {
            // Retention is evaluated per page so a long read sees rules as they are now.
            const h = yield* horizon
            const { first, minTime } = visibleFrom(record, yield* Clock.currentTimeMillis, h)
            const page: Array<RecordedEvent> = []
            let at = forwards ? (cursor < first ? first : cursor) : cursor
            const end = BigInt(visibleCount(record, h))
            while (page.length < want && (forwards ? at < end : at >= first && at >= 0n)) {
              const event = record.events[Number(at)]
              if (event !== undefined && event.createdAt.getTime() >= minTime) page.push(event)
              at = forwards ? at + 1n : at - 1n
            }
            return [page, at] as const
          })
      })
    }))

  const readAll: EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("readAll", readOptions)
      const forwards = direction === "forwards"
      const filter = readOptions?.filter
      const start = yield* horizon
      return Subscription.paged({
        // Cursor: an index into the log.
        initial: forwards ? Number(from ?? 1n) - 1 : Math.min(Number(from ?? BigInt(start)), start) - 1,
        pageSize,
        limit,
        readPage: (index: number, want: number) =>
          Effect.map(horizon, (h) => {
            const page: Array<RecordedEvent> = []
            let at = Math.max(index, forwards ? 0 : -1)
            while (page.length < want && (forwards ? at < h : at >= 0)) {
              const event = log[at]
              if (Inputs.passes(filter, event.stream, event.type)) page.push(event)
              at += forwards ? 1 : -1
            }
            return [page, at] as const
          })
      })
    }))

  const wakeups = PubSub.subscribe(signal)
  // Appends in another store cannot happen in memory: the poll only guards against a bug, slowly.
  const pollInterval = Duration.seconds(5)

  const subscribe: EventStoreShape["subscribe"] = (stream, subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      yield* StreamName.make(stream)
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* Inputs.bigint("subscribe", "from.after", from.after, -1n)
      return Subscription.catchUpThenLive({
        readPage: (after, want) =>
          Effect.gen(function*() {
            const record = yield* openStream(stream)
            if (record === undefined) return { events: [] }
            const h = yield* horizon
            const { first, minTime } = visibleFrom(record, yield* Clock.currentTimeMillis, h)
            // Skip expired events instead of returning a short page: a short page means "at the head",
            // and a page of only expired events would never move the cursor past them.
            const page: Array<RecordedEvent> = []
            const end = visibleCount(record, h)
            for (let at = Number(after + 1n > first ? after + 1n : first); at < end && page.length < want; at++) {
              if (record.events[at].createdAt.getTime() >= minTime) page.push(record.events[at])
            }
            return { events: page }
          }),
        head: Effect.map(horizon, (h) => stored(streams.get(stream), h)?.lastVersion ?? -1n),
        cursorOf: (event) => event.version,
        wakeups,
        pollInterval,
        pageSize
      }, from)
    }))

  const subscribeAll: EventStoreShape["subscribeAll"] = (subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const from = subscribeOptions?.from ?? "start"
      if (typeof from === "object") yield* Inputs.bigint("subscribeAll", "from.after", from.after, 0n)
      yield* Inputs.filter("subscribeAll", subscribeOptions?.filter)
      const filter = subscribeOptions?.filter
      return Subscription.catchUpThenLive({
        readPage: (after, want) =>
          Effect.map(horizon, (h) => {
            const page: Array<RecordedEvent> = []
            for (let at = Math.max(0, Number(after)); at < h && page.length < want; at++) {
              const event = log[at]
              if (Inputs.passes(filter, event.stream, event.type)) page.push(event)
            }
            return { events: page }
          }),
        head: Effect.map(horizon, BigInt),
        cursorOf: (event) => event.position,
        wakeups,
        pollInterval,
        pageSize
      }, from)
    }))

  const streamInfo: EventStoreShape["streamInfo"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      return StreamView.info(stream, stored(streams.get(stream), yield* horizon))
    })

  // Check and change in one synchronous step, so no append can slip in between.
  const deleteWith = (
    stream: string,
    deleteOptions: { readonly expected?: ExpectedVersion.ExpectedVersion | undefined } | undefined,
    change: (record: StreamRecord) => void
  ) =>
    Effect.flatMap(
      StreamName.make(stream),
      (): Effect.Effect<void, StreamDeleted | WrongExpectedVersion> =>
        transaction(Effect.suspend((): Effect.Effect<void, StreamDeleted | WrongExpectedVersion> => {
          const record = streams.get(stream)
          if (record?.tombstoned) return Effect.fail(new StreamDeleted({ stream, tombstoned: true }))
          const conflict = ExpectedVersion.check(stream, deleteOptions?.expected, {
            lastVersion: lastVersionOf(record),
            deleted: record?.deleted ?? false
          })
          if (conflict !== undefined) return Effect.fail(conflict)
          const target = recordFor(stream)
          const before = { ...target }
          const snapshot = snapshots.get(stream)
          change(target)
          return Effect.map(state.journal, (journal) => {
            journal?.push(() => {
              Object.assign(target, {
                deleted: before.deleted,
                tombstoned: before.tombstoned,
                truncateBefore: before.truncateBefore
              })
              if (snapshot !== undefined) snapshots.set(stream, snapshot)
            })
          })
        }))
    )

  const deleteStream: EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith(stream, deleteOptions, (record) => {
      const last = lastVersionOf(record)
      if (last === undefined) return
      record.deleted = true
      record.truncateBefore = last + 1n
      // A snapshot folds the deleted events: a re-created stream must not start from it.
      snapshots.delete(stream)
    })

  const tombstoneStream: EventStoreShape["tombstoneStream"] = (stream, deleteOptions) =>
    deleteWith(stream, deleteOptions, (record) => {
      record.tombstoned = true
      snapshots.delete(stream)
    })

  const setRetention: EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      const rules = yield* Inputs.retention(patch)
      const record = recordFor((yield* openStream(stream))?.name ?? stream)
      if (rules.truncateBefore !== undefined) record.truncateBefore = rules.truncateBefore ?? undefined
      if (rules.maxCount !== undefined) record.maxCount = rules.maxCount ?? undefined
      if (rules.maxAgeMillis !== undefined) record.maxAgeMillis = rules.maxAgeMillis ?? undefined
      return StreamView.retention(stored(record, yield* horizon))
    })

  const saveSnapshot: EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* Inputs.bigint("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      const createdAt = new Date(yield* Clock.currentTimeMillis)
      snapshots.set(stream, { version, state, schemaVersion, createdAt })
    })

  const loadSnapshot: EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const snapshot = snapshots.get(stream)
      return snapshot === undefined ? Option.none() : Option.some({
        stream,
        version: snapshot.version,
        state: JSON.parse(snapshot.state),
        schemaVersion: snapshot.schemaVersion,
        createdAt: snapshot.createdAt
      })
    })

  const saveCheckpoint: EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const next = yield* Inputs.bigint("saveCheckpoint", "position", position)
      const previous = checkpoints.get(name)
      checkpoints.set(name, next)
      // Inside a unit of work (a consumer's batch), a rollback restores the previous checkpoint.
      const journal = yield* state.journal
      journal?.push(() => previous === undefined ? checkpoints.delete(name) : checkpoints.set(name, previous))
    })

  const loadCheckpoint: EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.map(Inputs.checkpointName("loadCheckpoint", name), (name) => Option.fromUndefinedOr(checkpoints.get(name)))

  const eventStore = EventStore.of({
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
  })

  return { eventStore, commit, transaction }
}
