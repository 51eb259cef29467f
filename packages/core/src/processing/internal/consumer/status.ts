// What a supervised consumer's status says and what reads it: waiting until it passes a position
// (`waitFor`, `caughtUp`), its move from catching up to live, and the monitor that measures lag
// (the `strata_consumer_lag_*` gauges) and logs progress while it catches up.
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Inputs from "../../../backend/Inputs.ts"
import type { AnyContext as Ctx } from "./context.ts"
import type { ConsumerStatus, WaitError } from "./model.ts"

const lastVisible = (ctx: Ctx) => Stream.runHead(ctx.store.readAll({ direction: "backwards", limit: 1 }))

const lastMatching = (ctx: Ctx, at: bigint) =>
  Stream.runHead(ctx.store.readAll({ from: at, direction: "backwards", limit: 1, filter: ctx.options.filter }))

const terminal = (status: ConsumerStatus) => status.state === "failed" || status.state === "stopped"

const passed = (target: bigint) => (status: ConsumerStatus) =>
  status.position !== undefined && status.position >= target

// Waits until the status passes `target`; fails if the consumer ends first.
const awaitPassed = (ctx: Ctx, target: bigint) =>
  SubscriptionRef.changes(ctx.ref).pipe(
    Stream.filter((status) => passed(target)(status) || terminal(status)),
    Stream.runHead,
    Effect.flatMap((status) =>
      status._tag === "Some" && !passed(target)(status.value)
        ? Effect.fail(ctx.stopped(status.value))
        : Effect.void
    )
  )

// The last event up to `target` the consumer must handle, once `target` is visible (PostgreSQL's
// horizon may hold a just-committed position back for a moment).
const mustHandle = (ctx: Ctx, target: bigint) =>
  Effect.gen(function*() {
    let delay = Duration.millis(5)
    while (true) {
      const head = yield* lastVisible(ctx)
      if (head._tag === "Some" && head.value.position >= target) break
      const status = yield* SubscriptionRef.get(ctx.ref)
      if (terminal(status)) return yield* ctx.stopped(status)
      yield* Effect.sleep(delay)
      delay = Duration.min(Duration.times(delay, 2), Duration.millis(250))
    }
    return yield* lastMatching(ctx, target)
  })

export const waitFor = (ctx: Ctx) => (position: bigint): Effect.Effect<void, WaitError> =>
  Effect.gen(function*() {
    const target = yield* Inputs.bigint("Consumer.waitFor", "position", position)
    const last = yield* mustHandle(ctx, target)
    if (last._tag === "Some") yield* awaitPassed(ctx, last.value.position)
  }).pipe(Effect.withSpan("Consumer.waitFor", { attributes: { "strata.consumer": ctx.name } }))

export const caughtUp = (ctx: Ctx): Effect.Effect<void, WaitError> =>
  Effect.gen(function*() {
    const head = yield* lastVisible(ctx)
    if (head._tag === "Some") yield* waitFor(ctx)(head.value.position)
  }).pipe(Effect.withSpan("Consumer.caughtUp", { attributes: { "strata.consumer": ctx.name } }))

// An attempt has subscribed: it catches up from where its checkpoint (or `from`) covers.
export const onStart = (ctx: Ctx) => (covered: bigint | undefined) =>
  ctx.update((status) => ({
    ...status,
    state: "catching-up",
    position: covered === undefined ? status.position : covered
  })).pipe(
    Effect.andThen(Effect.logInfo(
      `Strata: consumer ${ctx.name} subscribed ${
        covered === undefined ? "from the start" : `after position ${covered}`
      }`
    )),
    ctx.annotate
  )

// Marks the consumer live once it has passed what was in the log when the attempt started.
export const watchCatchUp = (ctx: Ctx) =>
  Effect.gen(function*() {
    const { attributes, metrics, name } = ctx
    const started = yield* Clock.currentTimeMillis
    const head = yield* lastVisible(ctx)
    const last = head._tag === "Some" ? yield* lastMatching(ctx, head.value.position) : Option.none()
    if (last._tag === "Some") yield* awaitPassed(ctx, last.value.position)
    const now = yield* Clock.currentTimeMillis
    const status = yield* SubscriptionRef.get(ctx.ref)
    if (status.state !== "catching-up" && status.state !== "starting") return
    yield* Effect.logInfo(
      `Strata: consumer ${name} caught up at position ${status.position ?? "start"} in ${
        Duration.format(Duration.millis(now - started))
      }`
    ).pipe(ctx.annotate)
    yield* Metric.update(Metric.withAttributes(metrics.lagEvents, attributes), 0)
    yield* Metric.update(Metric.withAttributes(metrics.lagSeconds, attributes), 0)
    yield* ctx.update((s) => ({ ...s, state: "live" }))
  }).pipe(Effect.ignore)

// Lag gauges, and progress logs while catching up.
export const monitor = (ctx: Ctx) =>
  Effect.gen(function*() {
    const { attributes, metrics, name } = ctx
    let previous: { readonly at: number; readonly position: bigint | undefined } | undefined
    while (true) {
      yield* Effect.sleep(ctx.monitorInterval)
      const status = yield* SubscriptionRef.get(ctx.ref)
      if (terminal(status)) continue
      const head = yield* lastVisible(ctx)
      const next = yield* Stream.runHead(ctx.store.readAll({
        from: status.position === undefined ? undefined : status.position + 1n,
        filter: ctx.options.filter,
        limit: 1
      }))
      const now = yield* Clock.currentTimeMillis
      const pending = head._tag === "Some" && next._tag === "Some" && next.value.position <= head.value.position
      const behind = pending ? Number(head.value.position - (status.position ?? 0n)) : 0
      const age = pending ? Math.max(0, (now - next.value.createdAt.getTime()) / 1000) : 0
      yield* Metric.update(Metric.withAttributes(metrics.lagEvents, attributes), behind)
      yield* Metric.update(Metric.withAttributes(metrics.lagSeconds, attributes), age)
      if (status.state === "catching-up" && pending) {
        const rate = previous === undefined || now <= previous.at
          ? ""
          : `, ${
            Math.round(
              Number((status.position ?? 0n) - (previous.position ?? 0n)) / ((now - previous.at) / 1000)
            )
          } positions/s`
        yield* Effect.logInfo(
          `Strata: consumer ${name} catching up: at position ${status.position ?? "start"} of ${
            head._tag === "Some" ? head.value.position : "?"
          } (${behind} behind, oldest pending ${age.toFixed(1)} s old${rate})`
        ).pipe(ctx.annotate)
      }
      previous = { at: now, position: status.position }
    }
  }).pipe(
    // A failed measurement (an outage) is skipped: the next tick measures again.
    Effect.catchCause(() => Effect.void),
    Effect.forever
  )
