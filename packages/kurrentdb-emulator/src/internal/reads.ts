/**
 * Streams v1 Read: a stream or $all, forwards or backwards, with the $all filters, and the
 * catch-up subscriptions (confirmation, catch-up, caught-up, then live; checkpoints on filtered
 * $all subscriptions). Every subscription is dropped with UNAVAILABLE when the emulator goes away.
 */
import type * as grpc from "@grpc/grpc-js"
import { deletedStream, type Recorded } from "../Database.ts"
import * as P from "../protocol.ts"
import { filterOf, identifierOf, positionOf, readEvent, type ReadReq, type ReadResp, streamName } from "./codec.ts"
import type { HandlerContext } from "./context.ts"
import { streamDeleted, unavailable } from "./errors.ts"

type Filter = ReturnType<typeof filterOf>
type StreamOptions = InstanceType<typeof P.streams.ReadReq.Options.StreamOptions>
type AllOptions = InstanceType<typeof P.streams.ReadReq.Options.AllOptions>

/** One Read call: its options, read once, and how it answers. */
interface Reader {
  readonly context: HandlerContext
  readonly call: grpc.ServerWritableStream<ReadReq, ReadResp>
  readonly options: InstanceType<typeof P.streams.ReadReq.Options>
  readonly backwards: boolean
  readonly structured: boolean
  /** A record as the ReadResp this call sends: links resolved when the call asked for it. */
  readonly event: (record: Recorded) => ReadResp
  readonly send: (resp: ReadResp) => void
  readonly fail: (error: grpc.ServiceError) => void
}

/** The index of the first record whose position is at least `position` (binary search). */
const firstAtOrAfter = (log: ReadonlyArray<Recorded>, position: bigint): number => {
  let low = 0
  let high = log.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (log[mid].position < position) low = mid + 1
    else high = mid
  }
  return low
}

/** `SystemEventTypes.LinkTo`: a link's data is `<revision>@<stream>`. */
export const linkTo = "$>"
export const notALink: unique symbol = Symbol("notALink")

/**
 * `StorageReaderWorker.ResolveLinkToEvent`: the event a link points at, read as a stream read would
 * see it (retention and deletion applied), or undefined when it cannot be read. A payload that does
 * not parse is treated as a record that is not a link, as the server does.
 */
export const resolveLink = (context: HandlerContext, link: Recorded): Recorded | undefined | typeof notALink => {
  const payload = Buffer.from(link.data).toString("utf8")
  const at = payload.indexOf("@")
  const revision = at > 0 && /^\d+$/.test(payload.slice(0, at)) ? BigInt(payload.slice(0, at)) : undefined
  if (revision === undefined) return notALink
  const stream = payload.slice(at + 1)
  if (context.database.isTombstoned(stream)) return undefined
  return context.database.visible(stream)?.find((event) => event.revision === revision)
}

/** The Read handler. */
export const read = (context: HandlerContext) => (call: grpc.ServerWritableStream<ReadReq, ReadResp>): void => {
  if (context.faults.unavailable) {
    call.emit("error", unavailable())
    return
  }
  const options = call.request.getOptions()!
  const structured = options.getUuidOption()?.hasStructured() ?? false
  const resolveLinks = options.getResolveLinks()
  const reader: Reader = {
    context,
    call,
    options,
    backwards: options.getReadDirection() === P.streams.ReadReq.Options.ReadDirection.BACKWARDS,
    structured,
    event: (record) => {
      const target = resolveLinks && record.type === linkTo ? resolveLink(context, record) : notALink
      return target === notALink ? readEvent(record, structured) : readEvent(record, structured, { target })
    },
    send: (resp) => call.write(resp),
    // Errors on server-streaming calls go through emit("error"): destroy() leaves the Rust reader waiting.
    fail: (error) => call.emit("error", error)
  }
  const subscription = options.hasSubscription()

  if (options.hasStream()) {
    const stream = streamName(options.getStream()!.getStreamIdentifier())
    if (context.database.isTombstoned(stream)) return reader.fail(streamDeleted(stream))
    const revisionOption = options.getStream()!
    if (!subscription) return readStream(reader, stream, revisionOption)
    return subscribeStream(reader, stream, revisionOption)
  }

  // $all
  const all = options.getAll()!
  const filter = filterOf(options)
  if (!subscription) return readAll(reader, all, filter)
  subscribeAll(reader, all, filter)
}

const readStream = (r: Reader, stream: string, revisionOption: StreamOptions): void => {
  const count = BigInt(r.options.getCount())
  const visible = r.context.database.visible(stream)
  if (visible === undefined) {
    const resp = new P.streams.ReadResp()
    resp.setStreamNotFound(new P.streams.ReadResp.StreamNotFound().setStreamIdentifier(identifierOf(stream)))
    r.send(resp)
    r.call.end()
    return
  }
  const from = revisionOption.hasRevision()
    ? BigInt(revisionOption.getRevision())
    : revisionOption.hasEnd()
    ? deletedStream
    : r.backwards
    ? deletedStream
    : 0n
  const selected = r.backwards
    ? visible.filter((event) => event.revision <= from).reverse()
    : visible.filter((event) => event.revision >= from)
  for (const event of selected.slice(0, Number(count > 1_000_000_000n ? 1_000_000_000n : count))) {
    r.send(r.event(event))
  }
  r.call.end()
}

const confirm = (r: Reader): void =>
  r.send(new P.streams.ReadResp().setConfirmation(
    new P.streams.ReadResp.SubscriptionConfirmation().setSubscriptionId(crypto.randomUUID())
  ))

/**
 * Keeps a subscription live: `pump` runs on every commit until the call is cancelled or closed, and
 * the emulator going away drops it with UNAVAILABLE. Returns the cleanup.
 */
const follow = (r: Reader, pump: () => void): () => void => {
  const { database, live } = r.context
  const cleanup = () => {
    database.events.off("commit", pump)
    live.delete(drop)
  }
  const drop = () => {
    cleanup()
    r.fail(unavailable())
  }
  database.events.on("commit", pump)
  live.add(drop)
  r.call.on("cancelled", cleanup)
  r.call.on("close", cleanup)
  return cleanup
}

const subscribeStream = (r: Reader, stream: string, revisionOption: StreamOptions): void => {
  const { database } = r.context
  // Subscription: confirmation, catch-up through the stream reader (retention applies), caught-up, live.
  confirm(r)
  let after = revisionOption.hasRevision()
    ? BigInt(revisionOption.getRevision())
    : revisionOption.hasEnd()
    ? database.lastEventNumber(stream)
    : -1n
  let caughtUp = false
  const pump = () => {
    if (database.isTombstoned(stream)) {
      cleanup()
      return r.fail(streamDeleted(stream))
    }
    for (const event of database.visible(stream) ?? []) {
      if (event.revision <= after) continue
      r.send(r.event(event))
      after = event.revision
    }
    if (!caughtUp) {
      caughtUp = true
      const message = new P.streams.ReadResp.CaughtUp()
      message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
      if (after >= 0n) message.setStreamRevision(after.toString())
      r.send(new P.streams.ReadResp().setCaughtUp(message))
    }
  }
  const cleanup = follow(r, pump)
  pump()
}

const readAll = (r: Reader, all: AllOptions, filter: Filter): void => {
  const count = Number(BigInt(r.options.getCount()) > 1_000_000_000n ? 1_000_000_000n : BigInt(r.options.getCount()))
  const from = all.hasPosition() ? BigInt(all.getPosition()!.getCommitPosition()) : undefined
  const log = r.context.database.log
  let sent = 0
  // The log is in position order: seek to the first record at or after `from`, as the index does.
  const seek = from === undefined ? undefined : firstAtOrAfter(log, from)
  if (r.backwards) {
    // Backwards from a position returns the records before it.
    const startAt = all.hasStart() ? -1 : seek === undefined ? log.length - 1 : seek - 1
    for (let i = startAt; i >= 0 && sent < count; i--) {
      const event = log[i]
      if (filter !== undefined && !filter(event)) continue
      r.send(r.event(event))
      sent++
    }
  } else {
    const startAt = all.hasEnd() ? log.length : seek ?? 0
    for (let i = startAt; i < log.length && sent < count; i++) {
      const event = log[i]
      if (filter !== undefined && !filter(event)) continue
      r.send(r.event(event))
      sent++
    }
  }
  r.call.end()
}

const subscribeAll = (r: Reader, all: AllOptions, filter: Filter): void => {
  const { database } = r.context
  confirm(r)
  // Subscriptions start after the given position; checkpoints every window x multiplier scanned events.
  const filterOptions = r.options.hasFilter() ? r.options.getFilter()! : undefined
  const window = filterOptions === undefined
    ? 0
    : (filterOptions.hasMax() ? filterOptions.getMax() : 32) *
      Math.max(1, filterOptions.getCheckpointintervalmultiplier())
  let index = 0
  if (all.hasEnd()) index = database.log.length
  else if (all.hasPosition()) {
    const after = BigInt(all.getPosition()!.getCommitPosition())
    index = firstAtOrAfter(database.log, after + 1n)
  }
  let caughtUp = false
  let scanned = 0
  const checkpoint = (event: Recorded) => {
    const message = new P.streams.ReadResp.Checkpoint()
    message.setCommitPosition(event.position.toString())
    message.setPreparePosition(event.position.toString())
    message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
    r.send(new P.streams.ReadResp().setCheckpoint(message))
  }
  const pump = () => {
    const log = database.log
    while (index < log.length) {
      const event = log[index++]
      if (filter === undefined || filter(event)) r.send(r.event(event))
      if (window > 0 && ++scanned % window === 0) checkpoint(event)
    }
    if (!caughtUp) {
      caughtUp = true
      if (window > 0 && log.length > 0) checkpoint(log[log.length - 1])
      const message = new P.streams.ReadResp.CaughtUp()
      message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
      if (index > 0) {
        message.setPosition(positionOf(P.streams.ReadResp.Position, log[index - 1].position))
      }
      r.send(new P.streams.ReadResp().setCaughtUp(message))
    }
  }
  follow(r, pump)
  pump()
}
