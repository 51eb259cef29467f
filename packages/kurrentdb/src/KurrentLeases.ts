/**
 * Leases on KurrentDB: one Strata-owned stream per lease (`$strata-lease-<name>`) whose last event is
 * the lease (holder, fencing token, expiry), every change written with the expected revision of the
 * state it was decided on, so two processes racing for a lease cannot both win: the second append
 * fails with a wrong expected revision, and the loser reads again and decides again. A
 * `$strata-leases` index stream names the leases, for `list` and `prune`.
 *
 * The checkpoint of a fenced consumer is saved with {@link saveCheckpoint}: one atomic write that
 * holds only while the lease stream is at the revision the lease was checked at (KurrentDB 26.1: an
 * AppendRecords of the checkpoint with a consistency check on the lease stream; 25.x: a multi-stream
 * append restating the lease at that revision), so a holder that stalled past its lease cannot commit
 * after a takeover: the takeover moved the lease stream, and the write fails (`LeaseLost`). The handler's own writes happen
 * before that append and cannot join it: delivery is at least once (see the package README for the
 * idempotent-handler pattern).
 *
 * @since 0.1.0
 */
import { Event, StoreError } from "@strata/core"
import { Inputs, LeaseStore } from "@strata/core/backend"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ClientFailure, KurrentClient } from "./KurrentClient.ts"
import type { KurrentEvents } from "./KurrentEvents.ts"

const leaseStream = (name: string) => `$strata-lease-${name}`
const indexStream = "$strata-leases"
const leaseType = "$strata.lease"
const checkpointType = "$strata.checkpoint"
/** A lease stream keeps its last few states (the last is the lease). */
const leaseMaxCount = 16
/** Attempts of one decision against concurrent writers before giving up as unavailable. */
const maxAttempts = 20

/** One read-decide-write step: decided, or raced by another writer (read again). */
type Step<A> = { readonly done: A } | "raced"

/** How a lease-checked checkpoint write ended. */
type Saved = "lost" | "first" | "saved" | "unsupported"

interface StoredLease {
  readonly holder: string
  readonly token: string
  /** Epoch milliseconds; 0 once released. */
  readonly expiresAt: number
}

interface Current {
  readonly lease: StoredLease
  readonly revision: bigint
}

const event = (type: string, data: unknown) => ({
  id: Event.makeEventId(),
  contentType: "application/json" as const,
  type,
  data
})

/**
 * The lease store and the lease-checked checkpoint write over one connected client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (kurrent: KurrentClient, events: KurrentEvents) => {
  const { call } = kurrent
  const unavailable = (operation: string) => (failure: ClientFailure) => kurrent.unavailable(operation, failure)

  const read = (operation: string, name: string): Effect.Effect<Option.Option<Current>, StoreError.StoreUnavailable> =>
    Stream.runHead(events.readRaw(operation, leaseStream(name), { backwards: true, limit: 1 })).pipe(
      Effect.map(Option.flatMap((resolved) => {
        const recorded = resolved.event
        if (recorded === undefined || recorded.type !== leaseType) return Option.none()
        return Option.some({ lease: recorded.data as unknown as StoredLease, revision: recorded.revision })
      })),
      // A tombstoned lease stream is never written by Strata; treat it as no lease.
      Effect.catchTag("StreamDeleted", () => Effect.succeed(Option.none()))
    )

  /**
   * Writes `lease` as the new state, expecting `at` (none: the stream must not exist). `false` when
   * another writer got there first.
   */
  const write = (operation: string, name: string, lease: StoredLease, at: Option.Option<Current>) =>
    call((client) =>
      client.appendToStream(leaseStream(name), [event(leaseType, lease) as never], {
        streamState: Option.isSome(at) ? at.value.revision : "no_stream"
      })
    ).pipe(
      Effect.flatMap((result) =>
        // The first state of a lease stream caps it; a soft-deleted (pruned) one resumes numbering.
        Option.isNone(at)
          ? Effect.as(call((client) => client.setStreamMetadata(leaseStream(name), { maxCount: leaseMaxCount })), true)
          : Effect.succeed(result.success)
      ),
      Effect.catchTag("ClientFailure", (failure) =>
        failure.type === "wrong-expected-version"
          ? Effect.succeed(false)
          : Effect.fail(unavailable(operation)(failure)))
    )

  const index = (operation: string, entry: { readonly name?: string; readonly pruned?: string }) =>
    call((client) => client.appendToStream(indexStream, [event("$strata.lease-index", entry) as never])).pipe(
      Effect.asVoid,
      Effect.catchTag("ClientFailure", (failure) => Effect.fail(unavailable(operation)(failure)))
    )

  /** Runs one read-decide-write step until it is not raced (or decides without writing). */
  const decide = <A>(
    operation: string,
    step: Effect.Effect<Step<A>, StoreError.StoreUnavailable>
  ): Effect.Effect<A, StoreError.StoreUnavailable> =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const outcome = yield* step
        if (outcome !== "raced") return outcome.done
      }
      return yield* new StoreError.StoreUnavailable({
        operation,
        reason: `KurrentDB at ${kurrent.endpoint}: lease stream raced ${maxAttempts} times in a row`
      })
    })

  const toLease = (name: string, stored: StoredLease): LeaseStore.Lease => ({
    name,
    holder: stored.holder,
    token: BigInt(stored.token),
    expiresAt: stored.expiresAt
  })

  const isCurrent = (current: Option.Option<Current>, lease: LeaseStore.Lease) =>
    Option.isSome(current) && current.value.lease.holder === lease.holder &&
    BigInt(current.value.lease.token) === lease.token && current.value.lease.expiresAt !== 0

  const store: LeaseStore.LeaseStoreShape = {
    acquire: Effect.fn("Lease.acquire")(function*(name, holder, ttl) {
      yield* LeaseStore.validate("Lease.acquire", name, ttl)
      return yield* decide(
        "Lease.acquire",
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const current = yield* read("Lease.acquire", name)
          const expiresAt = now + Duration.toMillis(ttl)
          if (Option.isNone(current)) {
            yield* index("Lease.acquire", { name })
            const next = { holder, token: "1", expiresAt }
            return (yield* write("Lease.acquire", name, next, current))
              ? { done: Option.some(toLease(name, next)) }
              : "raced"
          }
          const { lease } = current.value
          const live = lease.expiresAt > now
          if (live && lease.holder !== holder) return { done: Option.none<LeaseStore.Lease>() }
          const next = { holder, token: live ? lease.token : (BigInt(lease.token) + 1n).toString(), expiresAt }
          return (yield* write("Lease.acquire", name, next, current))
            ? { done: Option.some(toLease(name, next)) }
            : "raced"
        })
      )
    }),
    renew: Effect.fn("Lease.renew")(function*(lease, ttl) {
      yield* LeaseStore.validate("Lease.renew", lease.name, ttl)
      return yield* decide(
        "Lease.renew",
        Effect.gen(function*() {
          const current = yield* read("Lease.renew", lease.name)
          if (!isCurrent(current, lease)) return { done: Option.none<LeaseStore.Lease>() }
          const next = {
            holder: lease.holder,
            token: lease.token.toString(),
            expiresAt: (yield* Clock.currentTimeMillis) + Duration.toMillis(ttl)
          }
          return (yield* write("Lease.renew", lease.name, next, current))
            ? { done: Option.some(toLease(lease.name, next)) }
            : "raced"
        })
      )
    }),
    release: Effect.fn("Lease.release")(function*(lease) {
      yield* LeaseStore.validate("Lease.release", lease.name)
      return yield* decide(
        "Lease.release",
        Effect.gen(function*() {
          const current = yield* read("Lease.release", lease.name)
          if (!isCurrent(current, lease)) return { done: undefined }
          const next = { holder: lease.holder, token: lease.token.toString(), expiresAt: 0 }
          return (yield* write("Lease.release", lease.name, next, current)) ? { done: undefined } : "raced"
        })
      )
    }),
    fence: Effect.fn("Lease.fence")(function*(lease) {
      yield* LeaseStore.validate("Lease.fence", lease.name)
      const current = yield* read("Lease.fence", lease.name)
      if (!isCurrent(current, lease)) {
        return yield* new StoreError.LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
      }
    }),
    list: Effect.fn("Lease.list")(function*(prefix) {
      const now = yield* Clock.currentTimeMillis
      const names = yield* indexed("Lease.list", prefix)
      const leases = yield* Effect.forEach(
        names,
        (name) => Effect.map(read("Lease.list", name), Option.map((current) => toLease(name, current.lease))),
        { concurrency: 8 }
      )
      return leases.flatMap((lease) => Option.isSome(lease) && lease.value.expiresAt > now ? [lease.value] : [])
    }),
    prune: Effect.fn("Lease.prune")(function*(prefix, olderThan) {
      const before = (yield* Clock.currentTimeMillis) - Duration.toMillis(olderThan)
      const names = yield* indexed("Lease.prune", prefix)
      let pruned = 0
      for (const name of names) {
        const current = yield* read("Lease.prune", name)
        if (Option.isNone(current) || current.value.lease.expiresAt >= before) continue
        // The index first, then the stream: a name taken again after this starts at token 1.
        yield* index("Lease.prune", { pruned: name })
        yield* call((client) =>
          client.deleteStream(leaseStream(name), { expectedRevision: current.value.revision } as never)
        ).pipe(
          Effect.catchTag(
            "ClientFailure",
            (failure) =>
              failure.type === "wrong-expected-version" ? Effect.void : Effect.fail(unavailable("Lease.prune")(failure))
          )
        )
        pruned++
      }
      return pruned
    })
  }

  /** The names in the index under `prefix`, without the pruned ones (in index order). */
  const indexed = (operation: string, prefix: string) =>
    events.readRaw(operation, indexStream, {}).pipe(
      Stream.runFold(() => new Set<string>(), (names, resolved) => {
        const entry = resolved.event?.data as { name?: string; pruned?: string } | undefined
        if (entry?.name !== undefined) names.add(entry.name)
        if (entry?.pruned !== undefined) names.delete(entry.pruned)
        return names
      }),
      Effect.map((names) => [...names].filter((name) => name.startsWith(prefix))),
      Effect.catchTag("StreamDeleted", () => Effect.succeed([]))
    )

  /**
   * Saves a consumer checkpoint; with a lease, in one atomic write that holds only while the lease
   * stream is at the revision it was found current at, so it fails with `LeaseLost` after any takeover:
   * on 26.1 an AppendRecords of the checkpoint with a consistency check on the lease stream; on 25.x a
   * multi-stream append with the lease restated at that revision. On a server without multi-stream
   * appends (before 25.1) the lease is checked first and the checkpoint written after, as two writes.
   */
  const saveCheckpoint = (
    name: string,
    position: bigint,
    lease: LeaseStore.Lease | undefined
  ): Effect.Effect<void, StoreError.InvalidArgument | StoreError.StoreUnavailable | StoreError.LeaseLost> => {
    if (lease === undefined) return events.eventStore.saveCheckpoint(name, position)
    const lost = new StoreError.LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
    return Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const at = yield* Inputs.bigint("saveCheckpoint", "position", position)
      const written = yield* decide<Saved>(
        "saveCheckpoint",
        Effect.gen(function*() {
          const current = yield* read("saveCheckpoint", lease.name)
          if (!isCurrent(current, lease) || Option.isNone(current)) return { done: "lost" as const }
          const checkpoint = event(checkpointType, { position: at.toString() })
          const answered = (
            failure: ClientFailure
          ): Effect.Effect<Step<Saved>, StoreError.StoreUnavailable> =>
            failure.type === "wrong-expected-version" || failure.type === "append-consistency-violation"
              ? Effect.succeed("raced" as const)
              : failure.type === "unsupported"
              ? Effect.succeed({ done: "unsupported" as const })
              : Effect.fail(unavailable("saveCheckpoint")(failure))
          // 26.1: the lease stream is a consistency check only (AppendRecords checks streams it does not
          // write), so a checkpoint writes one record and leaves the lease stream as it is.
          return yield* call((client) =>
            client.appendRecords(
              [{ streamName: `$strata-checkpoint-${name}`, record: checkpoint as never }],
              [{ type: "stream_state", streamName: leaseStream(lease.name), expectedState: current.value.revision }]
            )
          ).pipe(
            Effect.map((result): Step<Saved> => ({ done: result.responses[0]?.revision === 0n ? "first" : "saved" })),
            Effect.catchIf((failure) => failure.type === "unsupported", () =>
              // 25.x: the lease restated at its checked revision, in one multi-stream append with the checkpoint.
              call((client) =>
                client.multiStreamAppend([
                  { streamName: `$strata-checkpoint-${name}`, expectedState: "any", events: [checkpoint as never] },
                  {
                    streamName: leaseStream(lease.name),
                    expectedState: current.value.revision,
                    events: [event(leaseType, current.value.lease) as never]
                  }
                ])
              ).pipe(Effect.map((result): Step<Saved> => ({
                done: result.responses[0]?.revision === 0n ? "first" : "saved"
              })))),
            Effect.catchTag("ClientFailure", answered)
          )
        })
      )
      if (written === "lost") return yield* lost
      if (written === "first") {
        // The checkpoint stream keeps one event, as every Strata-owned stream.
        yield* call((client) => client.setStreamMetadata(`$strata-checkpoint-${name}`, { maxCount: 1 })).pipe(
          Effect.catchTag("ClientFailure", (failure) => Effect.fail(unavailable("saveCheckpoint")(failure)))
        )
      }
      if (written === "unsupported") {
        yield* store.fence(lease).pipe(Effect.catchTag("Unsupported", () => Effect.fail(lost)))
        yield* events.eventStore.saveCheckpoint(name, at)
      }
    })
  }

  return { store, saveCheckpoint }
}
