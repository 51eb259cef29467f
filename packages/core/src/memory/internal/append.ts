// The append pipeline: every stream's part is checked (tombstone, replay or duplicate ids, then
// expected version) before anything is written, then all parts are written. Two paths commit it: the
// fast one checks, writes and commits in one synchronous step when nothing else must commit with it;
// otherwise it runs as a unit of work with an undo journal, where the after-write hook (inline
// projections) and a document write carried by `put` join it.
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as AppendPlan from "../../backend/AppendPlan.ts"
import * as Inputs from "../../backend/Inputs.ts"
import * as Replay from "../../backend/Replay.ts"
import type { RecordedEvent } from "../../Event.ts"
import type { AppendResult, EventStoreShape } from "../../EventStore.ts"
import * as ExpectedVersion from "../../ExpectedVersion.ts"
import type { ProjectionFailed, StoreUnavailable } from "../../StoreError.ts"
import { AppendConditionFailed, DuplicateEvent, StreamDeleted, type WrongExpectedVersion } from "../../StoreError.ts"
import type { MemoryContext } from "./context.ts"
import { type Journal, lastVersionOf } from "./state.ts"

/** Runs inside an append's unit of work, after its events are written (inline projections). */
export type AfterWrite = (
  events: ReadonlyArray<RecordedEvent>
) => Effect.Effect<void, ProjectionFailed | StoreUnavailable>

type Planned = AppendPlan.AppendPlan

// A binary event as the memory store keeps it: its bytes (already a private copy, from
// Event.prepare) behind a getter that hands every reader a fresh copy, so no caller can change what
// is stored, on any read path (reads, subscriptions, inline projections, the recorded events of a unit).
const binaryRecord = (event: RecordedEvent, bytes: Uint8Array, contentType: string): RecordedEvent => {
  const { data: _, ...rest } = event
  return Object.defineProperty({ ...rest, contentType }, "data", {
    get: () => bytes.slice(),
    enumerable: true
  }) as RecordedEvent
}

export const make = (ctx: MemoryContext, hooks: { afterWrite: AfterWrite | undefined }) => {
  const { maxEventBytes, recordFor, state, transaction } = ctx
  const { eventIds, log, signal, streams } = state

  // The first event of the log (up to `end`) that fails a DCB condition: one matching its query after
  // `after`. The append's own ids are skipped: a replayed part is not a conflict with itself.
  const conditionConflict = (
    plans: ReadonlyArray<Planned>,
    end: number
  ): AppendConditionFailed | undefined => {
    const conditions = AppendPlan.conditions(plans)
    if (conditions.length === 0) return undefined
    const own = new Set(plans.flatMap((plan) => plan.prepared.map((event) => event.id)))
    for (const { after, failIfEventsMatch } of conditions) {
      for (let at = after === undefined ? 0 : Math.max(0, Number(after)); at < end; at++) {
        const event = log[at]
        if (!own.has(event.id) && Inputs.matches(failIfEventsMatch, event)) {
          return new AppendConditionFailed({
            ...(after === undefined ? {} : { after }),
            position: event.position,
            stream: event.stream,
            type: event.type,
            tags: event.tags ?? []
          })
        }
      }
    }
    return undefined
  }

  // Decides every part of an append without writing: a replay result or "write" for each, or the
  // first conflict. The ids of every part are judged before any version check (core's Replay rule: a
  // stored id is a replay or a DuplicateEvent whatever `expected` says), as the SQL backends do when
  // they examine a failed append; DCB conditions are checked last, only when something is written.
  const checkAll = (
    plans: ReadonlyArray<Planned>
  ): Array<AppendResult | "write"> | WrongExpectedVersion | StreamDeleted | DuplicateEvent | AppendConditionFailed => {
    const outcomes: Array<AppendResult | "write"> = []
    for (const plan of plans) {
      const { request } = plan
      if (streams.get(request.stream)?.tombstoned) {
        return new StreamDeleted({ stream: request.stream, tombstoned: true })
      }
      const outcome = Replay.classifyPlan(plan, (id) => eventIds.get(id))
      if (outcome._tag === "Duplicate") return new DuplicateEvent({ stream: request.stream, eventId: outcome.eventId })
      outcomes.push(outcome._tag === "Replay" ? outcome.result : "write")
    }
    for (let i = 0; i < plans.length; i++) {
      if (outcomes[i] !== "write") continue
      const { request } = plans[i]
      const record = streams.get(request.stream)
      const conflict = ExpectedVersion.check(request.stream, request.expected, {
        lastVersion: lastVersionOf(record),
        deleted: record?.deleted ?? false
      })
      if (conflict !== undefined) return conflict
    }
    if (outcomes.includes("write")) {
      // The whole log: outside a unit everything is committed; inside one, the unit's own writes count.
      const failed = conditionConflict(plans, log.length)
      if (failed !== undefined) return failed
    }
    return outcomes
  }

  // Writes one stream's part; in a unit of work its journal gets the step that takes it back out.
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
        data: event.bytes === undefined ? JSON.parse(event.data) : undefined,
        metadata: JSON.parse(event.metadata),
        createdAt,
        ...(event.tags === undefined ? {} : { tags: event.tags })
      }
      if (event.bytes !== undefined) last = binaryRecord(last, event.bytes, event.contentType!)
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
      const outcomes = checkAll(plans)
      if (!Array.isArray(outcomes)) return yield* outcomes
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
    const outcomes = checkAll(plans)
    if (!Array.isArray(outcomes)) return Effect.fail(outcomes)
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

  // Picks the path: the fast one only outside any unit, while no unit holds the lock, and when
  // nothing must commit with the events.
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
      const plan = yield* AppendPlan.one(
        appendOptions?.condition === undefined
          ? { stream, events, expected: appendOptions?.expected }
          : { stream, events, expected: appendOptions.expected, condition: appendOptions.condition },
        maxEventBytes
      )
      const now = yield* Clock.currentTimeMillis
      const [result] = yield* commit([plan], now)
      return result
    })

  return { append, appendMany, commit }
}
