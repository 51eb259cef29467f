/**
 * Spans on every store operation. Core wraps every backend's services with {@link eventStore} and
 * {@link documentStore}, so every backend reports the same span names and attributes:
 * `strata.<operation>` with `strata.backend`, `strata.stream` / `strata.collection` and, for
 * appends, `strata.event.count`.
 *
 * Every such span is a database client span by the OpenTelemetry semantic conventions (kind
 * `client`, attributes named in `Otel`): `db.system.name` (from the backend's name, see
 * `Otel.dbSystemName`), `db.operation.name` (the store operation: `append`, `read`, `get`, ...),
 * `db.collection.name` for documents, and `db.namespace`, `server.address`, `server.port` where the
 * backend passes its {@link Otel.Connection}.
 *
 * Stream operations (`read`, `readAll`, `subscribe`, `subscribeAll`, documents' `find`) have a span
 * that lasts as long as the stream is consumed; it is made only when a tracer that exports spans is
 * installed (any tracer other than Effect's default one, as for consumers' spans), so an idle
 * subscription holds no span nobody will see.
 *
 * The same wrappers fill every appended event's trace and causation metadata (`traceId` and
 * `spanId` of the caller's span, `causationId` / `correlationId` from `Event.CurrentCausation`)
 * before the backend sees it, so every backend stores the same ids (`Event.withContextMetadata`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { DocumentStoreShape } from "../DocumentStore.ts"
import * as Event from "../Event.ts"
import type { AppendRequest, EventStoreShape, SubscribeAllOptions, SubscribeOptions } from "../EventStore.ts"
import * as DecoratedStream from "../internal/decoratedStream.ts"
import * as Otel from "./Otel.ts"

// captureStackTrace: false: the captured frame would always be this line (Tracing.ts), and taking it
// costs a `new Error()` per operation (~3 us). Effect's own library spans do the same.
const span = (name: string, attributes: Record<string, unknown>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.withSpan(effect, name, { attributes, kind: "client", captureStackTrace: false })

// A stream's span, as `Stream.withSpan` makes it (started when the stream starts, the parent of
// everything the stream does, ended with its exit) without its bracket, and run in the same pull as
// Retry's resumption and Metrics' count when they decorate the same stream (internal/decoratedStream:
// an idle subscription held ~4.9 KB more under `Stream.withSpan`; issue 23, many subscribers). The
// span ends at the first of: the pull failing or finishing, the stream's scope closing (interrupted,
// or taken from and dropped).
const streamSpan = (name: string, attributes: Record<string, unknown>, stream?: string) =>
<A, E, R>(
  self: Stream.Stream<A, E, R>
): Stream.Stream<A, E, R> => DecoratedStream.withSpan(self, { name, attributes, stream })

// Where a subscription to one stream starts: the stream and its options.
interface StreamAt {
  readonly stream: string
  readonly options: SubscribeOptions | undefined
}

const noCounters: ReadonlyArray<never> = []

const withRequestsMetadata = <A, E, R>(
  requests: ReadonlyArray<AppendRequest>,
  f: (requests: ReadonlyArray<AppendRequest>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    const filled = Event.contextMetadata(fiber)
    return f(
      filled === undefined || !Array.isArray(requests)
        ? requests
        : requests.map((request) =>
          typeof request === "object" && request !== null
            ? { ...request, events: Event.fillMetadata(request.events, filled) }
            : request
        )
    )
  })

/**
 * Wraps every EventStore operation in a span. `connection` names where the backend's operations go
 * (`db.namespace`, `server.address`, `server.port`); without it the spans carry `db.system.name`
 * from the backend's name only.
 *
 * @category combinators
 * @since 0.1.0
 */
export const eventStore = (self: EventStoreShape, connection?: Otel.Connection | undefined): EventStoreShape => {
  const db = Otel.connectionAttributes(self.backend, connection)
  const on = (operation: string) => ({ ...db, [Otel.Attr.dbOperationName]: operation, "strata.backend": self.backend })
  const attrs = {
    append: on("append"),
    appendMany: on("appendMany"),
    read: on("read"),
    readAll: on("readAll"),
    subscribe: on("subscribe"),
    subscribeAll: on("subscribeAll"),
    streamInfo: on("streamInfo"),
    deleteStream: on("deleteStream"),
    tombstoneStream: on("tombstoneStream"),
    setRetention: on("setRetention"),
    saveSnapshot: on("saveSnapshot"),
    loadSnapshot: on("loadSnapshot"),
    saveCheckpoint: on("saveCheckpoint"),
    loadCheckpoint: on("loadCheckpoint")
  }
  const onStream = (operation: keyof typeof attrs, stream: string) => ({ ...attrs[operation], "strata.stream": stream })
  // A subscription opens the backend's stream when it starts (a plan whose state names the stream),
  // not when it is made: over an opaque stream the span's plan held the backend's stream and its
  // source for as long as the subscription lived (~0.65 KB per idle subscription with spans and
  // metrics but no retry; issue 23, many subscribers).
  const subscribeAt = (at: StreamAt) => self.subscribe(at.stream, at.options)
  const subscribeAllFrom = (options: SubscribeAllOptions | undefined) => self.subscribeAll(options)
  const subscribeAllSpan: DecoratedStream.SpanPlan = { name: "strata.subscribeAll", attributes: attrs.subscribeAll }
  return {
    ...self,
    // Metadata is filled outside the span: `spanId` names the caller's span, not strata.append.
    append: (stream, events, options) =>
      Event.withContextMetadata(events, (filled) =>
        self.append(stream, filled, options).pipe(
          span("strata.append", { ...onStream("append", stream), "strata.event.count": events?.length })
        )),
    appendMany: (requests) =>
      withRequestsMetadata(requests, (filled) =>
        self.appendMany(filled).pipe(
          span("strata.appendMany", {
            ...attrs.appendMany,
            "strata.stream.count": requests?.length,
            "strata.event.count": Array.isArray(requests)
              ? requests.reduce((n, r) => n + (r?.events?.length ?? 0), 0)
              : undefined
          })
        )),
    read: (stream, options) => self.read(stream, options).pipe(streamSpan("strata.read", attrs.read, stream)),
    readAll: (options) => self.readAll(options).pipe(streamSpan("strata.readAll", attrs.readAll)),
    subscribe: (stream, options) =>
      DecoratedStream.make({
        initial: { stream, options },
        open: subscribeAt,
        span: { name: "strata.subscribe", attributes: attrs.subscribe, stream },
        counters: noCounters
      }),
    subscribeAll: (options) =>
      DecoratedStream.make({ initial: options, open: subscribeAllFrom, span: subscribeAllSpan, counters: noCounters }),
    streamInfo: (stream) => self.streamInfo(stream).pipe(span("strata.streamInfo", onStream("streamInfo", stream))),
    deleteStream: (stream, options) =>
      self.deleteStream(stream, options).pipe(span("strata.deleteStream", onStream("deleteStream", stream))),
    tombstoneStream: (stream, options) =>
      self.tombstoneStream(stream, options).pipe(span("strata.tombstoneStream", onStream("tombstoneStream", stream))),
    setRetention: (stream, patch) =>
      self.setRetention(stream, patch).pipe(span("strata.setRetention", onStream("setRetention", stream))),
    saveSnapshot: (stream, snapshot) =>
      self.saveSnapshot(stream, snapshot).pipe(span("strata.saveSnapshot", onStream("saveSnapshot", stream))),
    loadSnapshot: (stream) =>
      self.loadSnapshot(stream).pipe(span("strata.loadSnapshot", onStream("loadSnapshot", stream))),
    saveCheckpoint: (name, position) =>
      self.saveCheckpoint(name, position).pipe(
        span("strata.saveCheckpoint", { ...attrs.saveCheckpoint, "strata.checkpoint": name })
      ),
    loadCheckpoint: (name) =>
      self.loadCheckpoint(name).pipe(
        span("strata.loadCheckpoint", { ...attrs.loadCheckpoint, "strata.checkpoint": name })
      )
  }
}

/**
 * Wraps every DocumentStore operation in a span (`db.collection.name` is the collection's name,
 * `db.operation.name` the operation: `get`, `put`, `find`, ...). `connection` as for {@link eventStore}.
 *
 * @category combinators
 * @since 0.1.0
 */
export const documentStore = (
  self: DocumentStoreShape,
  connection?: Otel.Connection | undefined
): DocumentStoreShape => {
  const db = Otel.connectionAttributes(self.backend, connection)
  const at = (operation: string) => (collection: { readonly name: string }, id?: string) => ({
    ...db,
    [Otel.Attr.dbOperationName]: operation,
    [Otel.Attr.dbCollectionName]: collection?.name,
    "strata.backend": self.backend,
    "strata.collection": collection?.name,
    ...(id === undefined ? {} : { "strata.document.id": id })
  })
  const get = at("get"), put = at("put"), getMany = at("getMany"), writeMany = at("writeMany")
  const remove = at("delete"), find = at("find"), findPage = at("findPage"), count = at("count")
  return {
    ...self,
    get: (collection, id) => self.get(collection, id).pipe(span("strata.document.get", get(collection, id))),
    put: (collection, id, value, options) =>
      options?.events === undefined
        ? self.put(collection, id, value, options).pipe(span("strata.document.put", put(collection, id)))
        : withRequestsMetadata(options.events, (events) =>
          self.put(collection, id, value, { ...options, events }).pipe(
            span("strata.document.put", put(collection, id))
          )),
    getMany: (collection, ids) =>
      self.getMany(collection, ids).pipe(
        span("strata.document.getMany", { ...getMany(collection), "strata.document.count": ids?.length })
      ),
    writeMany: (collection, writes) =>
      self.writeMany(collection, writes).pipe(
        span("strata.document.writeMany", { ...writeMany(collection), "strata.document.count": writes?.length })
      ),
    delete: (collection, id, options) =>
      self.delete(collection, id, options).pipe(span("strata.document.delete", remove(collection, id))),
    find: (collection, query) =>
      self.find(collection, query).pipe(streamSpan("strata.document.find", find(collection))),
    findPage: (collection, query) =>
      self.findPage(collection, query).pipe(span("strata.document.findPage", findPage(collection))),
    count: (collection, query) => self.count(collection, query).pipe(span("strata.document.count", count(collection)))
  }
}
