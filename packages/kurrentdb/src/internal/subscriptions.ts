// Subscriptions to a stream and to `$all` on the core's shared reader (issue 23, many subscribers): each
// subscription catches up with its own reads (the stream, or `$all` after its position), then takes
// what the store's one `LiveFeed` hands it. The feed reads `$all` past the last position it published
// when woken: by ONE server subscription per store (from the end, user events only, its events used
// as signals and never delivered), by this store's own appends, or by the poll interval. So N
// subscriptions are N small records on one gRPC stream, not N gRPC streams.
//
// KurrentDB facts this relies on:
// - `$all` positions are `{ commit, prepare }` and not dense; Strata's cursor is the commit position.
//   The records of one write may share a commit position, so a page never ends inside a write (it is
//   read on to the write's end), and a read after a cursor skips every record at its commit position.
// - `readAll` from a position is inclusive: the record at the cursor comes back and is skipped.
// - A tombstone writes a `$streamDeleted` record to `$all`: the feed notes the stream and its members
//   read again (`gone`), where the stream read fails with `StreamDeleted`.
// - System records (`$` types, `$` streams) advance the feed's position but no member takes them.
import type { Filter, ResolvedEvent } from "@kurrent/kurrentdb-client"
import { BACKWARDS, END, EVENT_TYPE, FORWARDS, START } from "@kurrent/kurrentdb-client"
import { type Event, type EventStore, StoreError, StreamName } from "@strata/core"
import { Inputs, LiveFeed, Subscription } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import { ClientFailure, transientTypes } from "../KurrentClient.ts"
import * as Codec from "../KurrentCodec.ts"
import { failureOf, isClientFailure, isUserEvent, type KurrentContext, maxRevision } from "./context.ts"

/** Attempts of a read that fails transiently (a dropped connection) before it is `StoreUnavailable`. */
const maxAttempts = 20

/** What the shared server subscription and the feed's reads select: user events and tombstones. */
const feedFilter: Filter = { filterOn: EVENT_TYPE, regex: "^(?:[^$]|\\$streamDeleted$)", checkpointInterval: 1 }

/** Records the shared server subscription keeps for a reader that has not taken them. */
const pushedCapacity = 10_000

/** Tombstoned streams remembered for the feed's `gone` check; more than this drops the oldest. */
const goneCapacity = 10_000

interface At {
  readonly commit: bigint
  readonly prepare: bigint
}

const atOf = (resolved: ResolvedEvent): At => {
  const commit = resolved.event?.position?.commit ?? resolved.commitPosition ?? -1n
  return { commit, prepare: resolved.event?.position?.prepare ?? commit }
}

const isSubscribed = (event: Event.RecordedEvent) => isUserEvent(event)

export const make = (ctx: KurrentContext) => {
  const { kurrent, pageSize, pollInterval, resubscribeDelay, signal, unavailable } = ctx

  const backoff = (attempt: number) => Duration.min(Duration.times(resubscribeDelay, 2 ** attempt), Duration.seconds(5))

  /** Runs a read, again after a growing pause while it fails transiently (at most 20 times), as the server subscriptions were resumed. */
  const retrying = <A, E>(
    operation: string,
    read: Effect.Effect<A, E | ClientFailure>
  ): Effect.Effect<A, Exclude<E, ClientFailure> | StoreError.StoreUnavailable> => {
    const attempt = (n: number): Effect.Effect<A, Exclude<E, ClientFailure> | StoreError.StoreUnavailable> =>
      Effect.catch(read, (error: E | ClientFailure) => {
        if (!isClientFailure(error)) return Effect.fail(error as Exclude<E, ClientFailure>)
        if (!transientTypes.has(error.type) || n + 1 >= maxAttempts) return Effect.fail(unavailable(operation, error))
        return Effect.andThen(Effect.sleep(backoff(n)), attempt(n + 1))
      })
    return attempt(0)
  }

  /** One `readAll` call forwards from `from` (inclusive), collected. */
  const readAllCall = (from: At | undefined, count: number, filter: Filter | undefined) =>
    kurrent.call(async (client) => {
      const out: Array<ResolvedEvent> = []
      for await (
        const event of client.readAll({
          direction: FORWARDS,
          fromPosition: from ?? START,
          maxCount: count,
          ...(filter === undefined ? {} : { filter })
        } as never) as AsyncIterable<ResolvedEvent>
      ) out.push(event)
      return out
    })

  /**
   * The records of `$all` after commit position `after` that `filter` (on the server) and `keep` select:
   * at least `limit` of them and the rest of the last one's write, or fewer when the end was reached.
   * A short answer therefore means "caught up", never "filtered out".
   */
  const readAfter = (
    after: bigint,
    limit: number,
    filter: Filter | undefined,
    keep: (event: Event.RecordedEvent) => boolean
  ): Effect.Effect<Array<Event.RecordedEvent>, ClientFailure> =>
    Effect.suspend(() => {
      const out: Array<Event.RecordedEvent> = []
      // Records at or before (commit, prepare) were seen; with no prepare, every record at `commit`.
      let commit = after
      let prepare: bigint | undefined
      let lastKept: bigint | undefined
      const page = (): Effect.Effect<Array<Event.RecordedEvent>, ClientFailure> =>
        Effect.flatMap(
          readAllCall(commit < 0n ? undefined : { commit, prepare: prepare ?? commit }, pageSize + 1, filter),
          (raw) => {
            for (const record of raw) {
              const at = atOf(record)
              if (at.commit < commit || (at.commit === commit && (prepare === undefined || at.prepare <= prepare))) {
                continue
              }
              // Enough, and past the write of the last event kept: the page ends between two writes.
              if (out.length >= limit && at.commit !== lastKept) return Effect.succeed(out)
              commit = at.commit
              prepare = at.prepare
              const event = Codec.fromResolved(record)
              if (event !== undefined && keep(event)) {
                out.push(event)
                lastKept = at.commit
              }
            }
            return raw.length <= pageSize ? Effect.succeed(out) : page()
          }
        )
      return page()
    })

  /**
   * At least `limit` events of `stream` after revision `after`, or fewer when its end was reached (a
   * short answer means "caught up", even when `$` types were left out).
   */
  const readStreamAfter = (
    stream: string,
    after: bigint,
    limit: number
  ): Effect.Effect<Subscription.Page, StoreError.StreamDeleted | ClientFailure> =>
    Effect.suspend(() => {
      const events: Array<Event.RecordedEvent> = []
      let from = after + 1n
      const page = (): Effect.Effect<Subscription.Page, StoreError.StreamDeleted | ClientFailure> =>
        from > maxRevision ? Effect.succeed({ events }) : kurrent.call(async (client) => {
          let read = 0
          for await (
            const resolved of client.readStream(stream, { direction: FORWARDS, fromRevision: from, maxCount: limit })
          ) {
            read++
            from = resolved.event === undefined ? from : resolved.event.revision + 1n
            // A `$` type (another client's) is not handed over live either: never delivered.
            const event = Codec.fromResolved(resolved)
            if (isUserEvent(event)) events.push(event)
          }
          return read
        }).pipe(
          Effect.flatMap((read) => read < limit || events.length >= limit ? Effect.succeed({ events }) : page()),
          Effect.catch((failure): Effect.Effect<Subscription.Page, StoreError.StreamDeleted | ClientFailure> =>
            failure._tag !== "ClientFailure"
              ? Effect.fail(failure)
              : failure.type === "stream-not-found"
              ? Effect.succeed({ events })
              : failure.type === "stream-deleted"
              ? Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
              : Effect.fail(failure)
          )
        )
      return page()
    })

  /** The commit position of the last record in `$all`, or -1 when it is empty. */
  const headPosition = (operation: string) =>
    retrying(
      operation,
      kurrent.call(async (client) => {
        for await (
          const event of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }) as AsyncIterable<
            ResolvedEvent
          >
        ) return atOf(event).commit
        return -1n
      })
    )

  // The one server subscription of a running feed, from the end: each record it pushes (and its
  // confirmation, after a reopen) wakes the reader. When the connection drops it is reopened after a
  // growing pause (to 5 s), for as long as the feed runs; the reads (which fail the members after 20
  // attempts) decide whether the store is gone.
  //
  // What it pushes is kept too: a catch-up subscription is gap-free and in `$all` order, and its filter
  // is the reader's, so from its first record on it holds every record the reader would read. Once the
  // reader has read up to that first record, it takes its pages from here instead of reading `$all`
  // (a read through the client's Rust reader costs milliseconds; a pushed record is there already).
  // `alone`: its prepare position is its commit position, so no other record shares its commit
  // position (records of an explicit transaction do, and may arrive one by one).
  let pushed: Array<{ readonly event: Event.RecordedEvent; readonly alone: boolean }> = []
  // The commit position of the first record the current subscription pushed; undefined while there
  // is none, and from the moment it drops (what comes next is read, until a new one covers it).
  let coveredFrom: bigint | undefined
  let generation = 0
  const uncover = () => {
    generation++
    pushed = []
    coveredFrom = undefined
  }
  const serverWakeups: Effect.Effect<never> = Effect.suspend(() => {
    let attempts = 0
    const once = Effect.callback<never, ClientFailure>((resume) => {
      uncover()
      const gen = generation
      let subscription: ReturnType<typeof kurrent.client.subscribeToAll>
      try {
        subscription = kurrent.client.subscribeToAll({ fromPosition: END, filter: feedFilter })
      } catch (error) {
        resume(Effect.fail(failureOf(error)))
        return
      }
      const failed = (failure: ClientFailure) => {
        if (gen === generation) uncover()
        resume(Effect.fail(failure))
      }
      subscription.on("confirmation", () => {
        attempts = 0
        PubSub.publishUnsafe(signal, undefined)
      })
      subscription.on("data", (resolved: ResolvedEvent) => {
        // A subscription replaced meanwhile (a reader restarted as another dropped) only wakes.
        if (gen !== generation) return PubSub.publishUnsafe(signal, undefined)
        attempts = 0
        const event = Codec.fromResolved(resolved)
        if (event !== undefined) {
          // A reader far behind: let go of what was kept; coverage starts again at this record.
          if (pushed.length >= pushedCapacity) {
            pushed = []
            coveredFrom = undefined
          }
          coveredFrom ??= event.position
          pushed.push({ event, alone: atOf(resolved).prepare === event.position })
        }
        // Kept first: the woken reader may run at once, inside this call.
        PubSub.publishUnsafe(signal, undefined)
      })
      subscription.on("error", (error) => failed(failureOf(error)))
      subscription.on("end", () => failed(new ClientFailure({ type: "unavailable", error: "ended" })))
      return Effect.suspend(() => {
        if (gen === generation) uncover()
        return Effect.promise(() => subscription.unsubscribe().catch(() => undefined))
      })
    })
    const loop: Effect.Effect<never> = Effect.catch(
      once,
      () => Effect.andThen(Effect.sleep(backoff(attempts++)), loop)
    )
    return loop
  })

  // Streams seen tombstoned by the feed's reads, until a `gone` check finds a member of theirs.
  const tombstoned = new Set<string>()
  const noteTombstones = (event: Event.RecordedEvent) => {
    if (event.type === "$streamDeleted") {
      if (tombstoned.size >= goneCapacity) tombstoned.delete(tombstoned.values().next().value!)
      tombstoned.add(event.stream)
    }
    return true
  }

  // A page of what the server subscription pushed, when it holds every record after `after`; else
  // undefined (the reader reads `$all`). Records that share a commit position are read, not taken.
  const fromPushed = (after: bigint, want: number): Effect.Effect<Subscription.Page> | undefined => {
    if (coveredFrom === undefined || after < coveredFrom) return undefined
    let start = 0
    while (start < pushed.length && pushed[start].event.position <= after) start++
    if (start > 0) pushed = pushed.slice(start)
    const events: Array<Event.RecordedEvent> = []
    for (const { alone, event } of pushed) {
      if (events.length >= want) break
      if (!alone) return undefined
      noteTombstones(event)
      events.push(event)
    }
    return Effect.succeed({ events })
  }

  const feed = LiveFeed.make<StoreError.StoreUnavailable>({
    // Every record the filter passes, system ones included, so the position moves past them.
    readPage: (after, want) =>
      Effect.suspend(() =>
        fromPushed(after, want) ??
          retrying(
            "subscribe",
            Effect.map(readAfter(after, want, feedFilter, noteTombstones), (events) => ({ events }))
          )
      ),
    head: headPosition("subscribe"),
    wakeups: Effect.flatMap(
      PubSub.subscribe(signal),
      (wakeups) => Effect.as(Effect.forkScoped(serverWakeups), wakeups)
    ),
    pollInterval,
    pageSize,
    gone: (streams) =>
      Effect.sync(() => {
        if (tombstoned.size === 0) return []
        const found = streams.filter((stream) => tombstoned.has(stream))
        for (const stream of found) tombstoned.delete(stream)
        return found
      })
  })

  // The subscriptions' own `wakeups` (unused on the fed path, which waits on the feed alone).
  const wakeups = PubSub.subscribe(signal)
  const byVersion = (event: Event.RecordedEvent) => event.version
  const byPosition = (event: Event.RecordedEvent) => event.position

  // No Stream.unwrap around a subscription: its arguments are checked when it starts (`check`), so
  // an idle subscription holds nothing of the setup, and `subscribeWith` recognises the stream.
  const subscribe: EventStore.EventStoreShape["subscribe"] = (stream, subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    return Subscription.catchUpThenLive<EventStore.ReadError>({
      check: typeof from === "object"
        ? Effect.andThen(StreamName.make(stream), Inputs.bigint("subscribe", "from.after", from.after, -1n))
        : StreamName.make(stream),
      // The server applies retention and soft deletes to stream reads; a tombstone fails them.
      readPage: (after, want) => retrying("subscribe", readStreamAfter(stream, after, want)),
      // "end" is pinned to the stream's last revision when the subscription starts; a tombstoned
      // stream fails here at once.
      head: Effect.map(
        ctx.lastEvent("subscribe", stream),
        (last) => last._tag === "Some" ? last.value.event?.revision ?? -1n : -1n
      ),
      cursorOf: byVersion,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, stream, matches: isSubscribed }
    }, from)
  }

  const subscribeAll: EventStore.EventStoreShape["subscribeAll"] = (subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    const filter = subscribeOptions?.filter
    const matches = (event: Event.RecordedEvent) =>
      isUserEvent(event) && Inputs.passes(filter, event.stream, event.type)
    return Subscription.catchUpThenLive<StoreError.InvalidArgument | StoreError.StoreUnavailable>({
      check: Inputs.subscribeAllOptions("subscribeAll", subscribeOptions),
      // Filtered on the server where it can (see Codec.serverFilter), the rest in process.
      readPage: (after, want) =>
        retrying(
          "subscribeAll",
          Effect.map(readAfter(after, want, Codec.serverFilter(filter), matches), (events) => ({ events }))
        ),
      head: headPosition("subscribeAll"),
      cursorOf: byPosition,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, types: filter?.types, matches }
    }, from)
  }

  return { subscribe, subscribeAll }
}
