// The one small context the parts of a supervised consumer work over: its checked settings, its
// stores, its status, and the little state the supervisor, the parking and the commits share across
// attempts. The metrics and the error the parts report through are defined by `Consumer.ts` and
// handed in, so no internal module imports that module at run time.
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import type * as Schedule from "effect/Schedule"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as ParkedEvents from "../../../backend/ParkedEvents.ts"
import { EventStore, type EventStoreShape } from "../../../EventStore.ts"
import type { InvalidArgument, Unsupported } from "../../../StoreError.ts"
import type { Handle } from "./loop.ts"
import type { ConsumerStatus, ConsumerStopped, Requirements, SupervisedOptions } from "./model.ts"

export interface Metrics {
  readonly lagEvents: Metric.Gauge<number>
  readonly lagSeconds: Metric.Gauge<number>
  readonly eventsHandledTotal: Metric.Counter<number>
  readonly failuresTotal: Metric.Counter<number>
  readonly parkedTotal: Metric.Counter<number>
}

// What `Consumer.make` has checked and resolved from its options.
export interface Settings<X, R> {
  readonly name: string
  readonly options: SupervisedOptions<X, R>
  readonly every: number
  /** The longest a batch should stay open, in nanoseconds. */
  readonly interval: bigint
  readonly handle: Handle<X, R>
  readonly parkAfter: number | undefined
  readonly monitorInterval: Duration.Duration
  readonly restart: Schedule.Schedule<unknown, unknown>
  readonly outage: Schedule.Schedule<unknown, unknown>
  readonly metrics: Metrics
  /** The error of `waitFor` / `caughtUp` once the consumer has failed for good or stopped. */
  readonly stopped: (status: ConsumerStatus) => ConsumerStopped
}

export interface Shared {
  /** Events to park when next met (position -> failures). */
  readonly toPark: Map<bigint, { readonly attempts: number; readonly error: string }>
  /** The run of failures on one event. */
  failing: { readonly position: bigint; readonly count: number } | undefined
  /** Whether the current attempt has committed: the supervisor's schedules then start over. */
  progressed: boolean
}

export interface ConsumerContext<X, R> extends Settings<X, R> {
  readonly store: EventStoreShape
  readonly parkedStore: ParkedEvents.ParkedEventStore
  /** The services `make` ran with, for `replay`, which runs in the caller's fiber. */
  readonly context: Context.Context<R | Requirements>
  readonly attributes: { readonly consumer: string }
  readonly annotate: <A, E, R2>(effect: Effect.Effect<A, E, R2>) => Effect.Effect<A, E, R2>
  readonly ref: SubscriptionRef.SubscriptionRef<ConsumerStatus>
  readonly update: (f: (status: ConsumerStatus) => ConsumerStatus) => Effect.Effect<void>
  readonly shared: Shared
}

// A context for the parts that never run the handler, whatever its types.
export type AnyContext = ConsumerContext<any, any>

export const make = <X, R>(
  settings: Settings<X, R>
): Effect.Effect<ConsumerContext<X, R>, InvalidArgument | Unsupported, R | Requirements> =>
  Effect.gen(function*() {
    const { name, parkAfter } = settings
    const store = yield* EventStore
    const parkedStore = yield* ParkedEvents.ParkedEvents
    const context = yield* Effect.context<R | Requirements>()

    // Refuse to start when parking is asked for and cannot be done; an outage only delays the count.
    let initialParked = 0
    if (parkAfter !== undefined) {
      initialParked = yield* parkedStore.count(name).pipe(
        Effect.catchTag("StoreUnavailable", () => Effect.succeed(0))
      )
    }
    const ref = yield* SubscriptionRef.make<ConsumerStatus>({
      name,
      state: "starting",
      position: undefined,
      parked: initialParked,
      restarts: 0,
      failure: undefined
    })
    return {
      ...settings,
      store,
      parkedStore,
      context,
      attributes: { consumer: name },
      annotate: Effect.annotateLogs({ "strata.consumer": name }),
      ref,
      update: (f) => SubscriptionRef.update(ref, f),
      shared: { toPark: new Map(), failing: undefined, progressed: false }
    }
  })
