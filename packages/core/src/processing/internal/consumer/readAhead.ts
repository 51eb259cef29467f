// The consume loop's read-ahead: the subscription is pulled by a fiber of its own into a plain
// array of at most `capacity` events (it waits while the array is full), and each pull of the
// result takes everything read so far, waiting only while nothing is.
//
// Not `Stream.buffer`: the queue under it links its buckets, and a bucket that outlives a
// scavenge keeps every page queued after it reachable through the following one. On SQLite's
// consumer bench every decoded event then survived its first scavenge (16-17 MB promoted per 40 MB
// allocated, the old generation growing by that until a full collection, scavenges of 50-150 ms);
// here the taken events are let go of by `length = 0` on one array and ~nothing is promoted.
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"

/** `events`, read ahead of its consumer by up to `capacity` events (at least one page). */
export const readAhead = <A, E, R>(events: Stream.Stream<A, E, R>, capacity: number): Stream.Stream<A, E, R> =>
  Stream.transformPull(
    events,
    (upstream: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, void>, scope) =>
      Effect.suspend(() => {
        const pending: Array<A> = []
        // How the upstream ended (its failure, or `Done` at its end), once it has.
        let ended: Cause.Cause<E | Cause.Done<void>> | undefined
        // The resume of a take waiting for events, and of the reader waiting for room.
        let taker: (() => void) | undefined
        let reader: (() => void) | undefined
        const wakeTaker = () => {
          const resume = taker
          taker = undefined
          if (resume !== undefined) resume()
        }
        const room = Effect.callback<void>((resume) => {
          reader = () => resume(Effect.void)
          return Effect.sync(() => {
            reader = undefined
          })
        })
        const fill: Effect.Effect<void, E | Cause.Done<void>> = Effect.flatMap(upstream, (page) => {
          for (let i = 0; i < page.length; i++) pending.push(page[i])
          wakeTaker()
          return pending.length >= capacity ? Effect.andThen(room, fill) : fill
        })
        const take: Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E | Cause.Done<void>> = Effect.suspend(() => {
          if (pending.length > 0) {
            const taken = pending.slice() as unknown as Arr.NonEmptyReadonlyArray<A>
            pending.length = 0
            const resume = reader
            reader = undefined
            if (resume !== undefined) resume()
            return Effect.succeed(taken)
          }
          if (ended !== undefined) return Effect.failCause(ended)
          return Effect.callback<Arr.NonEmptyReadonlyArray<A>, E | Cause.Done<void>>((resume) => {
            taker = () => resume(take)
            return Effect.sync(() => {
              taker = undefined
            })
          })
        })
        return Effect.as(
          Effect.forkIn(
            Effect.onExit(fill, (exit) =>
              Effect.sync(() => {
                ended = exit._tag === "Failure" ? exit.cause : Cause.fail(Cause.Done() as Cause.Done<void>)
                wakeTaker()
              })),
            scope
          ),
          take
        )
      })
  )
