/**
 * The v2 StreamsService (`kurrentdb.protocol.v2.streams.StreamsService`) AppendSession: the
 * multi-stream append, every stream's records written together or none, failures answered as
 * rich errors (a google.rpc.Status with one detail).
 */
import * as grpc from "@grpc/grpc-js"
import { ExpectedVersion, type Proposed, type WriteFailure, type WriteResult } from "../Database.ts"
import * as P from "../protocol.ts"
import { parseGuid } from "./codec.ts"
import { collecting, type HandlerContext } from "./context.ts"
import { invalidArgument, richError } from "./errors.ts"

type AppendRequest = InstanceType<typeof P.streamsV2.AppendRequest>
type AppendRecord = InstanceType<typeof P.streamsV2.AppendRecord>
type Part = { stream: string; expected: bigint; events: Array<Proposed> }

export const streamsV2Service = (context: HandlerContext) => ({
  appendSession: collecting<AppendRequest>(context, (requests, callback) => {
    if (requests.length === 0) {
      return callback(invalidArgument(
        "Append session started, but no append requests were sent",
        "Append session started, but no append requests were sent before ending the session."
      ))
    }
    const parts = partsOf(requests)
    if (parts instanceof Error) return callback(parts)
    const result = context.database.write(parts)
    if (!Array.isArray(result)) return callback(writeError(result as WriteFailure))
    const response = new P.streamsV2.AppendSessionResponse()
    let position = -1n
    for (const written of result as ReadonlyArray<WriteResult>) {
      response.addOutput(
        new P.streamsV2.AppendResponse().setStream(written.stream).setStreamRevision(written.last.toString())
      )
      if (written.position > position) position = written.position
    }
    response.setPosition(position.toString())
    callback(null, response)
  })
})

/** The session's requests as the parts of one write, or the error that refuses the whole session. */
const partsOf = (requests: ReadonlyArray<AppendRequest>): Array<Part> | grpc.ServiceError => {
  const seen = new Set<string>()
  const parts: Array<Part> = []
  for (const request of requests) {
    const stream = request.getStream()
    // Streams are compared case-insensitively here (AppendRequestComparer), unlike everywhere else.
    if (seen.has(stream.toLowerCase())) {
      return richError(
        grpc.status.ABORTED,
        `Stream '${stream}' already has a different group of messages in this session.`,
        "kurrentdb.protocol.v2.streams.errors.StreamAlreadyInAppendSessionErrorDetails",
        new P.errorsV2.StreamAlreadyInAppendSessionErrorDetails().setStream(stream)
      )
    }
    seen.add(stream.toLowerCase())
    const expected = request.hasExpectedRevision()
      ? BigInt(request.getExpectedRevision() ?? "-2")
      : ExpectedVersion.any
    const events: Array<Proposed> = []
    for (const record of request.getRecordsList()) {
      const event = eventOf(record)
      if (event instanceof Error) return event
      events.push(event)
    }
    parts.push({ stream: request.getStream(), expected, events })
  }
  return parts
}

/** One record as an event, or INVALID_ARGUMENT for a record id that is not a UUID. */
const eventOf = (record: AppendRecord): Proposed | grpc.ServiceError => {
  const id = record.hasRecordId() ? parseGuid(record.getRecordId()) : crypto.randomUUID()
  if (id === undefined) {
    return invalidArgument("Invalid record id", `Record id '${record.getRecordId()}' is not a valid UUID`)
  }
  const schema = record.getSchema()
  const json = schema?.getFormat() === 1
  // Properties become the event metadata, rendered as JSON with the schema name and format
  // (EventRecord.SynthesizeMetadataFromProperties).
  const properties: Record<string, unknown> = {}
  for (const [key, value] of record.getPropertiesMap().entries()) properties[key] = value.toJavaScript()
  properties["$schema.name"] = schema?.getName() ?? ""
  properties["$schema.format"] = json ? "Json" : String(schema?.getFormat() ?? "Bytes")
  return {
    id,
    type: schema?.getName() ?? "",
    contentType: json ? "application/json" : "application/octet-stream",
    data: record.getData_asU8(),
    metadata: Buffer.from(JSON.stringify(properties), "utf8")
  }
}

/** A failed write as the v2 API reports it. */
const writeError = (failure: WriteFailure): grpc.ServiceError => {
  if (failure.decision._tag === "StreamDeleted") {
    // The v2 API reports every StreamDeleted result as a tombstone (StreamsService.MapToError).
    return richError(
      grpc.status.FAILED_PRECONDITION,
      `Stream '${failure.stream}' has been tombstoned.`,
      "kurrentdb.protocol.v2.streams.errors.StreamTombstonedErrorDetails",
      new P.errorsV2.StreamTombstonedErrorDetails().setStream(failure.stream)
    )
  }
  return richError(
    grpc.status.FAILED_PRECONDITION,
    `Append failed due to a revision conflict on stream '${failure.stream}'.`,
    "kurrentdb.protocol.v2.streams.errors.StreamRevisionConflictErrorDetails",
    new P.errorsV2.StreamRevisionConflictErrorDetails()
      .setStream(failure.stream)
      .setExpectedRevision(failure.expected.toString())
      .setActualRevision(failure.decision.current.toString())
  )
}
