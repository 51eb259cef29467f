/**
 * The v1 Streams service (`event_store.client.streams.Streams`): Read (in reads.ts; a throw there
 * answers INTERNAL), Append, Delete, Tombstone and BatchAppend (in batchAppend.ts). A server started
 * in the older mode answers BatchAppend UNIMPLEMENTED and does not advertise it, so the client
 * appends with Append.
 */
import * as grpc from "@grpc/grpc-js"
import {
  type Database,
  ExpectedVersion,
  maxAppendEventSize,
  maxAppendSize,
  type Proposed,
  sizeOnDisk
} from "../Database.ts"
import * as P from "../protocol.ts"
import { batchAppend } from "./batchAppend.ts"
import {
  expectedOfAppend,
  parseGuid,
  positionOf,
  type ReadReq,
  type ReadResp,
  streamName,
  uuidString
} from "./codec.ts"
import { collecting, type HandlerContext } from "./context.ts"
import {
  invalidArgument,
  maxAppendEventSizeExceeded,
  maxAppendSizeExceeded,
  messageTooLarge,
  streamDeleted,
  unavailable,
  wrongExpectedVersion
} from "./errors.ts"
import { read } from "./reads.ts"

type AppendReq = InstanceType<typeof P.streams.AppendReq>

/** What Delete and Tombstone read from their request's options. */
type RemovalOptions = Parameters<typeof expectedOfAppend>[0] & {
  getStreamIdentifier(): InstanceType<typeof P.shared.StreamIdentifier> | undefined
}

/**
 * `TFConsts.EffectiveMaxLogRecordSize`: the v1 Streams service's `MaxReceiveMessageSize`
 * (ClusterVNodeStartup.cs). Append sends one message per event, so this bounds an event.
 */
export const maxReceiveMessageSize = 16 * 1024 * 1024 - 10_000

export const streamsService = (context: HandlerContext, options: { readonly batchAppend: boolean }) => {
  const handleRead = read(context)
  return {
    read: (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => {
      try {
        handleRead(call)
      } catch (error) {
        if (process.env.KURRENT_EMULATOR_DEBUG) console.error("emulator Read failed", error)
        call.emit("error", { code: grpc.status.INTERNAL, details: String(error), metadata: new grpc.Metadata() })
      }
    },
    append: append(context),
    delete: removal<InstanceType<typeof P.streams.DeleteReq>>(
      context,
      (stream, expected) => context.database.softDelete(stream, expected),
      (position) => new P.streams.DeleteResp().setPosition(positionOf(P.streams.DeleteResp.Position, position))
    ),
    tombstone: removal<InstanceType<typeof P.streams.TombstoneReq>>(
      context,
      (stream, expected) => context.database.tombstone(stream, expected),
      (position) => new P.streams.TombstoneResp().setPosition(positionOf(P.streams.TombstoneResp.Position, position))
    ),
    batchAppend: options.batchAppend ? batchAppend(context) : (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "BatchAppend is not served in the older mode" })
    }
  }
}

const appendResponse = (
  stream: string,
  expected: bigint,
  result: ReturnType<Database["write"]>
): InstanceType<typeof P.streams.AppendResp> | grpc.ServiceError => {
  if (!Array.isArray(result)) {
    const failure = result as Exclude<ReturnType<Database["write"]>, ReadonlyArray<unknown>>
    if (failure.decision._tag === "StreamDeleted") return streamDeleted(stream)
    const wrong = new P.streams.AppendResp.WrongExpectedVersion()
    const current = failure.decision.current
    if (current >= 0n) {
      wrong.setCurrentRevision(current.toString())
      wrong.setCurrentRevision2060(Number(current))
    } else {
      wrong.setCurrentNoStream(new P.shared.Empty())
      wrong.setNoStream2060(new P.shared.Empty())
    }
    if (expected >= 0n) wrong.setExpectedRevision(expected.toString())
    else if (expected === ExpectedVersion.noStream) wrong.setExpectedNoStream(new P.shared.Empty())
    else if (expected === ExpectedVersion.streamExists) wrong.setExpectedStreamExists(new P.shared.Empty())
    else wrong.setExpectedAny(new P.shared.Empty())
    return new P.streams.AppendResp().setWrongExpectedVersion(wrong)
  }
  const [written] = result as ReadonlyArray<{ last: bigint; position: bigint }>
  // Streams.Append.cs: -1 is answered as no_stream / no_position, never written into the unsigned fields.
  const success = new P.streams.AppendResp.Success()
  if (written.last >= 0n) success.setCurrentRevision(written.last.toString())
  else success.setNoStream(new P.shared.Empty())
  if (written.position >= 0n) success.setPosition(positionOf(P.streams.AppendResp.Position, written.position))
  else success.setNoPosition(new P.shared.Empty())
  return new P.streams.AppendResp().setSuccess(success)
}

/** Append: the options message, then one message per event; written when the client ends the stream. */
const append = (context: HandlerContext) =>
  collecting<AppendReq>(context, (messages, callback) => {
    const header = messages[0]?.getOptions()
    if (header === undefined) return callback(invalidArgument("Options Expected"))
    const stream = streamName(header.getStreamIdentifier())
    const expected = expectedOfAppend(header)
    const events: Array<Proposed> = []
    let size = 0
    for (const message of messages.slice(1)) {
      const proposed = message.getProposedMessage()!
      // Only a message near the limit is measured exactly (serializing every event would cost a copy).
      const rough = proposed.getData_asU8().length + proposed.getCustomMetadata_asU8().length
      if (rough > maxReceiveMessageSize - 65_536 && message.serializeBinary().length > maxReceiveMessageSize) {
        return callback(messageTooLarge())
      }
      const id = parseGuid(uuidString(proposed.getId()))
      if (id === undefined) {
        // Uuid.FromDto fails on a malformed id before anything is written.
        return callback(invalidArgument("Invalid event id"))
      }
      const map = proposed.getMetadataMap()
      const event: Proposed = {
        id,
        type: map.get("type") ?? "",
        contentType: map.get("content-type") ?? "application/octet-stream",
        data: proposed.getData_asU8(),
        metadata: proposed.getCustomMetadata_asU8()
      }
      // Streams.Append.cs: each event against MaxAppendEventSize, the running total against MaxAppendSize.
      const eventSize = sizeOnDisk(event)
      if (eventSize > maxAppendEventSize) return callback(maxAppendEventSizeExceeded(id, eventSize, maxAppendEventSize))
      size += eventSize
      if (size > maxAppendSize) return callback(maxAppendSizeExceeded(maxAppendSize))
      events.push(event)
    }
    const response = appendResponse(stream, expected, context.database.write([{ stream, expected, events }]))
    if (response instanceof Error) callback(response)
    else callback(null, response)
  })

/** Delete or Tombstone: both report a wrong expected version as a failed "Delete". */
const removal = <Req extends { getOptions(): RemovalOptions | undefined }>(
  context: HandlerContext,
  remove: (stream: string, expected: bigint) => ReturnType<Database["softDelete"]>,
  respond: (position: bigint) => unknown
) =>
(
  call: grpc.ServerUnaryCall<Req, unknown>,
  callback: grpc.sendUnaryData<unknown>
) => {
  if (context.faults.unavailable) return callback(unavailable())
  const options = call.request.getOptions()!
  const stream = streamName(options.getStreamIdentifier())
  const expected = expectedOfAppend(options)
  const result = remove(stream, expected)
  if ("_tag" in result) {
    return callback(
      result._tag === "StreamDeleted"
        ? streamDeleted(stream)
        : wrongExpectedVersion("Delete", stream, expected, result.current)
    )
  }
  callback(null, respond(result.position))
}
