/**
 * Declarative document projections: a typed collection kept up to date from events by a pure
 * `evolve(current | undefined, event) -> next | Delete`.
 *
 * A projection declares its events with an `EventCodec`: it handles only those types, and the
 * consumer filter comes from the same declaration ({@link Projection.filter}), so the two cannot
 * drift. Two shapes:
 * - {@link singleStream}: one document per stream; the document id is the stream name (or
 *   `id(stream)`).
 * - {@link multiStream}: the document id comes from the event (`id(event)`; `undefined` skips it).
 *
 * A batch of events is handled as a batch ({@link Projection.handleBatch}): the documents it touches
 * are read in one `getMany`, every event is folded in memory in order, and the changed documents are
 * written back in one `writeMany` with the versions read (a concurrent writer in between is a
 * conflict: the batch is read and folded again). A document's version therefore counts the writes
 * that changed it (one per batch), not its events.
 *
 * Two ways to run one (the same {@link Projection.handleBatch} does the work in both):
 * - **inline**: registered with the store layer (`MemoryStore.layer({ projections })`,
 *   `SqliteStore.layer({ ..., projections })`, `PgStore.layer({ ..., projections })`), it runs inside
 *   the append's transaction: a failing projection fails the append with `ProjectionFailed`, and
 *   neither the events nor any document are written. D1 and KurrentDB have no transactions to run it
 *   in, so they do not take inline projections.
 * - **async**: {@link run} is a `Consumer.run` over the projection's filter and checkpoint, handling
 *   each consumer batch with `handleBatch`; on memory, SQLite and PostgreSQL the checkpoint commits
 *   with the document writes (exactly once).
 *
 * **Versions and blue-green rebuilds.** A projection has a `version` (default 1). Each version writes
 * its own collection (`<collection>` for version 1, `<collection>_v<n>` after) under its own
 * checkpoint, so a new version can be built with {@link blueGreen} while the old one keeps serving;
 * `blueGreen` then switches readers by recording the version in the `strata_projections` collection.
 * Readers find the current collection with {@link active} (one document read), which falls back to
 * the projection's own version while nothing has been recorded.
 *
 * @example
 * import { DocumentStore, EventCodec, Projection } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const Account = EventCodec.make([Deposited, Withdrawn])
 * const Balances = DocumentStore.collection("balances", Schema.Struct({ balance: Schema.Number }))
 *
 * export const BalanceProjection = Projection.singleStream({
 *   name: "balances",
 *   collection: Balances,
 *   events: Account,
 *   evolve: (current, { event }) => ({
 *     balance: (current?.balance ?? 0) + (event._tag === "Deposited" ? event.amount : -event.amount)
 *   })
 * })
 * // inline: MemoryStore.layer({ projections: [BalanceProjection] })
 * // async:  Effect.forkScoped(Projection.run(BalanceProjection))
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { SyncDocuments, SyncInlineWork } from "../backend/Backend.ts"
import * as DocumentStore from "../DocumentStore.ts"
import type { RecordedEvent } from "../Event.ts"
import type { Decoded, EventCodec } from "../EventCodec.ts"
import { type EventFilter, EventStore, type SubscribeFrom } from "../EventStore.ts"
import * as Decode from "../internal/codec/decode.ts"
import {
  type DocumentStoreError,
  type EventDecodeError,
  InvalidArgument,
  ProjectionFailed,
  StoreUnavailable
} from "../StoreError.ts"
import * as Consumer from "./Consumer.ts"

/**
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@strata/core/Projection"

/**
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@strata/core/Projection"

/**
 * What a projection's handler can fail with: an event that does not decode, the document store's
 * errors (a document the collection's schema refuses is `InvalidDocument`), and `ProjectionFailed`
 * when the projection's own code (`evolve`, `id`) throws.
 *
 * @category errors
 * @since 0.1.0
 */
export type ProjectionError = EventDecodeError | DocumentStoreError | ProjectionFailed

/**
 * Returned by `evolve` to delete the document (the same marker `DocumentStore.update` takes).
 *
 * @category models
 * @since 0.1.0
 */
export const Delete: DocumentStore.Delete = DocumentStore.Delete

/**
 * @category models
 * @since 0.1.0
 */
export type Delete = DocumentStore.Delete

/**
 * A declared projection.
 *
 * @category models
 * @since 0.1.0
 */
export interface Projection<A, I = unknown> {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly version: number
  /** The collection as declared (its name is version 1's). */
  readonly collection: DocumentStore.Collection<A, I>
  /** The collection this version writes: `<collection>` for version 1, `<collection>_v<n>` after. */
  readonly target: DocumentStore.Collection<A, I>
  /** The event types it handles (its codec's). */
  readonly types: ReadonlyArray<string>
  /** The consumer filter: exactly {@link Projection.types}. */
  readonly filter: EventFilter
  /** This version's consumer checkpoint name. */
  readonly checkpoint: string
  /**
   * Applies one event: reads the document, evolves it, writes it back with the version it read
   * (retried on a conflict). Events of other types are ignored, so it is safe on any subscription.
   * A throw from `evolve` or `id` fails it with `ProjectionFailed` (projection, stream, event id, and
   * the thrown value as `cause`) instead of a defect; nothing of that event is written.
   */
  readonly handler: (event: RecordedEvent) => Effect.Effect<void, ProjectionError, DocumentStore.DocumentStore>
  /**
   * Applies a batch of events: decodes those of its types, reads every document they touch in one
   * `getMany`, folds the events in order in memory (several on one document fold in sequence), and
   * writes the changed documents in one `writeMany` with the versions read (more than
   * `DocumentStore.maxBatch` documents: one read and write per `maxBatch`). A `DocumentConflict` (a
   * concurrent writer) reads and folds again, up to 10 times, then fails with it. A throw from
   * `evolve` or `id` is `ProjectionFailed` naming that event, and nothing of the batch is written.
   * The same documents as {@link Projection.handler} applied event by event, in fewer round trips.
   */
  readonly handleBatch: (
    events: ReadonlyArray<RecordedEvent>
  ) => Effect.Effect<void, ProjectionError, DocumentStore.DocumentStore>
}

/**
 * Any projection, whatever its document type (for lists such as a layer's `projections`).
 *
 * @category models
 * @since 0.1.0
 */
export type Any = Projection<any, any>

/**
 * Options both shapes share.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E extends { readonly _tag: string }, A, I> {
  /** Names the projection: its checkpoint and its entry in `strata_projections`. */
  readonly name: string
  readonly collection: DocumentStore.Collection<A, I>
  /** The events it handles: the codec's types, decoded (and upcast) before `evolve` sees them. */
  readonly events: EventCodec<E>
  /**
   * The next document from the current one (`undefined` when there is none): a value, `Delete`, or
   * `current` itself to leave it untouched. Pure: it may run again after a conflict.
   */
  readonly evolve: (current: A | undefined, event: Decoded<E>) => A | DocumentStore.Delete
  /** Default 1. A new version builds a new collection (see {@link blueGreen}). */
  readonly version?: number | undefined
}

/** The collection name of a version: the declared one for version 1. */
const targetName = (name: string, version: number) => version === 1 ? name : `${name}_v${version}`

/** What `evolve` threw, carried as the defect it becomes inside `DocumentStore.update`. */
class Thrown {
  readonly cause: unknown
  constructor(cause: unknown) {
    this.cause = cause
  }
}

const thrownBy = (cause: Cause.Cause<unknown>): Thrown | undefined => {
  for (const reason of cause.reasons) {
    if (Cause.isDieReason(reason) && reason.defect instanceof Thrown) return reason.defect
  }
  return undefined
}

const make = <E extends { readonly _tag: string }, A, I>(
  options: Options<E, A, I>,
  documentId: (event: Decoded<E>) => string | undefined
): Projection<A, I> => {
  const version = options.version ?? 1
  // A definition, checked once at startup (as `EventCodec.type` checks its own).
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new Error(`Projection ${JSON.stringify(options.name)}: version must be an integer >= 1, got ${version}`)
  }
  const target = { ...options.collection, name: targetName(options.collection.name, version) }
  const types = options.events.types
  const declared = new Set<string>(types)
  // A throw from the projection's own code is a bug in the projection, not a defect of the store:
  // it fails the event typed, naming the projection, the stream and the event.
  const failed = (recorded: RecordedEvent, cause: unknown) =>
    new ProjectionFailed({ projection: options.name, stream: recorded.stream, eventId: recorded.id, cause })
  const handler = (recorded: RecordedEvent) =>
    declared.has(recorded.type)
      ? Effect.flatMap(options.events.decode(recorded), (decoded) => {
        let id: string | undefined
        try {
          id = documentId(decoded)
        } catch (cause) {
          return Effect.fail(failed(recorded, cause))
        }
        if (id === undefined) return Effect.void
        // `update` calls evolve inside its own effect, where a throw becomes a defect: mark it as
        // evolve's, and turn exactly that defect (not the store's, not an interruption) into the failure.
        const evolve = (current: A | undefined) => {
          try {
            return options.evolve(current, decoded)
          } catch (cause) {
            throw new Thrown(cause)
          }
        }
        return DocumentStore.update(target, id, evolve).pipe(
          Effect.asVoid,
          Effect.catchCauseIf(
            (cause) => !Cause.hasInterrupts(cause) && thrownBy(cause) !== undefined,
            (cause) => Effect.fail(failed(recorded, thrownBy(cause)!.cause))
          )
        )
      })
      : Effect.void
  // The batch's decoded events with their document ids, in order; ids chunked to `maxBatch` distinct
  // ids per read and write (a chunk is folded and written before the next, so order per document holds).
  // A plain loop over the codec's synchronous decoder: no Effect step and no Exit array per batch (a
  // codec built without `EventCodec.make` is decoded event by event through its `decode`). Two
  // parallel arrays per chunk rather than an object per event: a rebuild's heap peak is the young
  // generation its allocations fill (see `catchUp`).
  type Chunk = { readonly decoded: Array<Decoded<E>>; readonly ids: Array<string> }
  const decodeExit = Decode.exitOf(options.events) as
    | ((recorded: RecordedEvent) => Exit.Exit<Decoded<E>, EventDecodeError>)
    | undefined
  const chunksOf = (
    events: ReadonlyArray<RecordedEvent>,
    exits: ReadonlyArray<Exit.Exit<Decoded<E>, EventDecodeError>> | undefined
  ): Exit.Exit<Array<Chunk>, EventDecodeError | ProjectionFailed> => {
    let chunk: Chunk = { decoded: [], ids: [] }
    const chunks: Array<Chunk> = [chunk]
    let ids = new Set<string>()
    for (let i = 0; i < events.length; i++) {
      const exit = exits === undefined ? decodeExit!(events[i]) : exits[i]
      if (Exit.isFailure(exit)) return Exit.failCause(exit.cause)
      const decoded = exit.value
      let id: string | undefined
      try {
        id = documentId(decoded)
      } catch (cause) {
        return Exit.fail(failed(events[i], cause))
      }
      if (id === undefined) continue
      if (!ids.has(id) && ids.size === DocumentStore.maxBatch) {
        chunk = { decoded: [], ids: [] }
        chunks.push(chunk)
        ids = new Set()
      }
      ids.add(id)
      chunk.decoded.push(decoded)
      chunk.ids.push(id)
    }
    if (chunk.ids.length === 0) chunks.pop()
    return Exit.succeed(chunks)
  }
  // The events of its types: the batch itself when all are (a consumer or catch-up over its filter).
  const ownOf = (events: ReadonlyArray<RecordedEvent>): ReadonlyArray<RecordedEvent> => {
    let i = 0
    while (i < events.length && declared.has(events[i].type)) i++
    if (i === events.length) return events
    const mine = events.slice(0, i)
    for (; i < events.length; i++) {
      if (declared.has(events[i].type)) mine.push(events[i])
    }
    return mine
  }
  const prepare = (events: ReadonlyArray<RecordedEvent>) => {
    const mine = ownOf(events)
    return decodeExit === undefined
      ? Effect.flatMap(
        Effect.forEach(mine, (recorded) => Effect.exit(options.events.decode(recorded))),
        (exits) => chunksOf(mine, exits)
      )
      : Effect.suspend(() => chunksOf(mine, undefined))
  }
  // The chunk's events folded in order over the documents read: the writes, or the failure of the
  // first event whose `evolve` throws. Synchronous: one loop, no Effect per event.
  const fold = (
    chunk: Chunk,
    read: ReadonlyArray<DocumentStore.Document<A>>
  ): Exit.Exit<Array<DocumentStore.DocumentWrite<A>>, ProjectionFailed> => {
    const stored = new Map<string, DocumentStore.Document<A>>()
    const current = new Map<string, A | undefined>()
    for (const document of read) {
      stored.set(document.id, document)
      current.set(document.id, document.value)
    }
    const changed = new Set<string>()
    const { decoded: events, ids } = chunk
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      const decoded = events[i]
      const value = current.get(id)
      let next: A | DocumentStore.Delete
      try {
        next = options.evolve(value, decoded)
      } catch (cause) {
        return Exit.fail(failed(decoded, cause))
      }
      if (next === value) continue
      current.set(id, next === DocumentStore.Delete ? undefined : next)
      changed.add(id)
    }
    const writes: Array<DocumentStore.DocumentWrite<A>> = []
    for (const id of changed) {
      const value = current.get(id)
      const before = stored.get(id)
      if (value === undefined && before === undefined) continue
      writes.push({
        id,
        value: value === undefined ? DocumentStore.Delete : value,
        expected: before === undefined ? "missing" : before.version
      })
    }
    return Exit.succeed(writes)
  }
  // Plain `flatMap`s, not `Effect.gen`: a generator per batch (its frame holds the chunk, so every
  // event of the batch) stayed reachable across scavenges, and each scavenge promoted about the whole
  // young generation (55-70% of it survived, against ~15% without the generator): a 1,000,000-event
  // rebuild's heap peaked at +275 MB for +2 MB live.
  const foldChunk = (chunk: Chunk): Effect.Effect<void, ProjectionError, DocumentStore.DocumentStore> =>
    Effect.flatMap(
      DocumentStore.DocumentStore,
      (docs) =>
        Effect.flatMap(docs.getMany(target, [...new Set(chunk.ids)]), (read): Effect.Effect<void, ProjectionError> => {
          const writes = fold(chunk, read)
          if (Exit.isFailure(writes)) return writes
          return writes.value.length > 0 ? Effect.asVoid(docs.writeMany(target, writes.value)) : Effect.void
        })
    )
  // A conflict (a concurrent writer) reads and folds the chunk again, up to 10 times. A plain catch
  // rather than `Effect.retry`: no schedule is built for the common case, where nothing conflicts.
  const foldRetrying = (chunk: Chunk, retries: number): Effect.Effect<
    void,
    ProjectionError,
    DocumentStore.DocumentStore
  > =>
    Effect.catchTag(
      foldChunk(chunk),
      "DocumentConflict",
      (conflict) => retries === 0 ? Effect.fail(conflict) : foldRetrying(chunk, retries - 1)
    )
  const handleBatch = (events: ReadonlyArray<RecordedEvent>) =>
    Effect.flatMap(prepare(events), (chunks) =>
      chunks.length === 1
        ? foldRetrying(chunks[0], 10)
        : Effect.forEach(chunks, (chunk) => foldRetrying(chunk, 10), { discard: true }))
  // `foldRetrying` as plain code over documents that answer synchronously; undefined where they do not.
  const foldSync = (chunk: Chunk, docs: SyncDocuments): Exit.Exit<void, ProjectionError> | undefined => {
    const unique = [...new Set(chunk.ids)]
    for (let retries = 10;; retries--) {
      const read = docs.getMany(target, unique)
      if (read === undefined) return undefined
      if (Exit.isFailure(read)) return Exit.failCause(read.cause)
      const writes = fold(chunk, read.value)
      if (Exit.isFailure(writes)) return writes
      if (writes.value.length === 0) return Exit.void
      const written = docs.writeMany(target, writes.value)
      if (written === undefined) return undefined
      if (Exit.isSuccess(written)) return Exit.void
      const error = Exit.findErrorOption(written)
      if (retries === 0 || error._tag === "None" || error.value._tag !== "DocumentConflict") {
        return Exit.failCause(written.cause)
      }
    }
  }
  // `handleBatch` as plain code, for inline projections on a synchronous append (see `applyInlineSync`):
  // undefined where it cannot finish synchronously (a codec without a synchronous decoder, documents
  // that did not answer with an Exit).
  const handleBatchSync: HandleBatchSync = (events, docs) => {
    if (decodeExit === undefined) return undefined
    const chunks = chunksOf(ownOf(events), undefined)
    if (Exit.isFailure(chunks)) return chunks
    for (const chunk of chunks.value) {
      const done = foldSync(chunk, docs)
      if (done === undefined || Exit.isFailure(done)) return done
    }
    return Exit.void
  }
  const projection: Projection<A, I> = {
    [TypeId]: TypeId,
    name: options.name,
    version,
    collection: options.collection,
    target,
    types,
    filter: { types },
    checkpoint: version === 1 ? `projection-${options.name}` : `projection-${options.name}-v${version}`,
    handler,
    handleBatch
  }
  syncHandlers.set(projection, handleBatchSync)
  return projection
}

type HandleBatchSync = (
  events: ReadonlyArray<RecordedEvent>,
  documents: SyncDocuments
) => Exit.Exit<void, ProjectionError> | undefined

// The synchronous form of each projection's `handleBatch` (see `applyInlineSync`); a projection built
// some other way has none, and runs on the backend's transactional path. Not part of the interface.
const syncHandlers = new WeakMap<Any, HandleBatchSync>()

/**
 * A projection with one document per stream: the id is the stream name, or `id(stream)`.
 * Throws on a `version` that is not an integer >= 1 (a definition, checked once at startup).
 *
 * @category constructors
 * @since 0.1.0
 */
export const singleStream = <E extends { readonly _tag: string }, A, I>(
  options: Options<E, A, I> & { readonly id?: ((stream: string) => string) | undefined }
): Projection<A, I> => make(options, (event) => options.id === undefined ? event.stream : options.id(event.stream))

/**
 * A projection whose document id comes from the event; `undefined` skips the event.
 *
 * @category constructors
 * @since 0.1.0
 */
export const multiStream = <E extends { readonly _tag: string }, A, I>(
  options: Options<E, A, I> & { readonly id: (event: Decoded<E>) => string | undefined }
): Projection<A, I> => make(options, options.id)

/**
 * Runs inline projections on events an append has just written, inside its transaction, with the
 * store's own DocumentStore. A projection's failure becomes `ProjectionFailed` (so the append is
 * rolled back), including a throw from its `evolve` or `id` (see {@link Projection.handler}); a store
 * outage stays `StoreUnavailable`, and a document conflict that outlived the retries becomes one too
 * (a concurrent append moved the document: the whole append may be retried). A defect of the store
 * itself stays a defect, and an interruption an interruption. For backend authors.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyInline = (
  projections: ReadonlyArray<Any>,
  documents: DocumentStore.DocumentStoreShape
) =>
(events: ReadonlyArray<RecordedEvent>): Effect.Effect<void, ProjectionFailed | StoreUnavailable> =>
  // Each projection takes the append's events of its types as one batch: one read and one write
  // for a multi-event append, instead of two round trips per event.
  Effect.forEach(projections, (projection) => {
    const mine = events.filter((event) => projection.types.includes(event.type))
    if (mine.length === 0) return Effect.void
    return projection.handleBatch(mine).pipe(
      Effect.provideService(DocumentStore.DocumentStore, documents),
      Effect.mapError(inlineError(projection, mine[0]))
    )
  }, { discard: true })

// What an inline projection's failure fails the append with (see `applyInline`).
const inlineError =
  (projection: Any, first: RecordedEvent) => (error: ProjectionError): ProjectionFailed | StoreUnavailable =>
    error._tag === "StoreUnavailable" ||
      (error._tag === "ProjectionFailed" && error.projection === projection.name)
      ? error
      : error._tag === "DocumentConflict"
      ? new StoreUnavailable({ operation: "append", reason: "ConcurrentWrite", cause: error })
      : new ProjectionFailed({
        projection: projection.name,
        stream: error._tag === "EventDecodeError" ? error.stream : first.stream,
        eventId: error._tag === "EventDecodeError" ? error.eventId : first.id,
        cause: error
      })

/**
 * {@link applyInline} as plain code, for a backend whose append is one synchronous write (SQLite runs
 * it inside that write, over documents on the same connection): the same documents and the same
 * outcome, as an `Exit`, without an Effect step. `undefined` where it cannot finish synchronously: a
 * projection not built by {@link singleStream} or {@link multiStream}, a codec without a synchronous
 * decoder, documents that did not answer with an `Exit` (an asynchronous document schema); the
 * backend then rolls its write back and runs {@link applyInline} on its transactional path. For
 * backend authors.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyInlineSync = (projections: ReadonlyArray<Any>): SyncInlineWork => (documents) => (events) => {
  for (const projection of projections) {
    const mine = events.filter((event) => projection.types.includes(event.type))
    if (mine.length === 0) continue
    const handle = syncHandlers.get(projection)
    if (handle === undefined) return undefined
    const exit = handle(mine, documents)
    if (exit === undefined) return undefined
    if (Exit.isFailure(exit)) return Exit.mapError(exit, inlineError(projection, mine[0]))
  }
  return Exit.void
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunOptions {
  /** Where to begin without a checkpoint (default `"start"`). */
  readonly from?: SubscribeFrom | undefined
  /**
   * Most events per batch, each one `getMany`, one `writeMany` and the checkpoint in one commit
   * (default 1,000; see `Consumer.ConsumerOptions`). `1` writes and commits event by event.
   */
  readonly checkpointEvery?: number | undefined
  /** How long a batch may stay open (default 100 ms; see `Consumer.ConsumerOptions`). */
  readonly checkpointInterval?: Duration.Input | undefined
}

/**
 * Runs the projection asynchronously: `Consumer.run` over its filter, under its checkpoint, with
 * {@link Projection.handleBatch} on each consumer batch (one `getMany` and one `writeMany` per batch).
 * On memory, SQLite and PostgreSQL each batch's document writes commit with the checkpoint. A throw
 * from `evolve` or `id` fails it with `ProjectionFailed` naming the event, after the events before
 * it commit (the consumer isolates a failed batch event by event). Runs until interrupted or it
 * fails; fork it.
 *
 * @category operations
 * @since 0.1.0
 */
export const run = <A, I>(
  projection: Projection<A, I>,
  options?: RunOptions
): Effect.Effect<
  void,
  ProjectionError | Consumer.CheckpointError,
  EventStore | DocumentStore.DocumentStore | Consumer.Checkpoints
> =>
  Consumer.run(projection.checkpoint, {
    handleBatch: projection.handleBatch,
    filter: projection.filter,
    from: options?.from,
    checkpointEvery: options?.checkpointEvery,
    checkpointInterval: options?.checkpointInterval
  })

/**
 * Empties this version's collection and resets its checkpoint to the start. Stop the projection's
 * consumer first (a running one would keep its own position); for an inline projection, pause
 * appends until the rebuild is done (an append in between would be applied twice).
 *
 * @category operations
 * @since 0.1.0
 */
export const reset = <A, I>(
  projection: Projection<A, I>
): Effect.Effect<void, DocumentStoreError, EventStore | DocumentStore.DocumentStore> =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    const store = yield* EventStore
    // The codec is not needed to delete: read the raw documents, so a changed schema cannot block it.
    const raw = { ...projection.target, schema: Schema.Unknown }
    yield* Stream.runForEach(docs.find(raw), (document) => docs.delete(raw, document.id))
    yield* store.saveCheckpoint(projection.checkpoint, 0n)
  }).pipe(Effect.withSpan("Projection.reset", { attributes: { "strata.projection": projection.name } }))

/**
 * @category models
 * @since 0.1.0
 */
export interface CatchUpOptions {
  /**
   * Events per transaction (document writes and checkpoint together), each handled as one batch
   * ({@link Projection.handleBatch}). Default 1,000.
   */
  readonly batchSize?: number | undefined
}

/**
 * Replays every event after the projection's checkpoint up to the current end of the log, in
 * batches that each commit with the checkpoint. Returns the number of events handled.
 *
 * Memory: nothing is kept from one batch to the next (a 1,000,000-event rebuild holds ~2 MB more
 * once garbage is collected). Its heap peak is V8's young generation, not what it retains: each
 * event allocates ~2.2 KB that dies within its batch (on SQLite the driver's row ~0.75 KB, the
 * parsed event ~0.76 KB, the decoded event ~0.33 KB), what is alive at each scavenge (the page being
 * read and the batch in flight, ~1 KB an event) survives it, and V8 doubles the young generation each
 * time the bytes surviving since its last growth exceed its size, up to its maximum (64 MB on a
 * 64-bit Node 24 with a default heap). With the defaults (pages of 500, batches of 1,000) a
 * 1,000,000-event rebuild on SQLite peaks at +58-69 MB; a store opened with `pageSize: 250` and a
 * `batchSize` of 250 halves what is alive and mostly stays at the 32 MB young generation (+39 MB
 * in 6 of 6 runs of bench/rebuildMemory.ts and 2 of 3 of the bench's `rebuild1M`, the third +70 MB),
 * at about the same speed; `--max-semi-space-size=16` or `32` keeps the peak near +35 MB always. The
 * growth is once: at 2,000,000 events the peak is the same (+61 MB heap, ~2 MB after a full collection).
 * Folding each page into the batch's documents as it arrives (no batch of events held) kept a
 * 1,000,000-event rebuild at +35 MB, but read documents once per page instead of once per batch: ~0.3 us
 * more CPU per event in the projection bench, so it was not kept (see the core README).
 *
 * @category operations
 * @since 0.1.0
 */
export const catchUp = <A, I>(
  projection: Projection<A, I>,
  options?: CatchUpOptions
): Effect.Effect<
  number,
  ProjectionError | Consumer.CheckpointError,
  EventStore | DocumentStore.DocumentStore | Consumer.Checkpoints
> =>
  Effect.gen(function*() {
    const batchSize = options?.batchSize ?? 1000
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      return yield* new InvalidArgument({
        operation: "Projection.catchUp",
        detail: `batchSize must be an integer >= 1, got ${String(batchSize)}`
      })
    }
    const store = yield* EventStore
    const checkpoints = yield* Consumer.Checkpoints
    const from = yield* checkpoints.load(projection.checkpoint)
    let handled = 0
    yield* store.readAll({ filter: projection.filter, from: Option.getOrElse(from, () => 0n) + 1n }).pipe(
      Stream.grouped(batchSize),
      Stream.runForEach((batch) =>
        checkpoints.commit(
          projection.checkpoint,
          batch[batch.length - 1].position,
          projection.handleBatch(batch)
        ).pipe(Effect.tap(() => Effect.sync(() => handled += batch.length)))
      )
    )
    return handled
  }).pipe(Effect.withSpan("Projection.catchUp", { attributes: { "strata.projection": projection.name } }))

/**
 * Rebuilds the projection in place: {@link reset}, then {@link catchUp}. Readers see the collection
 * empty and filling up meanwhile; {@link blueGreen} avoids that.
 *
 * @category operations
 * @since 0.1.0
 */
export const rebuild = <A, I>(
  projection: Projection<A, I>,
  options?: CatchUpOptions
): Effect.Effect<
  number,
  ProjectionError | Consumer.CheckpointError,
  EventStore | DocumentStore.DocumentStore | Consumer.Checkpoints
> => Effect.andThen(reset(projection), catchUp(projection, options))

const Registry = DocumentStore.collection("strata_projections", Schema.Struct({ version: Schema.Number }))

/**
 * The version readers use: the one recorded by the last {@link blueGreen} switch, or the
 * projection's own when none was recorded.
 *
 * @category operations
 * @since 0.1.0
 */
export const activeVersion = <A, I>(
  projection: Projection<A, I>
): Effect.Effect<number, DocumentStoreError, DocumentStore.DocumentStore> =>
  Effect.map(
    DocumentStore.DocumentStore.use((docs) => docs.get(Registry, projection.name)),
    Option.match({ onNone: () => projection.version, onSome: (entry) => entry.value.version })
  )

/**
 * The collection readers should query now: the active version's, with this projection's schema.
 *
 * @example
 * ```ts
 * import { DocumentStore, Projection } from "@strata/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const BalanceProjection: Projection.Projection<{ readonly balance: number }, { readonly balance: number }>
 *
 * const rich = Effect.gen(function*() {
 *   const docs = yield* DocumentStore.DocumentStore
 *   const balances = yield* Projection.active(BalanceProjection)
 *   return yield* Stream.runCollect(docs.find(balances, { where: { balance: { gt: 1000 } } }))
 * })
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const active = <A, I>(
  projection: Projection<A, I>
): Effect.Effect<DocumentStore.Collection<A, I>, DocumentStoreError, DocumentStore.DocumentStore> =>
  Effect.map(activeVersion(projection), (version) => ({
    ...projection.collection,
    name: targetName(projection.collection.name, version)
  }))

/**
 * Makes this version the one readers use (records it in `strata_projections`).
 *
 * @category operations
 * @since 0.1.0
 */
export const activate = <A, I>(
  projection: Projection<A, I>
): Effect.Effect<void, DocumentStoreError, DocumentStore.DocumentStore> =>
  Effect.asVoid(
    DocumentStore.DocumentStore.use((docs) => docs.put(Registry, projection.name, { version: projection.version }))
  )

/**
 * A blue-green rebuild: builds this version's collection from the whole log (reset, then catch up)
 * while readers keep using the active one, then switches them to it ({@link activate}). For async
 * projections: do not register the new version inline while it is built (appends would write it
 * too, and the build would apply those events again). Afterwards
 * run the new version ({@link run}) from where the build stopped, stop the old one, and empty the old
 * collection with {@link reset} on the old projection. Returns the number of events replayed.
 *
 * @category operations
 * @since 0.1.0
 */
export const blueGreen = <A, I>(
  next: Projection<A, I>,
  options?: CatchUpOptions
): Effect.Effect<
  number,
  ProjectionError | Consumer.CheckpointError,
  EventStore | DocumentStore.DocumentStore | Consumer.Checkpoints
> =>
  Effect.gen(function*() {
    const serving = yield* activeVersion(next)
    if (serving === next.version && (yield* DocumentStore.DocumentStore.use((docs) => docs.count(next.target))) > 0) {
      return yield* new InvalidArgument({
        operation: "Projection.blueGreen",
        detail:
          `version ${next.version} of ${next.name} is the one serving readers: give the new definition a higher version`
      })
    }
    const replayed = yield* rebuild(next, options)
    yield* activate(next)
    return replayed
  }).pipe(Effect.withSpan("Projection.blueGreen", { attributes: { "strata.projection": next.name } }))
