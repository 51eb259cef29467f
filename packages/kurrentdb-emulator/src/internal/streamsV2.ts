/**
 * The v2 StreamsService (`kurrentdb.protocol.v2.streams.StreamsService`): AppendSession, the
 * multi-stream append (25.1), and AppendRecords, the multi-stream append with consistency checks
 * (26.1); every stream's records written together or none, failures answered as rich errors (a
 * google.rpc.Status with one detail).
 */
import * as grpc from "@grpc/grpc-js"
import {
  deletedStream,
  ExpectedVersion,
  maxAppendEventSize,
  maxAppendSize,
  type Proposed,
  sizeOnDisk,
  type WriteFailure,
  type WriteResult
} from "../Database.ts"
import * as P from "../protocol.ts"
import { parseGuid } from "./codec.ts"
import { collecting, type HandlerContext } from "./context.ts"
import { badRequest, invalidArgument, richError, unavailable as unavailableError } from "./errors.ts"

type AppendRequest = InstanceType<typeof P.streamsV2.AppendRequest>
type AppendRecord = InstanceType<typeof P.streamsV2.AppendRecord>
type AppendRecordsRequest = InstanceType<typeof P.streamsV2.AppendRecordsRequest>
type Part = { stream: string; expected: bigint; events: Array<Proposed> }

export const streamsV2Service = (context: HandlerContext, served: { readonly appendRecords: boolean }) => ({
  ...(served.appendRecords ? { appendRecords: appendRecords(context) } : {}),
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

/**
 * The expected states a consistency check may name (ConsistencyCheckValidator.cs): a revision, or
 * NO_STREAM (-1), EXISTS (-4), DELETED (-5), TOMBSTONED (-6). ANY (-2) is refused.
 */
const checkStates = new Set([-1n, -4n, -5n, -6n])

const invalid = (field: string, description: string) => badRequest("AppendRecordsRequest", field, description)

/**
 * AppendRecords (StreamsService.cs, `AppendRecordsCommand`). The checks register first, each stream
 * once (its state becomes that stream's expected version also when records are written to it); a
 * record's stream that no check names is expected `any`. TOMBSTONED is sent to the writer as
 * `DeletedStream`. Every failing stream is reported (`AppendConsistencyViolationErrorDetails`), with
 * its actual state: a revision, -1 (no stream), -5 (soft-deleted, for an EXISTS check) or -6
 * (tombstoned).
 */
const appendRecords =
  (context: HandlerContext) =>
  (call: grpc.ServerUnaryCall<AppendRecordsRequest, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    if (context.faults.unavailable) return callback(unavailableError())
    const request = call.request
    // AppendRecordsRequestValidator.cs and ConsistencyCheckValidator.cs.
    if (request.getRecordsList().length === 0) {
      return callback(invalid("Records", "Append records request must contain at least one record."))
    }
    const streams: Array<{ stream: string; expected: bigint; checked: bigint | undefined }> = []
    const index = new Map<string, number>() // OrdinalIgnoreCase, as the command's StreamIndex
    for (const check of request.getChecksList()) {
      const state = check.getStreamState()
      if (state === undefined) return callback(invalid("Checks", "Each consistency check must specify a type."))
      const stream = state.getStream()
      if (stream === "") return callback(invalid("Checks", "Stream name must not be empty."))
      const expected = BigInt(state.getExpectedState() ?? "0")
      if (expected < 0n && !checkStates.has(expected)) {
        return callback(invalid(
          "Checks",
          "Expected state must be positive or one of the allowed constants: NoStream (-1), Exists (-4), Deleted (-5), or Tombstoned (-6). Any (-2) is not allowed."
        ))
      }
      if (index.has(stream.toLowerCase())) {
        return callback(invalid("Checks", "Each stream can only appear once in consistency checks."))
      }
      index.set(stream.toLowerCase(), streams.length)
      streams.push({ stream, expected: expected === -6n ? deletedStream : expected, checked: expected })
    }
    const records: Array<{ index: number; event: Proposed }> = []
    let total = 0
    for (const record of request.getRecordsList()) {
      const stream = record.getStream()
      if (stream === "") return callback(invalid("Records", "Stream name must not be empty."))
      const event = eventOf(record)
      if (event instanceof Error) return callback(event)
      const size = sizeOnDisk(event)
      if (size > maxAppendEventSize) {
        return callback(richError(
          grpc.status.INVALID_ARGUMENT,
          `Record ${event.id} in stream '${stream}' is ${size} bytes, over the maximum of ${maxAppendEventSize} bytes.`,
          "kurrentdb.protocol.v2.streams.errors.AppendRecordSizeExceededErrorDetails",
          new P.errorsV2.AppendRecordSizeExceededErrorDetails()
            .setStream(stream).setRecordId(event.id).setSize(size).setMaxSize(maxAppendEventSize)
        ))
      }
      if ((total += size) > maxAppendSize) {
        return callback(richError(
          grpc.status.ABORTED,
          `The append transaction is ${total} bytes, over the maximum of ${maxAppendSize} bytes.`,
          "kurrentdb.protocol.v2.streams.errors.AppendTransactionSizeExceededErrorDetails",
          new P.errorsV2.AppendTransactionSizeExceededErrorDetails().setSize(total).setMaxSize(maxAppendSize)
        ))
      }
      let at = index.get(stream.toLowerCase())
      if (at === undefined) {
        at = streams.length
        index.set(stream.toLowerCase(), at)
        streams.push({ stream, expected: ExpectedVersion.any, checked: undefined })
      }
      records.push({ index: at, event })
    }
    const result = context.database.writeRecords(streams, records)
    if (result.length > 0 && "decision" in result[0]) {
      return callback(violations(result as ReadonlyArray<WriteFailure>, streams))
    }
    const response = new P.streamsV2.AppendRecordsResponse()
    let position = -1n
    for (const written of result as ReadonlyArray<WriteResult>) {
      response.addRevisions(
        new P.streamsV2.StreamRevision().setStream(written.stream).setRevision(written.last.toString())
      )
      if (written.position > position) position = written.position
    }
    response.setPosition(position.toString())
    callback(null, response)
  }

/** `ApiErrors.AppendConsistencyViolation`: FAILED_PRECONDITION, one violation per failing stream. */
const violations = (
  failures: ReadonlyArray<WriteFailure>,
  streams: ReadonlyArray<{ stream: string; checked: bigint | undefined }>
): grpc.ServiceError => {
  const details = new P.errorsV2.AppendConsistencyViolationErrorDetails()
  const lines: Array<string> = []
  for (const failure of failures) {
    const decision = failure.decision
    const actual = decision._tag === "StreamDeleted"
      ? decision.tombstoned ? -6n : -5n
      : decision.current === deletedStream
      ? -6n
      : decision.current
    const expected = streams[failure.index].checked ?? ExpectedVersion.any
    details.addViolations(
      new P.errorsV2.ConsistencyViolation().setCheckIndex(failure.index).setStreamState(
        new P.errorsV2.ConsistencyViolation.StreamStateViolation()
          .setStream(failure.stream)
          .setExpectedState(expected.toString())
          .setActualState(actual.toString())
      )
    )
    lines.push(` - ${failure.stream}: expected ${expected}, actual ${actual}.`)
  }
  return richError(
    grpc.status.FAILED_PRECONDITION,
    ["Append failed due to consistency violations.", ...lines].join("\n"),
    "kurrentdb.protocol.v2.streams.errors.AppendConsistencyViolationErrorDetails",
    details
  )
}
