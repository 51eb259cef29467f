/**
 * The DocumentStore service: typed JSON documents with optimistic concurrency, queries served by
 * declared indexes, and writes that can carry the events that produced them.
 *
 * Query semantics every backend honours:
 * - `where` is a conjunction of per-field conditions. A bare scalar means `eq`.
 * - Comparisons are typed: `{ age: { gt: 30 } }` matches only numbers, `"30"` never equals `30`.
 *   Range operators (`gt`, `gte`, `lt`, `lte`) take numbers or strings; strings compare by code point.
 * - `eq: null` matches a null or missing field; `ne` matches everything `eq` does not (missing too).
 * - `orderBy` sorts ascending by default, missing/null first (last when descending), then by id.
 *   Order between values of different JSON types is backend-defined: keep one type per sorted field.
 * - A page's `cursor` resumes the same query after its last document (keyset pagination: stable
 *   under concurrent inserts and deletes).
 * - Queries see the *encoded* document: a `NumberFromString` field matches `"10"`, not `10`.
 *
 * Documents are stored as their schema's encoded form, which must be plain JSON (use
 * `Schema.DateFromString`-style schemas for dates) without U+0000 in strings (PostgreSQL's jsonb cannot
 * hold it, so no backend accepts it); anything else is `InvalidDocument`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { AppendRequest, AppendResult } from "./EventStore.ts"
import type { DocumentStoreError, InvalidDocument, InvalidQuery, StoreUnavailable } from "./StoreError.ts"
import { DocumentConflict, InvalidArgument } from "./StoreError.ts"

/**
 * A declared index: one or more field paths, queried together.
 *
 * @category models
 * @since 0.1.0
 */
export interface IndexDefinition {
  readonly fields: ReadonlyArray<string>
}

/**
 * A named, typed collection of documents. The schema's encoded side must be plain JSON.
 *
 * @category models
 * @since 0.1.0
 */
export interface Collection<A, I = unknown> {
  readonly name: string
  readonly schema: Schema.Codec<A, I>
  readonly indexes: ReadonlyArray<IndexDefinition>
}

/**
 * Declares a collection.
 *
 * @example
 * ```ts
 * import { DocumentStore } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const Cart = Schema.Struct({ customerId: Schema.String, status: Schema.String, total: Schema.Number })
 * const Carts = DocumentStore.collection("carts", Cart, { indexes: ["customerId", ["status", "total"]] })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const collection = <A, I>(
  name: string,
  schema: Schema.Codec<A, I>,
  options?: { readonly indexes?: ReadonlyArray<string | ReadonlyArray<string>> | undefined }
): Collection<A, I> => ({
  name,
  schema,
  indexes: (options?.indexes ?? []).map((fields) => ({ fields: typeof fields === "string" ? [fields] : fields }))
})

/**
 * A stored document. `version` is 1 after the first put and grows by one with every put.
 *
 * @category models
 * @since 0.1.0
 */
export interface Document<A> {
  readonly id: string
  readonly version: bigint
  readonly value: A
}

/**
 * What a write asserts about the stored document: nothing, that it does not exist, or its version.
 *
 * @category models
 * @since 0.1.0
 */
export type ExpectedDocument = "any" | "missing" | bigint

/**
 * @category models
 * @since 0.1.0
 */
export interface PutOptions {
  /** Defaults to `"any"`. */
  readonly expected?: ExpectedDocument | undefined
  /** Events appended in the same atomic step as the document write. */
  readonly events?: ReadonlyArray<AppendRequest> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface PutResult {
  readonly version: bigint
  readonly appended: ReadonlyArray<AppendResult>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DeleteOptions {
  readonly expected?: ExpectedDocument | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type Scalar = string | number | boolean | null

/**
 * @category models
 * @since 0.1.0
 */
export interface Condition {
  readonly eq?: Scalar | undefined
  readonly ne?: Scalar | undefined
  readonly gt?: string | number | undefined
  readonly gte?: string | number | undefined
  readonly lt?: string | number | undefined
  readonly lte?: string | number | undefined
  readonly in?: ReadonlyArray<Scalar> | undefined
}

/**
 * Field paths (`"total"`, `"address.city"`) to a scalar (equality) or a {@link Condition}.
 *
 * @category models
 * @since 0.1.0
 */
export type Where = { readonly [path: string]: Scalar | Condition }

/**
 * @category models
 * @since 0.1.0
 */
export interface OrderBy {
  readonly field: string
  readonly direction?: "asc" | "desc" | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Query {
  readonly where?: Where | undefined
  readonly orderBy?: ReadonlyArray<OrderBy> | undefined
  /** Most documents in total (for `find`) or in the page (for `findPage`). */
  readonly limit?: number | undefined
  /** From a previous page: resume after its last document. */
  readonly cursor?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Page<A> {
  readonly documents: ReadonlyArray<Document<A>>
  /** Present when more documents may follow. */
  readonly cursor: Option.Option<string>
}

/**
 * Most ids a `getMany` and most writes a `writeMany` take in one call; more is `InvalidArgument`
 * (split the batch: a projection's batch does).
 *
 * @category constants
 * @since 0.1.0
 */
export const maxBatch = 1000

/**
 * One write of a {@link DocumentStoreShape.writeMany}: a value to store, or {@link Delete}, and what it
 * expects of the stored document (default `"any"`).
 *
 * @category models
 * @since 0.1.0
 */
export interface DocumentWrite<A> {
  readonly id: string
  readonly value: A | Delete
  readonly expected?: ExpectedDocument | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DocumentStoreShape {
  readonly backend: string

  readonly get: <A, I>(
    collection: Collection<A, I>,
    id: string
  ) => Effect.Effect<Option.Option<Document<A>>, InvalidDocument | StoreUnavailable>

  readonly put: <A, I>(
    collection: Collection<A, I>,
    id: string,
    value: A,
    options?: PutOptions
  ) => Effect.Effect<PutResult, DocumentStoreError>

  /**
   * The stored documents among `ids` in one query, in the order of `ids` (missing ones left out,
   * repeated ids once). At most {@link maxBatch} ids; none is a no-op.
   */
  readonly getMany: <A, I>(
    collection: Collection<A, I>,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Document<A>>, InvalidDocument | InvalidArgument | StoreUnavailable>

  /**
   * Writes (puts and deletes) several documents of one collection, all or nothing: each write's
   * `expected` is checked, and the first write (in the given order) whose check fails is the
   * `DocumentConflict`, with nothing written. Succeeds with each write's new version, in order
   * (`undefined` for a delete). At most {@link maxBatch} writes, each id at most once
   * (`InvalidArgument` otherwise); none is a no-op. SQL backends write it in a few set-based
   * statements (one per kind of write: insert, versioned update, upsert, delete); D1 in one batch;
   * KurrentDB reads each document's stream, then writes them in one multi-stream append.
   */
  readonly writeMany: <A, I>(
    collection: Collection<A, I>,
    writes: ReadonlyArray<DocumentWrite<A>>
  ) => Effect.Effect<
    ReadonlyArray<bigint | undefined>,
    DocumentConflict | InvalidDocument | InvalidArgument | StoreUnavailable
  >

  /** Deletes a document; succeeds with false when there was none (and `expected` allowed that). */
  readonly delete: <A, I>(
    collection: Collection<A, I>,
    id: string,
    options?: DeleteOptions
  ) => Effect.Effect<boolean, DocumentConflict | InvalidDocument | StoreUnavailable>

  /** Every matching document, paged under the hood. */
  readonly find: <A, I>(
    collection: Collection<A, I>,
    query?: Query
  ) => Stream.Stream<Document<A>, InvalidQuery | InvalidArgument | InvalidDocument | StoreUnavailable>

  /** One page of matching documents (default 100), with a cursor for the next. */
  readonly findPage: <A, I>(
    collection: Collection<A, I>,
    query?: Query
  ) => Effect.Effect<Page<A>, InvalidQuery | InvalidArgument | InvalidDocument | StoreUnavailable>

  readonly count: <A, I>(
    collection: Collection<A, I>,
    query?: { readonly where?: Where | undefined }
  ) => Effect.Effect<number, InvalidQuery | StoreUnavailable>
}

/**
 * The DocumentStore service.
 *
 * @category services
 * @since 0.1.0
 */
export class DocumentStore extends Context.Service<DocumentStore, DocumentStoreShape>()(
  "@strata/core/DocumentStore"
) {}

/**
 * What an update (or a projection's `evolve`) returns to delete the document.
 *
 * @category models
 * @since 0.1.0
 */
export const Delete: unique symbol = Symbol.for("@strata/core/DocumentStore/Delete")

/**
 * @category models
 * @since 0.1.0
 */
export type Delete = typeof Delete

/**
 * @category models
 * @since 0.1.0
 */
export interface UpdateOptions {
  /** Attempts after a `DocumentConflict` (another writer moved the document in between). Default 10. */
  readonly retries?: number | undefined
}

/**
 * Reads a document, computes its next value with `f`, and writes it back with the version it read
 * (or `"missing"`): a concurrent write in between is a `DocumentConflict`, and the whole
 * read-compute-write is tried again, up to `retries` times. `f` returns the next value, {@link Delete}
 * to delete the document, or `current` itself to leave it untouched (nothing is written).
 *
 * **When to use**
 *
 * For the hand-written read-modify-write cases; projections declared with `Projection` use it.
 *
 * @example
 * ```ts
 * import { DocumentStore } from "@strata/core"
 * import { Schema } from "effect"
 *
 * const Counters = DocumentStore.collection("counters", Schema.Struct({ n: Schema.Number }))
 * // the document after the update, or Option.none() when it is (or stays) deleted
 * const next = DocumentStore.update(Counters, "visits", (current) => ({ n: (current?.n ?? 0) + 1 }))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const update = <A, I>(
  collection: Collection<A, I>,
  id: string,
  f: (current: A | undefined) => A | Delete,
  options?: UpdateOptions
): Effect.Effect<Option.Option<Document<A>>, DocumentStoreError, DocumentStore> =>
  Effect.gen(function*() {
    const retries = options?.retries ?? 10
    if (!Number.isSafeInteger(retries) || retries < 0) {
      return yield* new InvalidArgument({
        operation: "DocumentStore.update",
        detail: `retries must be an integer >= 0, got ${String(retries)}`
      })
    }
    const store = yield* DocumentStore
    const attempt = Effect.gen(function*() {
      const current = yield* store.get(collection, id)
      const value = Option.isSome(current) ? current.value.value : undefined
      const next = f(value)
      if (Option.isSome(current) && next === value) return current
      if (next === Delete) {
        if (Option.isSome(current)) yield* store.delete(collection, id, { expected: current.value.version })
        return Option.none<Document<A>>()
      }
      const expected = Option.isSome(current) ? current.value.version : "missing" as const
      const { version } = yield* store.put(collection, id, next, { expected })
      return Option.some({ id, version, value: next })
    })
    return yield* Effect.retry(attempt, {
      times: retries,
      while: (error) => error instanceof DocumentConflict
    })
  }).pipe(Effect.withSpan("DocumentStore.update", { attributes: { "strata.collection": collection.name } }))
