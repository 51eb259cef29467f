/**
 * The small state the service handlers share (the database, the fault switch behind the
 * emulator's `unavailable` property, and the live subscriptions, each by the function that drops
 * it), and the shape of the client-streaming handlers (Append, AppendSession).
 */
import type * as grpc from "@grpc/grpc-js"
import type { Database } from "../Database.ts"
import { unavailable } from "./errors.ts"

export interface HandlerContext {
  readonly database: Database
  /** While `unavailable` is true, every call is refused with UNAVAILABLE. */
  readonly faults: { readonly unavailable: boolean }
  /** One drop per live subscription: it ends that subscription with UNAVAILABLE. */
  readonly live: Set<() => void>
}

/**
 * A client-streaming handler: collects the messages and, when the client ends the stream, answers
 * UNAVAILABLE while the fault switch is on, else hands the messages and the callback to `answer`.
 */
export const collecting = <Req>(
  context: HandlerContext,
  answer: (messages: ReadonlyArray<Req>, callback: grpc.sendUnaryData<unknown>) => void
) =>
(call: grpc.ServerReadableStream<Req, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
  const messages: Array<Req> = []
  call.on("data", (message: Req) => messages.push(message))
  call.on("error", () => {})
  call.on("end", () => {
    if (context.faults.unavailable) return callback(unavailable())
    answer(messages, callback)
  })
}
