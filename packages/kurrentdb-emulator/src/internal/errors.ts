/**
 * The gRPC errors the emulator answers with, built as the real server builds them: the v1
 * exceptions (`RpcExceptions`) carry their kind and details in metadata, the v2 ones a
 * google.rpc.Status in `grpc-status-details-bin`.
 */
import * as grpc from "@grpc/grpc-js"
import * as P from "../protocol.ts"

const metadata = (entries: Record<string, string>): grpc.Metadata => {
  const m = new grpc.Metadata()
  for (const [key, value] of Object.entries(entries)) m.set(key, value)
  return m
}

/** `RpcExceptions.StreamDeleted`. */
export const streamDeleted = (stream: string): grpc.ServiceError =>
  Object.assign(new Error(`Event stream '${stream}' is deleted.`), {
    code: grpc.status.FAILED_PRECONDITION,
    details: `Event stream '${stream}' is deleted.`,
    metadata: metadata({ exception: "stream-deleted", "stream-name": stream })
  })

/** `RpcExceptions.WrongExpectedVersion`: `actual-version` is empty when the stream has no events. */
export const wrongExpectedVersion = (
  operation: string,
  stream: string,
  expected: bigint,
  actual: bigint
): grpc.ServiceError => {
  const details =
    `${operation} failed due to WrongExpectedVersion. Stream: ${stream}, Expected version: ${expected}, Actual version: ${
      actual < 0n ? "" : actual
    }`
  return Object.assign(new Error(details), {
    code: grpc.status.FAILED_PRECONDITION,
    details,
    metadata: metadata({
      exception: "wrong-expected-version",
      "stream-name": stream,
      "expected-version": expected.toString(),
      "actual-version": actual < 0n ? "" : actual.toString()
    })
  })
}

export const unavailable = (): grpc.ServiceError =>
  Object.assign(new Error("Server Is Not Ready"), {
    code: grpc.status.UNAVAILABLE,
    details: "Server Is Not Ready",
    metadata: new grpc.Metadata()
  })

/** INVALID_ARGUMENT with empty metadata; `details` (what the client reports) defaults to the message. */
export const invalidArgument = (message: string, details: string = message): grpc.ServiceError =>
  Object.assign(new Error(message), {
    code: grpc.status.INVALID_ARGUMENT,
    details,
    metadata: new grpc.Metadata()
  })

/** A v2 error: the code, and a google.rpc.Status with one detail in `grpc-status-details-bin` (`RpcExceptions.FromError`). */
export const richError = (
  code: grpc.status,
  message: string,
  typeName: string,
  detail: { serializeBinary(): Uint8Array }
): grpc.ServiceError => {
  const any = new P.any.Any()
  any.setTypeUrl(`type.googleapis.com/${typeName}`)
  any.setValue(detail.serializeBinary())
  const status = new P.status.Status()
  status.setCode(code as number as Parameters<typeof status.setCode>[0])
  status.setMessage(message)
  status.setDetails(any)
  const m = new grpc.Metadata()
  m.set("grpc-status-details-bin", Buffer.from(status.serializeBinary()))
  return Object.assign(new Error(message), { code, details: message, metadata: m })
}

/** `RpcExceptions.MaxAppendEventSizeExceeded` (v1 Append). */
export const maxAppendEventSizeExceeded = (eventId: string, proposed: number, max: number): grpc.ServiceError => {
  const details = `Event with Id: ${eventId}, Size: ${proposed}, exceeds Maximum Append Event Size of ${max}.`
  return Object.assign(new Error(details), {
    code: grpc.status.INVALID_ARGUMENT,
    details,
    metadata: metadata({
      exception: "maximum-append-event-size-exceeded",
      "maximum-append-event-size": String(max),
      "event-id": eventId,
      "proposed-append-event-size": String(proposed)
    })
  })
}

/** `RpcExceptions.MaxAppendSizeExceeded` (v1 Append). */
export const maxAppendSizeExceeded = (max: number): grpc.ServiceError => {
  const details = `Maximum Append Size of ${max} Exceeded.`
  return Object.assign(new Error(details), {
    code: grpc.status.INVALID_ARGUMENT,
    details,
    metadata: metadata({ exception: "maximum-append-size-exceeded", "maximum-append-size": String(max) })
  })
}

/**
 * What ASP.NET Core gRPC answers for a request message over the service's `MaxReceiveMessageSize`
 * (`TFConsts.EffectiveMaxLogRecordSize` on the v1 Streams service, ClusterVNodeStartup.cs).
 */
export const messageTooLarge = (): grpc.ServiceError =>
  Object.assign(new Error("Received message exceeds the maximum configured message size."), {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: "Received message exceeds the maximum configured message size.",
    metadata: new grpc.Metadata()
  })

/**
 * A v1 google.rpc.Status with one packed detail, as BatchAppend answers a failed write
 * (`Google.Rpc.Status` helpers in Status.cs). `detail` is a message, or already serialized bytes
 * for a detail the client's generated code does not declare.
 */
export const batchStatus = (
  code: number,
  message: string,
  typeName: string,
  detail: { serializeBinary(): Uint8Array } | Uint8Array
) => {
  const any = new P.any.Any()
  any.setTypeUrl(`type.googleapis.com/${typeName}`)
  any.setValue(detail instanceof Uint8Array ? detail : detail.serializeBinary())
  const status = new P.status.Status()
  status.setCode(code as Parameters<typeof status.setCode>[0])
  status.setMessage(message)
  status.setDetails(any)
  return status
}

/**
 * A v2 request that fails validation (RequestValidation.cs, `CreateValidationException`):
 * INVALID_ARGUMENT with a google.rpc.BadRequest of field violations. BadRequest is not in the client's
 * generated code, so it is encoded here (field_violations = 1; FieldViolation: field = 1, description = 2).
 */
export const badRequest = (requestType: string, field: string, description: string): grpc.ServiceError =>
  richError(
    grpc.status.INVALID_ARGUMENT,
    `gRPC request ${requestType} is invalid! See attached details for more information.`,
    "google.rpc.BadRequest",
    {
      serializeBinary: () => {
        const violation = new P.jspb.BinaryWriter()
        violation.writeString(1, field)
        violation.writeString(2, description)
        const writer = new P.jspb.BinaryWriter()
        writer.writeBytes(1, violation.getResultBuffer())
        return writer.getResultBuffer()
      }
    }
  )
