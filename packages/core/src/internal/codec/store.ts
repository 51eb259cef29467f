// A codec's reads and subscriptions over the EventStore in context: the store's own options without
// the decoding ones, and on the global log only this codec's event types, decoded as the caller's
// `onDecodeError` says.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { RecordedEvent } from "../../Event.ts"
import type { Decoded, DecodeOptions, EventCodec } from "../../EventCodec.ts"
import {
  type EventFilter,
  EventStore,
  type Query,
  type QueryItem,
  type ReadAllOptions,
  type ReadOptions,
  type SubscribeAllOptions,
  type SubscribeOptions
} from "../../EventStore.ts"
import type { AnyEvent, CodecContext } from "./context.ts"
import type { DecodeStream } from "./streams.ts"

type E = AnyEvent

// Store options without the decoding ones.
const storeOptions = <O extends DecodeOptions<any, any>>(options: O | undefined): Omit<O, "onDecodeError"> => {
  if (options === undefined) return {} as Omit<O, "onDecodeError">
  const { onDecodeError: _, ...rest } = options
  return rest
}

/**
 * Restricts a DCB query to a codec's types: each item keeps only the codec's types (an item without
 * types gets all of them); an item left with none is dropped, and a query left empty matches
 * nothing, as it should. A query that is not an array goes to the store to be refused.
 */
export const restrictQuery = (types: ReadonlyArray<string>, query: Query): Query =>
  Array.isArray(query)
    ? query.flatMap((item: QueryItem) => {
      // A malformed item goes as given: the store refuses it typed.
      if (typeof item !== "object" || item === null || (item.types !== undefined && !Array.isArray(item.types))) {
        return [item]
      }
      const own = item.types === undefined ? types : item.types.filter((t) => types.includes(t))
      return own.length === 0 ? [] : [{ ...item, types: own }]
    })
    : query

export const make = (ctx: CodecContext, decodeStream: DecodeStream) => {
  const { types } = ctx

  // Restricts a global-log filter to this codec's types.
  const ownTypes = (filter: EventFilter | undefined): EventFilter => ({
    ...filter,
    types: filter?.types === undefined ? types : filter.types.filter((t) => types.includes(t))
  })

  const ownQuery = (query: Query): Query => restrictQuery(types, query)

  const fromStore = (
    open: (store: EventStore["Service"]) => Stream.Stream<RecordedEvent, any, any>,
    options: DecodeOptions<any, any> | undefined
  ): Stream.Stream<Decoded<E>, any, any> =>
    Stream.unwrap(Effect.map(EventStore, (store) => open(store).pipe(decodeStream(options))))

  return {
    read:
      ((stream: string, options?: ReadOptions & DecodeOptions<any, any>) =>
        fromStore((store) => store.read(stream, storeOptions(options)), options)) as EventCodec<E>["read"],
    readAll: ((options?: ReadAllOptions & DecodeOptions<any, any>) =>
      fromStore(
        (store) =>
          options?.query === undefined
            ? store.readAll({ ...storeOptions(options), filter: ownTypes(options?.filter) })
            // A DCB query takes no filter beside it: its items are restricted instead.
            : store.readAll({ ...storeOptions(options), query: ownQuery(options.query) }),
        options
      )) as EventCodec<E>["readAll"],
    subscribe:
      ((stream: string, options?: SubscribeOptions & DecodeOptions<any, any>) =>
        fromStore((store) => store.subscribe(stream, storeOptions(options)), options)) as EventCodec<E>["subscribe"],
    subscribeAll: ((options?: SubscribeAllOptions & DecodeOptions<any, any>) =>
      fromStore(
        (store) => store.subscribeAll({ ...storeOptions(options), filter: ownTypes(options?.filter) }),
        options
      )) as EventCodec<E>["subscribeAll"]
  }
}
