// How a supervised consumer tells its failures apart and describes them: the handler's failure
// tagged with the event it failed on, and the texts, tags and log annotations of errors and events.
import type * as Cause from "effect/Cause"
import type { RecordedEvent } from "../../../Event.ts"
import type { FailedEvent } from "./model.ts"

// A handler's failure, tagged with the event it failed on.
export class HandlerFailure {
  readonly event: RecordedEvent
  readonly cause: Cause.Cause<unknown>
  constructor(event: RecordedEvent, cause: Cause.Cause<unknown>) {
    this.event = event
    this.cause = cause
  }
}

export const describe = (error: unknown): string =>
  error instanceof Error && error.message !== ""
    ? error.message
    : typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : typeof error === "string"
    ? error
    : String(error)

// The `error` attribute of `strata_consumer_failures_total`.
export const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : "Unknown"

export const failedEvent = (event: RecordedEvent): FailedEvent => ({
  stream: event.stream,
  version: event.version,
  position: event.position,
  type: event.type,
  id: event.id
})

export const eventAnnotations = (event: FailedEvent | undefined) =>
  event === undefined ? {} : {
    "strata.event.stream": event.stream,
    "strata.event.version": String(event.version),
    "strata.event.position": String(event.position),
    "strata.event.type": event.type
  }

export const showEvent = (event: FailedEvent) =>
  `event ${event.type} ${JSON.stringify(event.stream)}@${event.version} (position ${event.position})`
