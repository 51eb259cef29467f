/**
 * The typed errors every Strata store operation can fail with.
 *
 * Each error carries what a caller needs to act on it, and says whether retrying the same
 * operation could succeed (`isRetryable`). Only {@link StoreUnavailable} is retryable: a version
 * conflict is a business decision (re-read, decide again), never something a store retries.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const id = (name: string) => `@strata/core/StoreError/${name}`

const showVersion = (version: bigint | undefined) => version === undefined ? "no stream" : `version ${version}`

/**
 * An append (or delete) asserted an expected version that the stream does not have.
 *
 * `actual` is the version of the stream's last event, or absent when the stream has no events
 * (it never existed or was soft-deleted).
 *
 * @category errors
 * @since 0.1.0
 */
export class WrongExpectedVersion extends Schema.TaggedError<WrongExpectedVersion>(id("WrongExpectedVersion"))(
  "WrongExpectedVersion",
  {
    stream: Schema.String,
    expected: Schema.String,
    actual: Schema.optional(Schema.BigInt)
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Stream ${JSON.stringify(this.stream)} expected ${this.expected} but is at ${
      showVersion(this.actual)
    }: re-read the stream and decide again`
  }
}

/**
 * The stream was tombstoned (permanently deleted), or soft-deleted where the operation needs it to exist.
 *
 * @category errors
 * @since 0.1.0
 */
export class StreamDeleted extends Schema.TaggedError<StreamDeleted>(id("StreamDeleted"))("StreamDeleted", {
  stream: Schema.String,
  tombstoned: Schema.Boolean
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return this.tombstoned
      ? `Stream ${JSON.stringify(this.stream)} is tombstoned: its name can never be used again`
      : `Stream ${JSON.stringify(this.stream)} is deleted`
  }
}

/**
 * An event id in the append already belongs to another event, and the append is not an exact retry
 * of an earlier one (same ids, same stream, same order).
 *
 * @category errors
 * @since 0.1.0
 */
export class DuplicateEvent extends Schema.TaggedError<DuplicateEvent>(id("DuplicateEvent"))("DuplicateEvent", {
  stream: Schema.String,
  eventId: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Event id ${this.eventId} is already used by another event; give each new event a fresh id (retrying the exact same append is fine)`
  }
}

/**
 * The reasons an event is refused before anything is written. `InvalidContentType`: a binary event's
 * content type is not a media type, or a JSON event was given one.
 *
 * @category models
 * @since 0.1.0
 */
export const InvalidEventReason = Schema.Literals([
  "NotJson",
  "TooLarge",
  "TooDeep",
  "InvalidType",
  "InvalidId",
  "Empty",
  "InvalidTags",
  "InvalidContentType"
])

/**
 * An event (or a batch of them) cannot be stored: its data or metadata is not plain JSON, it is
 * larger than the store allows or nested deeper than 256 levels (`TooDeep`), its type is not a
 * valid name, its content type is not a media type (`InvalidContentType`), or the batch is empty.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidEvent extends Schema.TaggedError<InvalidEvent>(id("InvalidEvent"))("InvalidEvent", {
  stream: Schema.String,
  index: Schema.optional(Schema.Number),
  reason: InvalidEventReason,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    const at = this.index === undefined ? "" : ` (event #${this.index})`
    return `Cannot append to ${JSON.stringify(this.stream)}${at}: ${this.detail}`
  }
}

/**
 * A conditional append (`condition: { failIfEventsMatch, after }`) found an event matching its query
 * appended after `after`: the decision it was made from is stale. Names the first such event (its
 * position, stream, type and tags). Nothing was written. Read the query's events again and decide
 * again (`Dcb.decide` does).
 *
 * @category errors
 * @since 0.1.0
 */
export class AppendConditionFailed extends Schema.TaggedError<AppendConditionFailed>(id("AppendConditionFailed"))(
  "AppendConditionFailed",
  {
    /** The `after` of the condition; absent when the condition had none. */
    after: Schema.optional(Schema.BigInt),
    position: Schema.BigInt,
    stream: Schema.String,
    type: Schema.String,
    tags: Schema.Array(Schema.String)
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `An event matching the append's condition was appended ${
      this.after === undefined ? "" : `after position ${this.after} `
    }(${this.type} [${this.tags.join(", ")}] in ${
      JSON.stringify(this.stream)
    } at position ${this.position}): read the query's events again and decide again`
  }
}

/**
 * A stream name is empty, too long, contains control characters or uses the reserved `$` prefix.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidStreamName extends Schema.TaggedError<InvalidStreamName>(id("InvalidStreamName"))(
  "InvalidStreamName",
  { stream: Schema.String, detail: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Invalid stream name ${JSON.stringify(this.stream)}: ${this.detail}`
  }
}

/**
 * An argument other than a stream name or an event is out of range (a negative limit, an unknown
 * direction, a retention setting that makes no sense).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>(id("InvalidArgument"))("InvalidArgument", {
  operation: Schema.String,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `${this.operation}: ${this.detail}`
  }
}

/**
 * A stored event could not be decoded with the event schema: unknown type, unknown schema version,
 * or data that does not match. Names the event exactly so it can be found and repaired.
 *
 * @category errors
 * @since 0.1.0
 */
export class EventDecodeError extends Schema.TaggedError<EventDecodeError>(id("EventDecodeError"))(
  "EventDecodeError",
  {
    stream: Schema.String,
    version: Schema.BigInt,
    position: Schema.BigInt,
    eventId: Schema.String,
    eventType: Schema.String,
    schemaVersion: Schema.Number,
    detail: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Cannot decode event ${this.eventType} v${this.schemaVersion} (${this.eventId}) at ${
      JSON.stringify(this.stream)
    }@${this.version}: ${this.detail}`
  }
}

/**
 * The backend cannot do this (for example atomic multi-stream appends on a server that lacks them).
 *
 * @category errors
 * @since 0.1.0
 */
export class Unsupported extends Schema.TaggedError<Unsupported>(id("Unsupported"))("Unsupported", {
  operation: Schema.String,
  backend: Schema.String,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `${this.operation} is not supported by the ${this.backend} backend: ${this.detail}`
  }
}

/**
 * The backend could not be reached or aborted the operation for a transient reason (connection
 * lost, serialization failure, deadlock, timeout), or its database has not been migrated yet (reason
 * `NotMigrated: ...`, naming the missing table and `strata migrate`). The operation had no effect,
 * or an effect that a retry with the same event ids repairs idempotently. The only error `withRetry`
 * retries.
 *
 * @category errors
 * @since 0.1.0
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>(id("StoreUnavailable"))(
  "StoreUnavailable",
  {
    operation: Schema.String,
    reason: Schema.String,
    cause: Schema.optional(Schema.Defect())
  }
) {
  get isRetryable(): boolean {
    return true
  }
  override get message(): string {
    // A store whose migrations have not run (reason `NotMigrated: ...`) is not a transient fault:
    // it passes once they run, and the reason says how; the log must not call it transient.
    return this.reason.startsWith("NotMigrated:")
      ? `${this.operation} failed: ${this.reason.slice("NotMigrated: ".length)}`
      : `${this.operation} failed transiently (${this.reason}); retrying may succeed`
  }
}

/**
 * A lease this process held was taken over by another holder (it expired while this one stalled, or
 * was released): work fenced by the lease (a checkpoint commit) was refused and rolled back. The
 * holder must stop and stand by; see `Lease`.
 *
 * @category errors
 * @since 0.1.0
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>(id("LeaseLost"))("LeaseLost", {
  name: Schema.String,
  holder: Schema.String,
  token: Schema.BigInt
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `the lease ${this.name} (token ${this.token}) is no longer held by ${this.holder}: another holder took over`
  }
}

/**
 * A document write asserted a version the document does not have.
 *
 * `actual` is the stored version, absent when there is no such document.
 *
 * @category errors
 * @since 0.1.0
 */
export class DocumentConflict extends Schema.TaggedError<DocumentConflict>(id("DocumentConflict"))(
  "DocumentConflict",
  {
    collection: Schema.String,
    id: Schema.String,
    expected: Schema.String,
    actual: Schema.optional(Schema.BigInt)
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Document ${this.collection}/${JSON.stringify(this.id)} expected ${this.expected} but is ${
      this.actual === undefined ? "missing" : `at version ${this.actual}`
    }: re-read it and try again`
  }
}

/**
 * A document or document id cannot be stored: it does not encode with the collection's schema, is
 * not plain JSON, is too large, or the id is empty or has control characters.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidDocument extends Schema.TaggedError<InvalidDocument>(id("InvalidDocument"))("InvalidDocument", {
  collection: Schema.String,
  id: Schema.String,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Invalid document ${this.collection}/${JSON.stringify(this.id)}: ${this.detail}`
  }
}

/**
 * A document query names a field that is not a plain path, uses an unknown operator, a value that
 * is not a scalar, or a cursor that was not produced by the same query.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>(id("InvalidQuery"))("InvalidQuery", {
  collection: Schema.String,
  detail: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Invalid query on ${this.collection}: ${this.detail}`
  }
}

/**
 * An inline projection (one registered with the store layer, run inside the append's transaction)
 * failed on an event, so the append was rolled back: neither the events nor any document were
 * written. `cause` is the projection's own error (a document that does not encode, an event that
 * does not decode, ...). Fix the projection or the event, then append again.
 *
 * @category errors
 * @since 0.1.0
 */
export class ProjectionFailed extends Schema.TaggedError<ProjectionFailed>(id("ProjectionFailed"))(
  "ProjectionFailed",
  {
    projection: Schema.String,
    stream: Schema.String,
    eventId: Schema.String,
    cause: Schema.optional(Schema.Defect())
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `Projection ${this.projection} failed on event ${this.eventId} of ${this.stream}; nothing was written: ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }`
  }
}

/**
 * Every error an EventStore operation can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type EventStoreError =
  | WrongExpectedVersion
  | AppendConditionFailed
  | StreamDeleted
  | DuplicateEvent
  | InvalidEvent
  | InvalidStreamName
  | InvalidArgument
  | Unsupported
  | ProjectionFailed
  | StoreUnavailable

/**
 * Every error a DocumentStore operation can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type DocumentStoreError =
  | DocumentConflict
  | InvalidDocument
  | InvalidQuery
  | InvalidArgument
  | Unsupported
  | StoreUnavailable
  | EventStoreError

/**
 * True for errors worth retrying unchanged (only {@link StoreUnavailable}).
 *
 * @category guards
 * @since 0.1.0
 */
export const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "StoreUnavailable"

/**
 * A store layer could not start: the database could not be reached or opened, or its migrations
 * failed. Names what it tried (`target`: host, port, database and user, or the file; never a
 * password), what went wrong and what to check.
 *
 * @category errors
 * @since 0.1.0
 */
export class StartupFailed extends Schema.TaggedError<StartupFailed>(id("StartupFailed"))("StartupFailed", {
  backend: Schema.String,
  target: Schema.String,
  problem: Schema.String,
  hint: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return `${this.backend} store could not start on ${this.target}: ${this.problem}. ${this.hint}`
  }
}
