/**
 * OpenTelemetry semantic-convention attributes for Strata's spans, in one place: the attribute
 * names, the values Strata gives them, and helpers that build the attribute records and the span
 * links every part of Strata (store spans, consumers, jobs, workflows) uses.
 *
 * No event-store conventions exist, so Strata uses two sets of the registry (semantic conventions
 * 1.38):
 * - database client spans (`strata.append`, `strata.read`, ...): `db.system.name`, `db.namespace`,
 *   `db.operation.name`, `db.collection.name` (documents), `server.address` / `server.port` where
 *   the backend knows them (never a user name or a password);
 * - messaging spans for work done on delivered events and jobs: `messaging.system` (`strata`),
 *   `messaging.destination.name`, `messaging.destination.subscription.name`,
 *   `messaging.consumer.group.name`, `messaging.operation.type` / `.name`, `messaging.message.id`,
 *   `messaging.batch.message_count`, `messaging.destination.partition.id`.
 *
 * A consumer's span is *linked* to the span that appended the event ({@link linkToProducer}): every
 * append records its caller's `traceId` and `spanId` in the event's metadata (`Event.EventMetadata`).
 *
 * Workflow spans (`StrataWorkflowEngine.run`, `.activity`, ...) run inside the span of the job that
 * runs them (`JobQueue.process`, by the messaging conventions) and name the workflow and the
 * execution with `strata.workflow.name` and `strata.workflow.execution_id`.
 *
 * @since 0.1.0
 */
import * as Tracer from "effect/Tracer"
import type { EventMetadata } from "../Event.ts"

/**
 * The attribute names Strata sets, as the semantic conventions spell them, and Strata's own for
 * workflows (`strata.workflow.*`: no convention covers them).
 *
 * @category models
 * @since 0.1.0
 */
export const Attr = {
  dbSystemName: "db.system.name",
  dbNamespace: "db.namespace",
  dbOperationName: "db.operation.name",
  dbOperationBatchSize: "db.operation.batch.size",
  dbCollectionName: "db.collection.name",
  serverAddress: "server.address",
  serverPort: "server.port",
  messagingSystem: "messaging.system",
  messagingDestinationName: "messaging.destination.name",
  messagingDestinationSubscriptionName: "messaging.destination.subscription.name",
  messagingDestinationPartitionId: "messaging.destination.partition.id",
  messagingConsumerGroupName: "messaging.consumer.group.name",
  messagingOperationType: "messaging.operation.type",
  messagingOperationName: "messaging.operation.name",
  messagingMessageId: "messaging.message.id",
  messagingMessageConversationId: "messaging.message.conversation_id",
  messagingBatchMessageCount: "messaging.batch.message_count",
  errorType: "error.type",
  workflowName: "strata.workflow.name",
  workflowExecutionId: "strata.workflow.execution_id",
  workflowOutcome: "strata.workflow.outcome",
  workflowActivityName: "strata.workflow.activity.name",
  workflowActivityAttempt: "strata.workflow.activity.attempt",
  workflowActivityReplayed: "strata.workflow.activity.replayed",
  workflowDeferredName: "strata.workflow.deferred.name"
} as const

/**
 * `messaging.system` of every Strata consumer, projection, job and workflow span: the messaging
 * system is Strata itself, whatever the backend (which `strata.backend` names).
 *
 * @category models
 * @since 0.1.0
 */
export const messagingSystem = "strata"

/**
 * `messaging.destination.name` of consumers: every consumer reads the store's global log, which
 * Strata (like KurrentDB) calls `$all`; the event's own stream is in `strata.stream`.
 *
 * @category models
 * @since 0.1.0
 */
export const allDestination = "$all"

/**
 * `db.system.name` for a backend's name. PostgreSQL and SQLite (D1 is SQLite) have registry values;
 * KurrentDB and the memory backend have none, so they get their own lowercase names (`kurrentdb`, as
 * KurrentDB's own instrumentation uses, and `strata.memory`). Any other backend keeps its name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dbSystemName = (backend: string): string => {
  switch (backend) {
    case "postgres":
    case "postgresql":
      return "postgresql"
    case "sqlite":
    case "d1":
      return "sqlite"
    case "memory":
      return "strata.memory"
    default:
      return backend
  }
}

/**
 * Where a backend's operations go, for the connection-level attributes: what a backend passes to the
 * span decorators (`Tracing.eventStore(store, connection)`). Never carries credentials.
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection {
  /** `db.system.name`; by default {@link dbSystemName} of the backend's name. */
  readonly system?: string | undefined
  /** `db.namespace`: the database (PostgreSQL: `database` or `database|schema`; SQLite: the file). */
  readonly namespace?: string | undefined
  /** `server.address`: the host name or address the client connects to. */
  readonly serverAddress?: string | undefined
  /** `server.port`. */
  readonly serverPort?: number | undefined
}

/**
 * The connection of a server URL (`postgres://user:secret@host:5433/db`, `kurrentdb://host:2113`):
 * its host, port and database (the path's first segment); the user and password are dropped.
 * `undefined` for a string that is not a URL.
 *
 * @example
 * ```ts
 * import { Otel } from "@strata/core/backend"
 *
 * Otel.connectionFromUrl("postgres://app:secret@db.internal:5433/orders", "postgres")
 * // { system: "postgresql", serverAddress: "db.internal", serverPort: 5433, namespace: "orders" }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectionFromUrl = (url: string, backend: string): Connection | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  const defaults: Record<string, number> = { "postgres:": 5432, "postgresql:": 5432, "kurrentdb:": 2113, "esdb:": 2113 }
  const port = parsed.port === "" ? defaults[parsed.protocol] : Number(parsed.port)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "").split("/")[0] ?? "")
  return {
    system: dbSystemName(backend),
    ...(parsed.hostname === "" ? {} : { serverAddress: parsed.hostname.replace(/^\[|\]$/g, "") }),
    ...(port === undefined || !Number.isFinite(port) ? {} : { serverPort: port }),
    ...(database === "" ? {} : { namespace: database })
  }
}

/**
 * The connection-level attributes of a backend: `db.system.name` always, `db.namespace`,
 * `server.address` and `server.port` when known.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectionAttributes = (backend: string, connection?: Connection | undefined): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    [Attr.dbSystemName]: connection?.system ?? dbSystemName(backend)
  }
  if (connection?.namespace !== undefined) attributes[Attr.dbNamespace] = connection.namespace
  if (connection?.serverAddress !== undefined) attributes[Attr.serverAddress] = connection.serverAddress
  if (connection?.serverPort !== undefined) attributes[Attr.serverPort] = connection.serverPort
  return attributes
}

/**
 * What a messaging span describes (see {@link messagingAttributes}).
 *
 * @category models
 * @since 0.1.0
 */
export interface Messaging {
  /** `messaging.operation.type`: `process` for handling delivered work, `send`/`create` for enqueueing, `settle` for acknowledging. */
  readonly operationType: "create" | "send" | "receive" | "process" | "settle"
  /** `messaging.operation.name`: the system's own name of the operation (`process`, `enqueue`, ...). */
  readonly operationName?: string | undefined
  /** `messaging.destination.name`: `$all` for consumers, the queue's name for jobs. */
  readonly destination: string
  /** `messaging.destination.subscription.name`: the consumer's name. */
  readonly subscription?: string | undefined
  /** `messaging.consumer.group.name`: the consumer's name (its instances share it), or the consumer group's. */
  readonly group?: string | undefined
  /** `messaging.destination.partition.id`: the partition of a consumer group. */
  readonly partition?: number | string | undefined
  /** `messaging.message.id`: the event's id, or the job's. */
  readonly messageId?: string | undefined
  /** `messaging.message.conversation_id`: the event's correlation id. */
  readonly conversationId?: string | undefined
  /** `messaging.batch.message_count`: for a span over a batch. */
  readonly batchCount?: number | undefined
}

/**
 * The messaging attributes of a span that sends, processes or settles events or jobs, with
 * `messaging.system: "strata"`. Absent fields are left out.
 *
 * @example
 * ```ts
 * import { Otel } from "@strata/core/backend"
 * import { Effect } from "effect"
 *
 * const handle = Effect.void.pipe(
 *   Effect.withSpan("process orders", {
 *     kind: "consumer",
 *     attributes: Otel.messagingAttributes({
 *       operationType: "process",
 *       destination: "orders",
 *       messageId: "0195f0c2-..."
 *     })
 *   })
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const messagingAttributes = (messaging: Messaging): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    [Attr.messagingSystem]: messagingSystem,
    [Attr.messagingOperationType]: messaging.operationType,
    [Attr.messagingOperationName]: messaging.operationName ?? messaging.operationType,
    [Attr.messagingDestinationName]: messaging.destination
  }
  if (messaging.subscription !== undefined) {
    attributes[Attr.messagingDestinationSubscriptionName] = messaging.subscription
  }
  if (messaging.group !== undefined) attributes[Attr.messagingConsumerGroupName] = messaging.group
  if (messaging.partition !== undefined) attributes[Attr.messagingDestinationPartitionId] = String(messaging.partition)
  if (messaging.messageId !== undefined) attributes[Attr.messagingMessageId] = messaging.messageId
  if (messaging.conversationId !== undefined) attributes[Attr.messagingMessageConversationId] = messaging.conversationId
  if (messaging.batchCount !== undefined) attributes[Attr.messagingBatchMessageCount] = messaging.batchCount
  return attributes
}

/**
 * The span name the messaging conventions give: `{operation name} {destination}`, e.g.
 * `process $all` or `process emails`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const messagingSpanName = (messaging: Pick<Messaging, "operationType" | "operationName" | "destination">) =>
  `${messaging.operationName ?? messaging.operationType} ${messaging.destination}`

// W3C trace context ids: 32 and 16 lowercase hex digits, not all zero.
const traceIdPattern = /^[0-9a-f]{32}$/
const spanIdPattern = /^[0-9a-f]{16}$/
const isValid = (traceId: unknown, spanId: unknown): traceId is string =>
  typeof traceId === "string" && typeof spanId === "string" && traceIdPattern.test(traceId) &&
  spanIdPattern.test(spanId) && !/^0+$/.test(traceId) && !/^0+$/.test(spanId)

/**
 * A link to the span that appended an event, from the `traceId` and `spanId` its metadata recorded;
 * `undefined` when it recorded none (appended outside a span, or with metadata given by hand that is
 * not a W3C trace context). Consumers link their spans with it, as the messaging conventions ask.
 *
 * @example
 * ```ts
 * import { Otel } from "@strata/core/backend"
 * import type { Event } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const handle = (event: Event.RecordedEvent) =>
 *   Effect.void.pipe(Effect.withSpan("handle", { links: Otel.linksToProducers([event]) }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const linkToProducer = (metadata: EventMetadata | undefined): Tracer.SpanLink | undefined => {
  const traceId = metadata?.traceId
  const spanId = metadata?.spanId
  return isValid(traceId, spanId)
    ? { span: Tracer.externalSpan({ traceId, spanId: spanId as string }), attributes: {} }
    : undefined
}

/**
 * The most links a span over a batch carries: OpenTelemetry SDKs keep 128 links per span by default
 * and drop the rest.
 *
 * @category models
 * @since 0.1.0
 */
export const maxLinks = 128

/**
 * Links to the spans that appended `events` (see {@link linkToProducer}), one per distinct span, at
 * most {@link maxLinks}.
 *
 * @category constructors
 * @since 0.1.0
 */
export const linksToProducers = (
  events: ReadonlyArray<{ readonly metadata: EventMetadata }>
): Array<Tracer.SpanLink> => {
  if (events.length === 1) {
    const link = linkToProducer(events[0].metadata)
    return link === undefined ? [] : [link]
  }
  const links: Array<Tracer.SpanLink> = []
  const seen = new Set<string>()
  for (const event of events) {
    if (links.length >= maxLinks) break
    const link = linkToProducer(event.metadata)
    if (link === undefined) continue
    const key = `${event.metadata.traceId}/${event.metadata.spanId}`
    if (seen.has(key)) continue
    seen.add(key)
    links.push(link)
  }
  return links
}
