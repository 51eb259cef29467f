/**
 * The emulator's storage and write rules: one in-memory transaction log, per-stream indexes and the
 * commit checks of KurrentDB's `IndexWriter.CheckCommit` (src/KurrentDB.Core/Services/Storage/ReaderIndex/
 * IndexWriter.cs) and `StorageWriterService` (soft delete, soft undelete, tombstone), transcribed rule by rule.
 *
 * Nothing here knows about Strata: the rules are KurrentDB's, including the ones Strata has to work around
 * (duplicate event ids across streams are accepted, a soft delete replaces the whole stream metadata).
 *
 * @since 0.1.0
 */
import { EventEmitter } from "node:events"

/** `EventNumber.DeletedStream` / `long.MaxValue`: the `$tb` a soft delete writes, the revision of a tombstone. */
export const deletedStream = 9_223_372_036_854_775_807n

/**
 * `TFConsts.MaxLogRecordSize`: the default `MaxAppendEventSize` (ClusterVNodeOptions.cs), the largest
 * event (`Event.SizeOnDisk`: type, data and metadata) one append may carry.
 */
export const maxAppendEventSize = 16 * 1024 * 1024

/** `TFConsts.ChunkSize`: the default `MaxAppendSize`, the most bytes of events one append may carry. */
export const maxAppendSize = 256 * 1024 * 1024

/** `Event.SizeOnDisk`: what the size limits count (the UTF-8 type, the data and the metadata). */
export const sizeOnDisk = (
  event: { readonly type: string; readonly data: Uint8Array; readonly metadata: Uint8Array }
) => Buffer.byteLength(event.type, "utf8") + event.data.length + event.metadata.length

/** `ExpectedVersion` constants of KurrentDB.Core.Data. */
export const ExpectedVersion = { any: -2n, noStream: -1n, streamExists: -4n, softDeleted: -5n } as const

/**
 * One record of the log.
 *
 * @category models
 * @since 0.1.0
 */
export interface Recorded {
  readonly id: string
  readonly stream: string
  readonly revision: bigint
  readonly position: bigint
  readonly type: string
  readonly contentType: string
  /** 100 ns ticks since the Unix epoch, as the server's `created` metadata entry. */
  readonly created: bigint
  readonly data: Uint8Array
  readonly metadata: Uint8Array
}

/**
 * An event to write.
 *
 * @category models
 * @since 0.1.0
 */
export interface Proposed {
  readonly id: string
  readonly type: string
  readonly contentType: string
  readonly data: Uint8Array
  readonly metadata: Uint8Array
}

/**
 * The outcome of a commit check (`CommitDecision`).
 *
 * @category models
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Ok"; readonly current: bigint; readonly softDeleted: boolean }
  | { readonly _tag: "Idempotent"; readonly last: Recorded }
  | { readonly _tag: "WrongExpectedVersion"; readonly current: bigint }
  | { readonly _tag: "StreamDeleted"; readonly tombstoned: boolean }

/**
 * The result of one stream's part of a write.
 *
 * @category models
 * @since 0.1.0
 */
export type WriteResult =
  | { readonly _tag: "Written"; readonly stream: string; readonly last: bigint; readonly position: bigint }
  | { readonly _tag: "Idempotent"; readonly stream: string; readonly last: bigint; readonly position: bigint }

/**
 * A failed write: which part failed, and how.
 *
 * @category models
 * @since 0.1.0
 */
export interface WriteFailure {
  readonly index: number
  readonly stream: string
  readonly expected: bigint
  readonly decision: Exclude<Decision, { _tag: "Ok" | "Idempotent" }>
}

interface StreamIndex {
  readonly events: Array<Recorded>
  /** Event id -> event, for the weak idempotency check. */
  readonly ids: Map<string, Recorded>
  tombstoned: boolean
}

/** The metastream of a stream (`$$name`). */
export const metastreamOf = (stream: string): string => `$$${stream}`

/**
 * The emulated database.
 *
 * @category models
 * @since 0.1.0
 */
export class Database {
  readonly log: Array<Recorded> = []
  readonly streams = new Map<string, StreamIndex>()
  /** Emits "commit" after every write, so live subscriptions can read on. */
  readonly events = new EventEmitter().setMaxListeners(0)
  /** Positions are log offsets, not counters: they grow by the size of each record. */
  private nextPosition = 1_024n
  /** Test hook: the clock, in milliseconds. */
  now: () => number = Date.now

  private indexOf(stream: string): StreamIndex {
    let index = this.streams.get(stream)
    if (index === undefined) {
      index = { events: [], ids: new Map(), tombstoned: false }
      this.streams.set(stream, index)
    }
    return index
  }

  /** The last event number of a stream, -1 when none, `deletedStream` when tombstoned. */
  lastEventNumber(stream: string): bigint {
    // IndexReader.GetStreamLastEventNumberCached: the metastream of a tombstoned stream is deleted as well.
    if (stream.startsWith("$$") && this.isTombstoned(stream.slice(2))) return deletedStream
    const index = this.streams.get(stream)
    if (index === undefined) return -1n
    if (index.tombstoned) return deletedStream
    return BigInt(index.events.length) - 1n
  }

  /** The stream's metadata: the data of the last event in its metastream, parsed, or undefined. */
  metadata(stream: string): Record<string, unknown> | undefined {
    const meta = this.streams.get(metastreamOf(stream))?.events
    const last = meta === undefined || meta.length === 0 ? undefined : meta[meta.length - 1]
    if (last === undefined) return undefined
    try {
      const parsed: unknown = JSON.parse(Buffer.from(last.data).toString("utf8"))
      return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
        ? parsed as Record<string, unknown>
        : undefined
    } catch {
      return undefined
    }
  }

  /** `IndexWriter.IsSoftDeleted`: the stream's `$tb` is `EventNumber.DeletedStream`. */
  isSoftDeleted(stream: string): boolean {
    const tb = this.metadata(stream)?.["$tb"]
    return tb !== undefined && toBigInt(tb) === deletedStream
  }

  /**
   * `IndexWriter.CheckCommit`: decides a write of `ids` to `stream` expecting `expected`
   * (a revision, or one of the {@link ExpectedVersion} constants).
   */
  checkCommit(stream: string, expected: bigint, eventIds: ReadonlyArray<string>): Decision {
    const current = this.lastEventNumber(stream)
    if (current === deletedStream) {
      if (eventIds.length > 0) return { _tag: "StreamDeleted", tombstoned: true }
      // A check only (no events): any, no_stream and "tombstoned" (DeletedStream) hold.
      return expected === ExpectedVersion.any || expected === ExpectedVersion.noStream || expected === deletedStream
        ? { _tag: "Ok", current, softDeleted: false }
        : { _tag: "WrongExpectedVersion", current }
    }
    const events = this.streams.get(stream)?.events ?? []
    const ids = this.streams.get(stream)?.ids
    if (expected === ExpectedVersion.streamExists) {
      // RequestManagerBase: a soft-deleted stream expected to exist is reported as StreamDeleted.
      if (this.isSoftDeleted(stream)) return { _tag: "StreamDeleted", tombstoned: false }
      if (current < 0n && this.lastEventNumber(metastreamOf(stream)) < 0n) {
        return { _tag: "WrongExpectedVersion", current }
      }
    }
    // Weak idempotency: the ids are looked up among the stream's events wherever they are.
    if (
      expected === ExpectedVersion.any || expected === ExpectedVersion.streamExists ||
      expected === ExpectedVersion.softDeleted
    ) {
      // Expecting SoftDeleted (AppendRecords' DELETED check) fails on a stream that is not.
      const ok = (): Decision => {
        const softDeleted = this.isSoftDeleted(stream)
        return expected === ExpectedVersion.softDeleted && !softDeleted
          ? { _tag: "WrongExpectedVersion", current }
          : { _tag: "Ok", current, softDeleted }
      }
      let last: Recorded | undefined
      for (let i = 0; i < eventIds.length; i++) {
        const found = ids?.get(eventIds[i])
        if (found !== undefined) {
          last = found
          continue
        }
        if (i > 0) return { _tag: "WrongExpectedVersion", current } // CorruptedIdempotency
        return ok()
      }
      return last === undefined ? ok() : { _tag: "Idempotent", last }
    }
    // Strong idempotency: the ids must sit right after the expected revision.
    if (expected < current) {
      let at = expected
      for (let i = 0; i < eventIds.length; i++) {
        at += 1n
        if (events[Number(at)]?.id === eventIds[i]) continue
        if (i > 0) return { _tag: "WrongExpectedVersion", current }
        if (expected === ExpectedVersion.noStream && this.isSoftDeleted(stream)) {
          return { _tag: "Ok", current, softDeleted: true }
        }
        return { _tag: "WrongExpectedVersion", current }
      }
      if (eventIds.length === 0) {
        return expected === ExpectedVersion.noStream && this.isSoftDeleted(stream)
          ? { _tag: "Ok", current, softDeleted: true }
          : { _tag: "WrongExpectedVersion", current }
      }
      return { _tag: "Idempotent", last: events[Number(at)] }
    }
    if (expected > current) return { _tag: "WrongExpectedVersion", current }
    return { _tag: "Ok", current, softDeleted: this.isSoftDeleted(stream) }
  }

  private append(stream: string, event: Proposed, created: bigint): Recorded {
    const index = this.indexOf(stream)
    const recorded: Recorded = {
      id: event.id,
      stream,
      revision: BigInt(index.events.length),
      position: this.nextPosition,
      type: event.type,
      contentType: event.contentType,
      created,
      data: event.data,
      metadata: event.metadata
    }
    this.nextPosition += BigInt(64 + stream.length + event.type.length + event.data.length + event.metadata.length)
    index.events.push(recorded)
    if (!index.ids.has(recorded.id)) index.ids.set(recorded.id, recorded)
    this.log.push(recorded)
    return recorded
  }

  private ticks(): bigint {
    // The server sends `created` as ticks since the Unix epoch (`ToTicksSinceEpoch`); clients divide by 10,000.
    return BigInt(Math.floor(this.now())) * 10_000n
  }

  private json(value: unknown): Uint8Array {
    return Buffer.from(JSON.stringify(value, (_, v) => typeof v === "bigint" ? Number(v) : v), "utf8")
  }

  /**
   * `WriteEvents`: checks every part, then writes all or nothing. After writing to a soft-deleted
   * stream, its metadata `$tb` moves to the first new event (`SoftUndeleteStream`); a write to the
   * metastream of a soft-deleted stream undeletes it from its end (`SoftUndeleteMetastream`).
   */
  write(
    parts: ReadonlyArray<
      { readonly stream: string; readonly expected: bigint; readonly events: ReadonlyArray<Proposed> }
    >
  ): ReadonlyArray<WriteResult> | WriteFailure {
    const decisions = parts.map((part) =>
      this.checkCommit(part.stream, part.expected, part.events.map((event) => event.id))
    )
    const failed = decisions.findIndex((d) => d._tag === "WrongExpectedVersion" || d._tag === "StreamDeleted")
    if (failed >= 0) {
      return {
        index: failed,
        stream: parts[failed].stream,
        expected: parts[failed].expected,
        decision: decisions[failed] as WriteFailure["decision"]
      }
    }
    const idempotent = decisions.filter((d) => d._tag === "Idempotent").length
    if (idempotent > 0 && idempotent < decisions.length) {
      // CorruptedIdempotency across a transaction: reported as a consistency failure of the first part.
      const index = decisions.findIndex((d) => d._tag !== "Idempotent")
      return {
        index,
        stream: parts[index].stream,
        expected: parts[index].expected,
        decision: { _tag: "WrongExpectedVersion", current: this.lastEventNumber(parts[index].stream) }
      }
    }
    const created = this.ticks()
    const results = parts.map((part, i): WriteResult => {
      const decision = decisions[i]
      if (decision._tag === "Idempotent") {
        return {
          _tag: "Idempotent",
          stream: part.stream,
          last: decision.last.revision,
          position: decision.last.position
        }
      }
      // StorageWriterService.WritePrepares: an empty write to one stream still writes an (eventless)
      // prepare, answers the stream's current revision and that prepare's position, and, "for
      // backwards compatibility", undeletes a soft-deleted stream like a write with events. An empty
      // part of a multi-stream write is a check only.
      const emptySingle = part.events.length === 0 && parts.length === 1
      const writes = part.events.length > 0 || emptySingle
      const undelete = writes ? this.metadataSoftDeletedOriginal(part.stream) : undefined
      let last: Recorded | undefined
      for (const event of part.events) last = this.append(part.stream, event, created)
      let position = last?.position ?? -1n
      if (emptySingle) {
        position = this.nextPosition
        this.nextPosition += BigInt(64 + part.stream.length)
      }
      if (decision._tag === "Ok" && decision.softDeleted && writes) {
        this.undelete(part.stream, decision.current + 1n, created)
      }
      if (undelete !== undefined) this.undelete(undelete, this.lastEventNumber(undelete) + 1n, created)
      return last === undefined
        ? { _tag: "Written", stream: part.stream, last: decision._tag === "Ok" ? decision.current : -1n, position }
        : { _tag: "Written", stream: part.stream, last: last.revision, position: last.position }
    })
    this.events.emit("commit")
    return results
  }

  /**
   * `WriteEvents` as AppendRecords sends it (StreamsService.cs, `AppendRecordsCommand`): one expected
   * state per stream (a check, or `any` for a stream only written to), records in request order across
   * streams (the log keeps that order), every stream checked before anything is written. Unlike
   * {@link write}, a refusal names every failing stream (`ConsistencyCheckFailures`), each with its
   * actual state. A stream with no records is a check only: nothing is written to it, nothing undeleted.
   */
  writeRecords(
    streams: ReadonlyArray<{ readonly stream: string; readonly expected: bigint }>,
    records: ReadonlyArray<{ readonly index: number; readonly event: Proposed }>
  ): ReadonlyArray<WriteResult> | ReadonlyArray<WriteFailure> {
    const ids = streams.map(() => [] as Array<string>)
    for (const record of records) ids[record.index].push(record.event.id)
    const decisions = streams.map((part, i) => this.checkCommit(part.stream, part.expected, ids[i]))
    const failures: Array<WriteFailure> = []
    decisions.forEach((decision, index) => {
      if (decision._tag === "WrongExpectedVersion" || decision._tag === "StreamDeleted") {
        failures.push({ index, stream: streams[index].stream, expected: streams[index].expected, decision })
      }
    })
    if (failures.length > 0) return failures
    const writing = decisions.filter((_, i) => ids[i].length > 0)
    const idempotent = writing.filter((d) => d._tag === "Idempotent").length
    if (idempotent > 0 && idempotent < writing.length) {
      const index = decisions.findIndex((d, i) => ids[i].length > 0 && d._tag !== "Idempotent")
      return [{
        index,
        stream: streams[index].stream,
        expected: streams[index].expected,
        decision: { _tag: "WrongExpectedVersion", current: this.lastEventNumber(streams[index].stream) }
      }]
    }
    const written = streams.map((): Recorded | undefined => undefined)
    if (idempotent === 0) {
      const created = this.ticks()
      const undeletes = streams.map((part, i) =>
        ids[i].length > 0 ? this.metadataSoftDeletedOriginal(part.stream) : undefined
      )
      for (const record of records) {
        written[record.index] = this.append(streams[record.index].stream, record.event, created)
      }
      streams.forEach((part, i) => {
        const decision = decisions[i]
        if (ids[i].length === 0) return
        if (decision._tag === "Ok" && decision.softDeleted) this.undelete(part.stream, decision.current + 1n, created)
        const undelete = undeletes[i]
        if (undelete !== undefined) this.undelete(undelete, this.lastEventNumber(undelete) + 1n, created)
      })
      this.events.emit("commit")
    }
    const results: Array<WriteResult> = []
    streams.forEach((part, i) => {
      if (ids[i].length === 0) return
      const decision = decisions[i]
      const last = written[i]
      if (decision._tag === "Idempotent") {
        results.push({
          _tag: "Idempotent",
          stream: part.stream,
          last: decision.last.revision,
          position: decision.last.position
        })
      } else if (last !== undefined) {
        results.push({ _tag: "Written", stream: part.stream, last: last.revision, position: last.position })
      }
    })
    return results
  }

  /**
   * What a fresh node has written before any client connects, so `$all` is never empty of system
   * records: the epoch record (`$epoch-information`, SystemNames.cs) and the default users `admin` and
   * `ops`, each as UserManagementService.cs creates them: the `$user-<name>` stream's ACL in its
   * metastream, `$UserCreated` in `$user-<name>`, then a `$User` event (the login name, not JSON) in `$users`.
   */
  seedSystemEvents(): void {
    const created = this.ticks()
    const event = (type: string, data: unknown, json = true): Proposed => ({
      id: crypto.randomUUID(),
      type,
      contentType: json ? "application/json" : "application/octet-stream",
      data: json ? this.json(data) : Buffer.from(String(data), "utf8"),
      metadata: new Uint8Array()
    })
    this.append(
      "$epoch-information",
      event("$epoch-information", {
        EpochId: crypto.randomUUID(),
        EpochNumber: 0,
        EpochPosition: 0,
        PrevEpochPosition: -1,
        TimeStamp: new Date(this.now()).toISOString()
      }),
      created
    )
    for (const login of ["admin", "ops"]) {
      this.append(
        metastreamOf(`$user-${login}`),
        event("$metadata", {
          $acl: { $w: "$admins", $d: "$admins", $mw: "$admins" }
        }),
        created
      )
      this.append(
        `$user-${login}`,
        event("$UserCreated", {
          loginName: login,
          fullName: login === "admin" ? "KurrentDB Administrator" : "KurrentDB Operations",
          groups: login === "admin" ? ["$admins"] : ["$ops"]
        }),
        created
      )
      this.append("$users", event("$User", login, false), created)
    }
  }

  /** When `stream` is the metastream of a soft-deleted stream, that stream. */
  private metadataSoftDeletedOriginal(stream: string): string | undefined {
    if (!stream.startsWith("$$")) return undefined
    const original = stream.slice(2)
    return this.isSoftDeleted(original) ? original : undefined
  }

  /** `SoftUndeleteStream` / `ModifyMetadata`: rewrites `$tb` to `recreateFrom`, keeping the other fields. */
  private undelete(stream: string, recreateFrom: bigint, created: bigint): void {
    const metadata = { ...this.metadata(stream), $tb: recreateFrom }
    this.append(metastreamOf(stream), {
      id: crypto.randomUUID(),
      type: "$metadata",
      contentType: "application/json",
      data: this.json(metadata),
      metadata: new Uint8Array()
    }, created)
  }

  /**
   * `DeleteStream` with `hardDelete: false`: the commit check with a fresh event id, then a stream that
   * never existed (no events, no metadata) fails the check whatever was expected, else the metastream
   * gets `{ "$tb": long.MaxValue }` as its whole new metadata.
   */
  softDelete(
    stream: string,
    expected: bigint
  ): { readonly position: bigint } | Exclude<Decision, { _tag: "Ok" | "Idempotent" }> {
    const decision = this.checkCommit(stream, expected, [crypto.randomUUID()])
    if (decision._tag === "WrongExpectedVersion" || decision._tag === "StreamDeleted") return decision
    if (this.lastEventNumber(stream) < 0n && this.lastEventNumber(metastreamOf(stream)) < 0n) {
      return { _tag: "WrongExpectedVersion", current: -1n }
    }
    const recorded = this.append(metastreamOf(stream), {
      id: crypto.randomUUID(),
      type: "$metadata",
      contentType: "application/json",
      data: Buffer.from(`{"$tb":${deletedStream}}`, "utf8"),
      metadata: new Uint8Array()
    }, this.ticks())
    this.events.emit("commit")
    return { position: recorded.position }
  }

  /** `DeleteStream` with `hardDelete: true`: a `$streamDeleted` record; the stream is closed for good. */
  tombstone(
    stream: string,
    expected: bigint
  ): { readonly position: bigint } | Exclude<Decision, { _tag: "Ok" | "Idempotent" }> {
    const decision = this.checkCommit(stream, expected, [crypto.randomUUID()])
    if (decision._tag === "WrongExpectedVersion" || decision._tag === "StreamDeleted") return decision
    const index = this.indexOf(stream)
    const recorded: Recorded = {
      id: crypto.randomUUID(),
      stream,
      revision: deletedStream,
      position: this.nextPosition,
      type: "$streamDeleted",
      contentType: "application/json",
      created: this.ticks(),
      data: new Uint8Array(),
      metadata: new Uint8Array()
    }
    this.nextPosition += 128n
    index.tombstoned = true
    this.log.push(recorded)
    this.events.emit("commit")
    return { position: recorded.position }
  }

  /**
   * The events a stream read may see now: `$tb`, `$maxCount` and `$maxAge` from the metastream
   * applied (`IndexReader` + `StreamMetadata`). `undefined` when the stream does not exist or is soft-deleted
   * (both read as `StreamNotFound`).
   */
  visible(stream: string): ReadonlyArray<Recorded> | undefined {
    const events = this.streams.get(stream)?.events ?? []
    if (this.isSoftDeleted(stream)) return undefined
    if (events.length === 0) return undefined
    // A metastream reads as its latest event: ReadIndex gives every `$$` stream `maxCount: 1`
    // (`metastreamMetadata`, ReadIndex.cs), so `$$stream` answers only the current metadata.
    const metadata = stream.startsWith("$$") ? { $maxCount: 1 } : this.metadata(stream) ?? {}
    let first = 0n
    const tb = toBigInt(metadata["$tb"])
    if (tb !== undefined && tb > first) first = tb
    const maxCount = toBigInt(metadata["$maxCount"])
    if (maxCount !== undefined && BigInt(events.length) - maxCount > first) first = BigInt(events.length) - maxCount
    const maxAge = toBigInt(metadata["$maxAge"])
    const oldest = maxAge === undefined ? undefined : this.ticks() - maxAge * 10_000_000n
    return events.filter((event) => event.revision >= first && (oldest === undefined || event.created >= oldest))
  }

  isTombstoned(stream: string): boolean {
    if (stream.startsWith("$$") && this.isTombstoned(stream.slice(2))) return true
    return this.streams.get(stream)?.tombstoned ?? false
  }
}

const toBigInt = (value: unknown): bigint | undefined => {
  // JSON numbers are doubles: long.MaxValue parses as 2^63, which still means "deleted".
  if (typeof value === "number" && value >= 9.2e18) return deletedStream
  if (typeof value === "number" && Number.isFinite(value)) return BigInt(Math.trunc(value))
  if (typeof value === "bigint") return value
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value)
  return undefined
}
