// One attempt of a supervised consumer: the shared loop with the parking handler and the status
// hooks, under the consumer's lease when it is `exclusive`. An attempt never succeeds (a
// subscription does not end); it fails, and the supervisor decides what comes next.
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Backend from "../../../backend/Backend.ts"
import type { SubscribeFrom } from "../../../EventStore.ts"
import { Unsupported } from "../../../StoreError.ts"
import * as Lease from "../../Lease.ts"
import type { ConsumerContext } from "./context.ts"
import { consume } from "./loop.ts"
import * as Parking from "./parking.ts"
import * as Status from "./status.ts"

// One attempt: the inner run. It never succeeds (a subscription does not end).
const unguarded = <X, R>(ctx: ConsumerContext<X, R>) => {
  const initial = { value: ctx.options.from ?? ("start" as SubscribeFrom) }
  const pace = { size: ctx.every }
  return Effect.scoped(Effect.gen(function*() {
    if (ctx.parkAfter !== undefined) yield* Parking.refreshParked(ctx)
    yield* Effect.forkScoped(Status.watchCatchUp(ctx))
    yield* Stream.runDrain(consume({
      name: ctx.name,
      operation: "Consumer.make",
      filter: ctx.options.filter,
      every: ctx.every,
      interval: ctx.interval,
      pace,
      initial,
      handle: Parking.handle(ctx),
      onStart: Status.onStart(ctx),
      onCommit: Parking.onCommit(ctx)
    }))
    // A subscription never ends by itself; if one does, it is a failure like any other.
    return yield* Effect.die(new Error("the subscription ended"))
  }))
}

// Exclusive unless asked otherwise, where the store in context has leases; a store built by hand
// (no backend record) keeps the old default, every instance handles every event.
const defaultExclusive = Effect.map(
  Effect.serviceOption(Backend.Backend),
  (backend) => backend._tag === "Some" && backend.value.leases !== undefined
)

// Builds the attempt the supervisor runs, refusing at once an `exclusive` it cannot honour.
export const make = <X, R>(ctx: ConsumerContext<X, R>) =>
  Effect.gen(function*() {
    const { name, options } = ctx
    const attempt = unguarded(ctx)
    // With `exclusive`, an attempt runs only while this instance holds the consumer's lease, with
    // fenced checkpoints; losing the lease fails the attempt (LeaseLost), which stands by again.
    // The holder id is fixed per instance, so a restarted attempt gets its own lease back at once.
    // By default a consumer is exclusive wherever the store keeps leases (its backend record has a
    // lease store): one durable checkpoint has no correct second reader, so two instances of a name
    // must not both handle every event. `exclusive: false` is the explicit opt-out.
    const chosen = options.exclusive ?? (yield* defaultExclusive)
    const exclusive = chosen === false
      ? undefined
      : {
        ...(chosen === true ? {} : chosen),
        holder: (chosen === true ? undefined : chosen.holder) ?? crypto.randomUUID()
      }
    if (exclusive === undefined) return attempt
    const leases = yield* Effect.serviceOption(Lease.LeaseStore)
    yield* Lease.checkOptions("Consumer.make", exclusive)
    if (leases._tag === "None") {
      return yield* new Unsupported({
        operation: "Consumer.make",
        backend: "unknown",
        detail:
          `consumer ${name} is exclusive, but no Lease.LeaseStore is provided (every Strata backend layer provides one)`
      })
    }
    const leaseStore = leases.value
    return Effect.gen(function*() {
      yield* ctx.update((status) => ({ ...status, state: "standby" }))
      const lease = yield* Lease.acquireWaiting(leaseStore, `consumer/${name}`, exclusive)
      yield* ctx.update((status) => status.state === "standby" ? { ...status, state: "starting" } : status)
      return yield* Lease.hold(
        leaseStore,
        lease,
        exclusive,
        (held) => Lease.withFencing(held)(attempt).pipe(Effect.provideService(Lease.LeaseStore, leaseStore))
      )
    })
  })
