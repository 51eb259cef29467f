// Subscriptions to a stream and to `$all`, on the server's catch-up subscriptions, resumed after the
// last delivered event when the connection drops. "end" is pinned when the subscription starts, so a
// resume cannot skip what came meanwhile. The pin is a read through the client's Rust reader (ms), so
// appends made just after forking the stream may land before it and not be delivered: the README
// shows the `EventStore.establish` form, which pins the end before it returns.
import type { ResolvedEvent } from "@kurrent/kurrentdb-client"
import { BACKWARDS, END, START } from "@kurrent/kurrentdb-client"
import { type Event, type EventStore, StoreError, StreamName } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { type ClientFailure, transientTypes } from "../KurrentClient.ts"
import * as Codec from "../KurrentCodec.ts"
import { failureOf, isClientFailure, isUserEvent, type KurrentContext, maxRevision } from "./context.ts"

export const make = (ctx: KurrentContext) => {
  const { kurrent, lastEvent, unavailable } = ctx

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
      return resilient(ctx, open, (event) => event.version, first, "subscribe")
    }))

  const subscribeAll: EventStore.EventStoreShape["subscribeAll"] = (subscribeOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const from = subscribeOptions?.from ?? "start"
      yield* Inputs.subscribeAllOptions("subscribeAll", subscribeOptions)
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
      return resilient(ctx, open, (event) => event.position, first, "subscribeAll")
    }))

  return { subscribe, subscribeAll }
}

/**
 * Runs a server subscription, resuming after the last delivered cursor when the connection drops.
 * The server's catch-up subscription is catch-up-then-live already (no seam), so Strata's polling
 * loop (`Subscription.catchUpThenLive`) is not used: it would read what the server pushes.
 */
const resilient = <E>(
  ctx: KurrentContext,
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
            if (!transientTypes.has(error.type) || attempts >= 20) {
              return Stream.fail(ctx.unavailable(operation, error))
            }
            const delay = Duration.min(Duration.times(ctx.resubscribeDelay, 2 ** attempts), Duration.seconds(5))
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
