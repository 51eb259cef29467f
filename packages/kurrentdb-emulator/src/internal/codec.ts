/**
 * Between protobuf messages and the database's values: stream identifiers, UUIDs (string and
 * structured), a recorded event as a ReadResp, the $all read filter, an expected revision, and
 * positions.
 */
import { ExpectedVersion, type Recorded } from "../Database.ts"
import * as P from "../protocol.ts"

export type ReadReq = InstanceType<typeof P.streams.ReadReq>
export type ReadResp = InstanceType<typeof P.streams.ReadResp>

export const streamName = (identifier: InstanceType<typeof P.shared.StreamIdentifier> | undefined): string =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString("utf8")

export const identifierOf = (stream: string) => {
  const id = new P.shared.StreamIdentifier()
  id.setStreamName(Buffer.from(stream, "utf8"))
  return id
}

export const uuidString = (uuid: InstanceType<typeof P.shared.UUID> | undefined): string | undefined => {
  if (uuid === undefined) return undefined
  if (uuid.hasString()) return uuid.getString()
  const structured = uuid.getStructured()
  if (structured === undefined) return undefined
  const hex = (v: string) => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, "0")
  const ms = hex(structured.getMostSignificantBits())
  const ls = hex(structured.getLeastSignificantBits())
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-${ms.slice(12)}-${ls.slice(0, 4)}-${ls.slice(4)}`
}

export const uuidMessage = (id: string, structured: boolean) => {
  const uuid = new P.shared.UUID()
  if (!structured) {
    uuid.setString(id)
    return uuid
  }
  const hex = id.replace(/-/g, "")
  const s = new P.shared.UUID.Structured()
  s.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
  s.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString())
  uuid.setStructured(s)
  return uuid
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Lower-cased, as .NET's `Guid.ToString()` writes it. */
export const parseGuid = (id: string | undefined): string | undefined =>
  id !== undefined && uuidPattern.test(id) ? id.toLowerCase() : undefined

const recordedEvent = (event: Recorded, structured: boolean) => {
  const recorded = new P.streams.ReadResp.ReadEvent.RecordedEvent()
  recorded.setId(uuidMessage(event.id, structured))
  recorded.setStreamIdentifier(identifierOf(event.stream))
  recorded.setStreamRevision(event.revision.toString())
  recorded.setPreparePosition(event.position.toString())
  recorded.setCommitPosition(event.position.toString())
  const map = recorded.getMetadataMap()
  map.set("type", event.type)
  map.set("content-type", event.contentType)
  map.set("created", event.created.toString())
  recorded.setCustomMetadata(event.metadata)
  recorded.setData(event.data)
  return recorded
}

/**
 * A record as a ReadResp. With `resolved` (a link read with resolveLinkTos): the link's target as
 * `event` and the link as `link`, or only `link` when the target could not be read
 * (`ResolvedEvent.ForResolvedLink` / `ForFailedResolvedLink`); the position is the link's.
 */
export const readEvent = (
  event: Recorded,
  structured: boolean,
  resolved?: { readonly target: Recorded | undefined }
): ReadResp => {
  const read = new P.streams.ReadResp.ReadEvent()
  if (resolved === undefined) read.setEvent(recordedEvent(event, structured))
  else {
    if (resolved.target !== undefined) read.setEvent(recordedEvent(resolved.target, structured))
    read.setLink(recordedEvent(event, structured))
  }
  read.setCommitPosition(event.position.toString())
  const resp = new P.streams.ReadResp()
  resp.setEvent(read)
  return resp
}

/** The $all filter of a read: stream-name or event-type, regex or prefixes (`EventFilter.Get`). */
export const filterOf = (
  options: InstanceType<typeof P.streams.ReadReq.Options>
): ((event: Recorded) => boolean) | undefined => {
  if (!options.hasFilter()) return undefined
  return filterFrom(options.getFilter()!)
}

/** An event filter message (a read's, or a persistent subscription's to $all) as a predicate. */
export const filterFrom = (filter: {
  hasStreamIdentifier(): boolean
  getStreamIdentifier(): { getRegex(): string; getPrefixList(): Array<string> } | undefined
  getEventType(): { getRegex(): string; getPrefixList(): Array<string> } | undefined
}): ((event: Recorded) => boolean) | undefined => {
  const onStream = filter.hasStreamIdentifier()
  const expression = onStream ? filter.getStreamIdentifier() : filter.getEventType()
  if (expression === undefined) return undefined
  const prefixes = expression.getPrefixList()
  const regex = expression.getRegex() === "" ? undefined : new RegExp(expression.getRegex())
  return (event) => {
    const value = onStream ? event.stream : event.type
    return prefixes.length > 0 ? prefixes.some((prefix) => value.startsWith(prefix)) : regex?.test(value) ?? true
  }
}

export const expectedOfAppend = (options: {
  hasRevision(): boolean
  getRevision(): string
  hasNoStream(): boolean
  hasStreamExists(): boolean
}): bigint =>
  options.hasRevision()
    ? BigInt(options.getRevision())
    : options.hasNoStream()
    ? ExpectedVersion.noStream
    : options.hasStreamExists()
    ? ExpectedVersion.streamExists
    : ExpectedVersion.any

export const positionOf = <T extends { setCommitPosition(v: string): T; setPreparePosition(v: string): T }>(
  make: new() => T,
  position: bigint
): T => new make().setCommitPosition(position.toString()).setPreparePosition(position.toString())
