/**
 * v1 Streams BatchAppend, the path a client takes whenever the server advertises it (every server
 * since 21.10): one long-lived duplex call per client; each append is a correlation id, an `Options`
 * message and batches of proposed messages up to `is_final`; each is answered on the same call with
 * a `BatchAppendResp` carrying either a success or a google.rpc.Status whose packed detail tells the
 * failure. Transcribed from `Streams.BatchAppend.cs` (`BatchAppendWorker.Receive`), `BatchAppendResp.cs`
 * (`Success.Completed`), `Status.cs` and `WrongExpectedVersion.cs` (`WrongExpectedVersion.Create`).
 */
import type * as grpc from "@grpc/grpc-js"
import {
  type Database,
  ExpectedVersion,
  maxAppendEventSize,
  maxAppendSize,
  type Proposed,
  sizeOnDisk,
  type WriteFailure,
  type WriteResult
} from "../Database.ts"
import * as P from "../protocol.ts"
import { identifierOf, parseGuid, positionOf, streamName, uuidString } from "./codec.ts"
import type { HandlerContext } from "./context.ts"
import { batchStatus, unavailable } from "./errors.ts"

type BatchAppendReq = InstanceType<typeof P.streams.BatchAppendReq>
type BatchAppendResp = InstanceType<typeof P.streams.BatchAppendResp>
type Options = InstanceType<typeof P.streams.BatchAppendReq.Options>

/** google.rpc.Code values the statuses use (code.proto). */
const Code = { invalidArgument: 3, deadlineExceeded: 4, notFound: 5, alreadyExists: 6 } as const

/** `Database.WriteTimeoutMs`' default: the longest a write may take, whatever deadline the client asks for. */
const writeTimeoutMs = 2_000

interface Pending {
  readonly stream: string
  readonly expected: bigint
  readonly events: Array<Proposed>
  size: number
}

export const batchAppend =
  (context: HandlerContext) => (call: grpc.ServerDuplexStream<BatchAppendReq, BatchAppendResp>): void => {
    const pending = new Map<string, Pending>()
    // A node going away ends the whole call: the client fails every append still waiting on it.
    const drop = () => {
      context.live.delete(drop)
      call.emit("error", unavailable())
    }
    context.live.add(drop)
    call.on("error", () => context.live.delete(drop))
    call.on("cancelled", () => context.live.delete(drop))
    call.on("end", () => {
      context.live.delete(drop)
      call.end()
    })
    call.on("data", (request: BatchAppendReq) => {
      if (context.faults.unavailable) return drop()
      const correlation = request.getCorrelationId()
      const key = uuidString(correlation) ?? ""
      const respond = (stream: string, fill: (resp: BatchAppendResp) => void) => {
        const resp = new P.streams.BatchAppendResp()
        if (correlation !== undefined) resp.setCorrelationId(correlation)
        resp.setStreamIdentifier(identifierOf(stream))
        fill(resp)
        call.write(resp)
      }
      const options = request.getOptions()
      if (options !== undefined) {
        const stream = streamName(options.getStreamIdentifier())
        if (!options.hasStreamIdentifier()) {
          return respond(stream, (resp) => resp.setError(badRequest("Required field StreamIdentifier not set.")))
        }
        if (Math.min(requestedTimeoutMs(options), writeTimeoutMs) <= 0) {
          return respond(
            stream,
            (resp) =>
              resp.setError(
                batchStatus(Code.deadlineExceeded, "Timeout", "event_store.client.Timeout", new P.shared.Timeout())
              )
          )
        }
        if (!pending.has(key)) pending.set(key, { stream, expected: expectedOf(options), events: [], size: 0 })
      }
      const write = pending.get(key)
      if (write === undefined) return
      for (const message of request.getProposedMessagesList()) {
        const id = parseGuid(uuidString(message.getId()))
        if (id === undefined) {
          // Uuid.FromDto throws inside the loop: the catch answers BadRequest with the exception's message.
          pending.delete(key)
          return respond(write.stream, (resp) => resp.setError(badRequest("Invalid event id")))
        }
        const map = message.getMetadataMap()
        const event: Proposed = {
          id,
          type: map.get("type") ?? "",
          contentType: map.get("content-type") ?? "application/octet-stream",
          data: message.getData_asU8(),
          metadata: message.getCustomMetadata_asU8()
        }
        const size = sizeOnDisk(event)
        if (size > maxAppendEventSize) {
          pending.delete(key)
          return respond(write.stream, (resp) => resp.setError(eventTooLarge(id, size)))
        }
        write.size += size
        write.events.push(event)
      }
      if (write.size > maxAppendSize) {
        pending.delete(key)
        const detail = new P.shared.MaximumAppendSizeExceeded().setMaxappendsize(maxAppendSize)
        return respond(write.stream, (resp) =>
          resp.setError(
            batchStatus(
              Code.invalidArgument,
              "MaximumAppendSizeExceeded",
              "event_store.client.MaximumAppendSizeExceeded",
              detail
            )
          ))
      }
      if (!request.getIsFinal()) return
      pending.delete(key)
      const result = context.database.write([{ stream: write.stream, expected: write.expected, events: write.events }])
      respond(write.stream, (resp) => answer(resp, write, result))
    })
  }

/** The write's outcome as BatchAppend reports it. */
const answer = (resp: BatchAppendResp, write: Pending, result: ReturnType<Database["write"]>): void => {
  if (!Array.isArray(result)) {
    const failure = result as WriteFailure
    if (failure.decision._tag === "StreamDeleted") {
      // OperationResult.StreamDeleted: a tombstone, or a soft-deleted stream expected to exist.
      const detail = new P.shared.StreamDeleted().setStreamIdentifier(identifierOf(write.stream))
      resp.setError(batchStatus(Code.notFound, "StreamDeleted", "event_store.client.StreamDeleted", detail))
      return
    }
    resp.setError(
      batchStatus(
        Code.alreadyExists,
        "WrongExpectedVersion",
        "event_store.client.WrongExpectedVersion",
        wrongExpectedVersion(failure.decision.current, write.expected)
      )
    )
    return
  }
  const [written] = result as ReadonlyArray<WriteResult>
  // Success.Completed: a revision or no_stream, a position or no_position.
  const success = new P.streams.BatchAppendResp.Success()
  if (written.last >= 0n) success.setCurrentRevision(written.last.toString())
  else success.setNoStream(new P.empty.Empty())
  if (written.position >= 0n) success.setPosition(positionOf(P.shared.AllStreamPosition, written.position))
  else success.setNoPosition(new P.empty.Empty())
  resp.setSuccess(success)
}

/** `WrongExpectedVersion.Create`: -1 (`StreamRevision.End`) is "current no stream". */
const wrongExpectedVersion = (current: bigint, expected: bigint) => {
  const detail = new P.shared.WrongExpectedVersion()
  if (current >= 0n) detail.setCurrentStreamRevision(current.toString())
  else detail.setCurrentNoStream(new P.empty.Empty())
  if (expected === ExpectedVersion.any) detail.setExpectedAny(new P.empty.Empty())
  else if (expected === ExpectedVersion.noStream) detail.setExpectedNoStream(new P.empty.Empty())
  else if (expected === ExpectedVersion.streamExists) detail.setExpectedStreamExists(new P.empty.Empty())
  else detail.setExpectedStreamPosition(expected.toString())
  return detail
}

/** `Status.BadRequest`. */
const badRequest = (message: string) =>
  batchStatus(
    Code.invalidArgument,
    "BadRequest",
    "event_store.client.BadRequest",
    new P.shared.BadRequest().setMessage(message)
  )

/**
 * `Status.MaximumAppendEventSizeExceeded`. The client's generated code predates this detail
 * (shared.proto: eventId = 1, proposedEventSize = 2, maxAppendEventSize = 3), so it is encoded here.
 */
const eventTooLarge = (eventId: string, size: number) => {
  const writer = new P.jspb.BinaryWriter()
  writer.writeString(1, eventId)
  writer.writeUint32(2, size)
  writer.writeUint32(3, maxAppendEventSize)
  return batchStatus(
    Code.invalidArgument,
    "MaximumAppendEventSizeExceeded",
    "event_store.client.MaximumAppendEventSizeExceeded",
    writer.getResultBuffer()
  )
}

const expectedOf = (options: Options): bigint =>
  options.hasStreamPosition()
    ? BigInt(options.getStreamPosition())
    : options.hasNoStream()
    ? ExpectedVersion.noStream
    : options.hasStreamExists()
    ? ExpectedVersion.streamExists
    : ExpectedVersion.any

/** `GetRequestedTimeout`: a duration, or the time left until the (older) deadline timestamp; none is forever. */
const requestedTimeoutMs = (options: Options): number => {
  if (options.hasDeadline()) {
    const d = options.getDeadline()!
    return d.getSeconds() * 1_000 + d.getNanos() / 1e6
  }
  const deadline = options.getDeadline21100()
  return deadline === undefined ? Number.POSITIVE_INFINITY : deadline.toDate().getTime() - Date.now()
}
