// A stream's lifecycle: streamInfo, soft delete, tombstone and retention. KurrentDB keeps all of it
// in the metastream (`$tb`, `$maxCount`, `$maxAge`); what no read shows (the last revision of a
// soft-deleted stream, whose events no read returns, or of a tombstoned one) is learnt from a write the
// server refuses, or from `$all`.
import type { ResolvedEvent } from "@kurrent/kurrentdb-client"
import { BACKWARDS, END, STREAM_NAME } from "@kurrent/kurrentdb-client"
import { Event, type EventStore, StoreError, StreamName } from "@strata/core"
import { Inputs, StreamView } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Codec from "../KurrentCodec.ts"
import { conflict } from "./conflicts.ts"
import { failureOf, isClientFailure, type KurrentContext } from "./context.ts"
import { dropSnapshot } from "./owned.ts"

export const make = (ctx: KurrentContext) => {
  const { call, lastEvent, metadataOf, unavailable } = ctx

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
        const lastVersion = yield* lastInAll(ctx, stream)
        return { stream, status: "tombstoned" as const, lastVersion, retention: {} }
      }
      const rules = Codec.retentionOf(raw)
      let lastVersion = Option.getOrUndefined(last)?.event?.revision
      if (raw !== undefined && (rules.softDeleted || lastVersion === undefined)) {
        // Retention or a soft delete hides the last event: ask the server for the current revision.
        const probed = yield* probe(ctx, stream)
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
              // A soft-deleted stream has no visible version: the refusal names the hidden last one.
              if (current === undefined) return conflict(stream, expected, undefined)
              return Effect.flatMap(
                metadataOf(kind === "delete" ? "deleteStream" : "tombstoneStream", stream),
                ({ raw }) => conflict(stream, expected, Codec.retentionOf(raw).softDeleted ? undefined : current)
              )
            }
            return Effect.fail(unavailable(kind === "delete" ? "deleteStream" : "tombstoneStream", failure))
          }
        )
      )
      yield* dropSnapshot(ctx, stream)
    })

  const deleteStream: EventStore.EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith("delete", stream, deleteOptions)

  const tombstoneStream: EventStore.EventStoreShape["tombstoneStream"] = (stream, deleteOptions) =>
    deleteWith("tombstone", stream, deleteOptions)

  const setRetention: EventStore.EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      const rules = yield* Inputs.retention(patch)
      yield* StreamName.make(stream)
      if (yield* ctx.isTombstoned("setRetention", stream)) {
        return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      }
      const apply = (key: string, value: number | bigint | null | undefined, current: Record<string, unknown>) => {
        if (value === undefined) return
        if (value === null) delete current[key]
        else current[key] = typeof value === "bigint" ? Number(value) : value
      }
      const changed = Object.values(rules).some((value) => value !== undefined)
      if (changed) {
        yield* updateMetadata(ctx, "setRetention", stream, (current) => {
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

  return { streamInfo, deleteStream, tombstoneStream, setRetention }
}

/** The last revision of a stream whatever hides its events: from the refusal of an impossible append. */
const probe = (ctx: KurrentContext, stream: string) =>
  ctx.call((client) =>
    client.appendToStream(stream, [
      { id: Event.makeEventId(), contentType: "application/json", type: "$strata.probe", data: {} } as never
    ], {
      streamState: Codec.unreachableRevision
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
        return Effect.fail(ctx.unavailable("streamInfo", failure))
      }
    )
  )

/** The last revision of a tombstoned stream, from `$all` (the stream itself can no longer be read). */
const lastInAll = (ctx: KurrentContext, stream: string) =>
  Stream.fromAsyncIterable(
    ctx.kurrent.client.readAll({
      direction: BACKWARDS,
      fromPosition: END,
      maxCount: 2,
      filter: { filterOn: STREAM_NAME, regex: `^${escapeRegex(stream)}$`, checkpointInterval: 1 }
    } as never) as AsyncIterable<ResolvedEvent>,
    (error) => ctx.unavailable("streamInfo", failureOf(error))
  ).pipe(
    Stream.filter((resolved) => resolved.event !== undefined && resolved.event.type !== "$streamDeleted"),
    Stream.runHead,
    Effect.map((event) => Option.getOrUndefined(event)?.event?.revision)
  )

/** Writes stream metadata, compare-and-set on the metastream's revision, retried on a race. */
const updateMetadata = (
  ctx: KurrentContext,
  operation: string,
  stream: string,
  change: (current: Record<string, unknown>) => Record<string, unknown>
) =>
  Effect.gen(function*() {
    const { raw, revision } = yield* ctx.metadataOf(operation, stream)
    const next = change({ ...raw })
    yield* ctx.call((client) =>
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
          : Effect.fail(ctx.unavailable(operation, failure))
    )
  )

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
