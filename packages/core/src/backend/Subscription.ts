/**
 * The catch-up-then-live loop every backend's subscriptions run on.
 *
 * There is no separate live mode: a subscription keeps reading pages after its cursor, and when it
 * reaches the head it waits for a wake-up (an in-process signal, a PostgreSQL NOTIFY) or the poll
 * interval, then reads again. Catch-up and live are the same query, so there is no seam where an
 * event can be lost or delivered twice, provided the backend's `readPage` only returns events
 * whose position can no longer be overtaken by a later commit (see the PostgreSQL backend).
 *
 * Lost wake-ups cannot happen: the subscriber listens before its first read, and the wake-up queue
 * keeps the latest signal until taken.
 *
 * With a shared reader (`live`, see {@link LiveFeed}) a subscription joins the feed before it reads,
 * catches up with its own reads until a short page, and then takes what the feed hands it (dropping
 * what its own reads already delivered). It waits on nothing else and polls nothing itself. When it
 * falls too far behind, the feed drops it and it catches up with its own reads again.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Pull from "effect/Pull"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { RecordedEvent } from "../Event.ts"
import type { SubscribeFrom } from "../EventStore.ts"
import * as DecoratedStream from "../internal/decoratedStream.ts"
import { isRetryable } from "../StoreError.ts"
import * as LiveFeed from "./LiveFeed.ts"

/**
 * What a backend supplies to run subscriptions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Source<E> {
  /** Up to `limit` events with a cursor greater than `after`, ascending. */
  readonly readPage: (after: bigint, limit: number) => Effect.Effect<Page, E>
  /**
   * A `readPage` with state of its own, made once per run of the subscription, used instead of
   * `readPage` (e.g. a horizon that each run must take afresh). Instead of a `Stream.suspend` around
   * the subscription, which would wrap every idle one (~1 KB each).
   */
  readonly openReadPage?: (() => (after: bigint, limit: number) => Effect.Effect<Page, E>) | undefined
  /** The cursor of the last event now visible (for `from: "end"`); -1 when there is none. */
  readonly head: Effect.Effect<bigint, E>
  /** The cursor of an event: its position, or its version for single-stream subscriptions. */
  readonly cursorOf: (event: RecordedEvent) => bigint
  /** Signals that new events may be visible. Subscribed before the first read. */
  readonly wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope>
  /** How long to wait for a wake-up before reading anyway (for writers the signal cannot reach). */
  readonly pollInterval: Duration.Input
  readonly pageSize: number
  /** The store's shared reader: live events come from it instead of this subscription's reads. */
  readonly live?: Live<E> | undefined
  /**
   * Checks the subscription's arguments when it starts, before anything else runs (instead of a
   * `Stream.unwrap` around the subscription, which an idle subscription would hold on to).
   */
  readonly check?: Effect.Effect<unknown, E> | undefined
}

/**
 * How a subscription joins its store's {@link LiveFeed}: the feed, and what it wants of it (the
 * stream it follows, or the filter applied in process to the global log).
 *
 * @category models
 * @since 0.1.0
 */
export interface Live<E> extends LiveFeed.Interest {
  readonly feed: LiveFeed.LiveFeed<E>
}

/**
 * One read of a subscription.
 *
 * @category models
 * @since 0.1.0
 */
export interface Page {
  readonly events: ReadonlyArray<RecordedEvent>
  /**
   * Events may be committed behind an append still in flight (PostgreSQL's horizon). That append
   * wakes subscribers when it commits, but not when it rolls back, so the subscription reads again
   * after a short, growing delay instead of waiting for the poll interval.
   */
  readonly pending?: boolean | undefined
}

/**
 * A signal many subscribers can wait on; publishing never blocks and coalesces.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSignal: Effect.Effect<PubSub.PubSub<void>> = PubSub.sliding<void>(1)

const firstRetry = Duration.millis(5)

/**
 * Runs a subscription from `from` (`start`, `end`, or after a cursor).
 *
 * @category constructors
 * @since 0.1.0
 */
export const catchUpThenLive = <E>(source: Source<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  source.live === undefined ? polling(source, from) : fed(source, source.live, from)

const polling = <E>(source: Source<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  Stream.unwrap(Effect.gen(function*() {
    if (source.check !== undefined) yield* source.check
    const wakeups = yield* source.wakeups
    const readPage = source.openReadPage?.() ?? source.readPage
    const start = from === "start" ? -1n : from === "end" ? yield* source.head : from.after
    const poll = Duration.fromInputUnsafe(source.pollInterval)
    const wait = (timeout: Duration.Duration) => PubSub.take(wakeups).pipe(Effect.timeoutOption(timeout), Effect.asVoid)
    // State: the cursor, whether the last read reached the head (then wait before reading again),
    // and how long to wait at most when an append in flight holds events back.
    return Stream.paginate(
      { cursor: start, atHead: false, retry: undefined as Duration.Duration | undefined },
      (state) =>
        Effect.gen(function*() {
          if (state.atHead) yield* wait(state.retry ?? poll)
          const { events, pending } = yield* readPage(state.cursor, source.pageSize)
          const cursor = events.length === 0 ? state.cursor : source.cursorOf(events[events.length - 1])
          const atHead = events.length < source.pageSize
          const retry = pending === true && atHead
            ? Duration.min(
              state.retry === undefined || events.length > 0 ? firstRetry : Duration.times(state.retry, 2),
              poll
            )
            : undefined
          return [events, Option.some({ cursor, atHead, retry })] as const
        })
    )
  }))

// A subscription's own read, on a fiber that ends with it. A fiber the database client schedules work
// on (PostgreSQL's connection pool forks, its semaphores wake waiters) makes itself a dispatcher and
// keeps it for life: ~250 B of every idle PostgreSQL subscription when the reads ran on its own fiber.
// Started at once, so a read that completes synchronously (memory, SQLite) never suspends.
const aside = <A, E>(read: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(
    Effect.forkDetach(read, { startImmediately: true }),
    (fiber) => Effect.onInterrupt(Fiber.join(fiber), () => Fiber.interrupt(fiber))
  )

// Join, read until a short page, then take what the feed hands it; on overflow, join again and read
// again. The join comes before the reads, so whatever the feed published before it is visible to
// them. The subscription is its own feed member (issue 23, many subscribers): an idle one is this
// object, its entry in the feed's index, its pull, its scope's finalizer and the one suspended
// callback the feed resumes with the events to deliver. Nothing of it is on the consumer's stack
// while it waits.
class Follower<E> extends LiveFeed.Member<E> {
  cursor = -1n
  caughtUp = false
  // Until the first pull: where it starts and the scope its finalizer goes to. The setup runs in
  // the first pull rather than in the channel's transform, whose effect the consumer's fiber holds
  // (in its `catchDone` frame) for as long as the stream runs.
  from: SubscribeFrom | undefined
  scope: Scope.Scope | undefined
  // Until its setup has run: the whole source (its check and head). After it, only what the loop
  // needs: a fused subscription is held by nothing else, and a SQL source's head statement is ~0.4 KB.
  setup: Source<E> | undefined
  readonly readPage: Source<E>["readPage"]
  readonly cursorOf: Source<E>["cursorOf"]
  readonly pageSize: number
  // A decorated store's counters and retry, run here instead of around the stream (see
  // internal/decoratedStream `fusable`); the retry's stepper exists from a failure to the next delivery.
  readonly hooks: DecoratedStream.Hooks | undefined
  moved = false
  stepper: ((error: unknown) => Pull.Pull<unknown, unknown, unknown>) | undefined = undefined
  readonly pull: Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E>
  // Its scope's finalizer: the pull's own thunk, which leaves the feed when called with the scope's
  // exit (one function per subscription instead of two, 56 bytes).
  readonly finalizer: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
  constructor(
    source: Source<E>,
    live: Live<E>,
    from: SubscribeFrom,
    scope: Scope.Scope | undefined,
    hooks?: DecoratedStream.Hooks | undefined
  ) {
    super(live)
    this.setup = source
    this.readPage = source.openReadPage?.() ?? source.readPage
    this.cursorOf = source.cursorOf
    this.pageSize = source.pageSize
    this.from = from
    this.scope = scope
    this.hooks = hooks
    // Called by `suspend` without an argument, by the scope with its exit.
    const step = (exit?: Exit.Exit<unknown, unknown>) => exit === undefined ? this.step() : this.close()
    this.pull = Effect.suspend(step as () => Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E>)
    this.finalizer = step as (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
  }
  step(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    // A take interrupted earlier left its resume here: nothing may be handed to it.
    this.waiting = undefined
    const scope = this.scope
    if (scope !== undefined) {
      this.scope = undefined
      return Effect.andThen(Scope.addFinalizerExit(scope, this.finalizer), this.pull)
    }
    if (this.from !== undefined) return this.then(aside(this.start(this.from)), (at) => this.started(at))
    if (this.exit === undefined) {
      this.caughtUp = false
      return this.then((this.interest as Live<E>).feed.enter(this), () => this.pull)
    }
    if (!this.caughtUp) {
      return this.then(aside(this.readPage(this.cursor, this.pageSize)), (page) => this.read(page))
    }
    return this.ready() ?? this.idle()
  }
  // Caught up with nothing to deliver: the pull waits for the feed's next hand-over.
  idle(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    return Effect.callback<Arr.NonEmptyReadonlyArray<RecordedEvent>, E>((resume) => {
      this.waiting = resume as LiveFeed.Member<E>["waiting"]
    })
  }
  // Its scope closed: it leaves the feed.
  close(): Effect.Effect<void> {
    return Effect.sync(() => this.leaveNow())
  }
  // What the feed's hand-over makes of the pull now: events past the cursor, a new join after an
  // overflow, the reader's failure; undefined while there is nothing to deliver.
  ready(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> | undefined {
    const buffer = this.buffer
    if (buffer !== undefined) {
      this.buffer = undefined
      const cursorOf = this.cursorOf
      const fresh = buffer.filter((event) => cursorOf(event) > this.cursor)
      const delivered = this.deliver(fresh)
      if (delivered !== undefined) return delivered
    }
    if (this.overflowed) {
      this.leaveNow()
      return this.pull
    }
    if (this.failure !== undefined) return this.failed(this.failure as Cause.Cause<E>)
    return undefined
  }
  override resume(): void {
    const waiting = this.waiting
    if (waiting === undefined) return
    const ready = this.ready()
    if (ready === undefined) return
    this.waiting = undefined
    waiting(ready)
  }
  // The arguments' check and the start cursor.
  start(from: SubscribeFrom): Effect.Effect<bigint, E> {
    const source = this.setup!
    const at = from === "start" ? Effect.succeed(-1n) : from === "end" ? source.head : Effect.succeed(from.after)
    return source.check === undefined ? at : Effect.andThen(source.check, at)
  }
  started(at: bigint): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    this.cursor = at
    this.from = undefined
    this.setup = undefined
    return this.pull
  }
  read(page: Page): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    this.caughtUp = page.events.length < this.pageSize
    return this.deliver(page.events) ?? this.pull
  }
  // Continues with `next` once `effect` is done (outside it: the next pull never runs inside a
  // frame of this one, so the consumer's stack stays flat); with a retry, its failures go to `failed`.
  then<A>(
    effect: Effect.Effect<A, E>,
    next: (a: A) => Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E>
  ): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    return this.hooks?.retry === undefined
      ? Effect.flatMap(effect, next)
      : Effect.matchCauseEffect(effect, { onSuccess: next, onFailure: (cause) => this.failed(cause) })
  }
  deliver(events: ReadonlyArray<RecordedEvent>): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>> | undefined {
    if (!Arr.isReadonlyArrayNonEmpty(events)) return undefined
    this.cursor = this.cursorOf(events[events.length - 1])
    this.moved = true
    this.stepper = undefined
    const counters = this.hooks?.counters
    if (counters === undefined || counters.length === 0) return Effect.succeed(events)
    return Effect.withFiber((fiber) => {
      for (const counter of counters) counter.updateUnsafe(events.length, fiber.context)
      return Effect.succeed(events)
    })
  }
  // A transient failure (`StoreUnavailable`) under a retry: leave the feed, wait as the schedule
  // says, then join again and read from the cursor (as an overflow does). Anything else fails.
  failed(cause: Cause.Cause<E>): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    const retry = this.hooks?.retry
    const transient = retry !== undefined && !Pull.isDoneCause(cause) && cause.reasons.length > 0 &&
      cause.reasons.every((reason) => Cause.isFailReason(reason) && isRetryable(reason.error))
    if (!transient) return Effect.failCause(cause)
    const error = (cause.reasons[0] as Cause.Fail<E>).error
    return Effect.suspend(() => {
      this.leaveNow()
      this.failure = undefined
      return this.stepper === undefined
        ? Effect.map(
          Schedule.toStepWithMetadata(
            retry.schedule(() => DecoratedStream.describeAt(this.hooks!, this.moved ? this.cursor : undefined))
          ),
          (made) => (this.stepper = made)
        )
        : Effect.succeed(this.stepper)
    }).pipe(
      Effect.flatMap((step) => step(error)),
      // The schedule gave up: the subscription fails with the error it gave up on.
      Pull.catchDone(() => Effect.fail(error)),
      Effect.andThen(this.pull)
    ) as Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E>
  }
}

/**
 * A subscription whose events a handler takes, batch by batch (`EventStore.subscribeWith`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Handled<E> {
  /**
   * Waits while the subscription runs: fails with what ended it (the handler's failure, or a read's
   * that no retry took), succeeds once its scope has closed.
   */
  readonly await: Effect.Effect<void, E>
}

/**
 * What a handled subscription hands its events to: each delivered batch, in order, one call at a time.
 *
 * @category models
 * @since 0.1.0
 */
export type Handler<E, R> = (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>

// What a fed subscription's pull answers when it is caught up with nothing to deliver: the handled
// subscription's fiber ends there (the feed's next hand-over starts another). Never seen by a stream.
const nothingYet = Cause.done() as unknown as Effect.Effect<never>

// Spans are made only when a tracer that exports them is installed, as for the stream form.
const exportsSpans = (fiber: Fiber.Fiber<unknown, unknown>) =>
  fiber.getRef(References.TracerEnabled) && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

// A fed subscription run by a handler instead of a consumer's pull (issue 23, many subscribers).
// An idle one is a feed member and nothing more: no fiber, no suspended pull. A fiber runs only while
// there is something to do (its start and catch-up reads, events handed over, a retry's wait) and
// ends once it is caught up with nothing buffered; the feed's next hand-over (`resume`) starts one.
// The loop is the Follower's: the same cursor, drop rule, overflow and retry.
class HandledFollower<E, E2, R> extends Follower<E> implements Handled<E | E2> {
  // The fiber running it, while one does.
  fiber: Fiber.Fiber<void> | undefined = undefined
  running = false
  closed = false
  // False under `untraced`: its fibers run with the tracer disabled.
  traced = true
  // How it ended, once it has; and its waiters, made only when `await` is asked for before that
  // (most subscriptions are never awaited: no Deferred each).
  outcome: Effect.Effect<void, E | E2> | undefined = undefined
  done: Deferred.Deferred<void, E | E2> | undefined = undefined
  readonly handler: Handler<E2, R>
  readonly services: Context.Context<R>
  readonly span: DecoratedStream.SpanPlan | undefined
  constructor(
    source: Source<E>,
    live: Live<E>,
    from: SubscribeFrom,
    hooks: DecoratedStream.Hooks | undefined,
    span: DecoratedStream.SpanPlan | undefined,
    handler: Handler<E2, R>,
    services: Context.Context<R>
  ) {
    super(source, live, from, undefined, hooks)
    this.span = span
    this.handler = handler
    this.services = services
  }
  get await(): Effect.Effect<void, E | E2> {
    return Effect.suspend(() => this.outcome ?? Deferred.await(this.done ??= Deferred.makeUnsafe()))
  }
  settle(outcome: Effect.Effect<void, E | E2>): void {
    if (this.outcome !== undefined) return
    this.outcome = outcome
    if (this.done !== undefined) Deferred.doneUnsafe(this.done, outcome)
  }
  override resume(): void {
    if (!this.running && !this.closed) this.wake()
  }
  wake(): void {
    this.running = true
    const fiber = Effect.runForkWith(this.services)(this.run())
    // It may have ended already (a synchronous read with nothing to deliver): not kept then.
    if (this.running && fiber.pollUnsafe() === undefined && this.fiber === undefined) this.fiber = fiber
  }
  run(): Effect.Effect<void, never, R> {
    const run = Effect.catchCause(this.loop(), (cause) => this.end(cause))
    return this.traced ? run : Effect.provideService(run, References.TracerEnabled, false)
  }
  loop(): Effect.Effect<void, E | E2, R> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.void
      // The feed failed it after it left (nothing to re-join for): `ready` answers the failure.
      const next = this.exit === undefined && this.failure !== undefined ? this.ready() ?? this.pull : this.pull
      return Effect.matchCauseEffect(next, {
        onSuccess: (events) => Effect.andThen(this.handle(events), this.loop()),
        onFailure: (cause) => Pull.isDoneCause(cause) ? this.rest() : Effect.failCause(cause)
      })
    })
  }
  handle(events: ReadonlyArray<RecordedEvent>): Effect.Effect<void, E2, R> {
    const span = this.span
    if (span === undefined) return this.handler(events)
    // One span per delivered batch (none held open for the subscription's life), a root of its own:
    // the batch comes from the shared reader, not from whatever was running when it subscribed.
    return Effect.withFiber((fiber) =>
      exportsSpans(fiber)
        ? Effect.withSpan(this.handler(events), span.name, {
          root: true,
          kind: "consumer",
          captureStackTrace: false,
          attributes: {
            ...span.attributes,
            ...(span.stream === undefined ? {} : { "strata.stream": span.stream }),
            "strata.event.count": events.length
          }
        })
        : this.handler(events)
    )
  }
  // Nothing to deliver: the fiber ends, unless something was handed over since the last look.
  rest(): Effect.Effect<void, E | E2, R> {
    return Effect.suspend(() => {
      if (!this.closed && (this.buffer !== undefined || this.overflowed || this.failure !== undefined)) {
        return this.loop()
      }
      this.running = false
      this.fiber = undefined
      return Effect.void
    })
  }
  override step(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    return this.closed ? nothingYet : super.step()
  }
  override idle(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    return nothingYet
  }
  // Ended by a failure: reported by `await`, and nothing more is delivered.
  end(cause: Cause.Cause<E | E2>): Effect.Effect<void> {
    return Effect.sync(() => {
      this.closed = true
      this.running = false
      this.fiber = undefined
      this.leaveNow()
      this.settle(Effect.failCause(cause))
    })
  }
  // Its scope closed: leaves the feed, stops the fiber (a handler running now is interrupted), and
  // `await` succeeds.
  override close(): Effect.Effect<void> {
    return Effect.withFiber((current) => {
      this.closed = true
      this.leaveNow()
      this.settle(Effect.void)
      const fiber = this.fiber
      this.fiber = undefined
      return fiber === undefined || fiber === current ? Effect.void : Fiber.interrupt(fiber)
    })
  }
}

// A subscription stream run with the tracer disabled (`Store.layer` with `spans: false`), and the
// stream it runs.
const UntracedKey: unique symbol = Symbol.for("@strata/core/backend/Subscription/Untraced")

/**
 * `events` run with the tracer disabled, still recognised by {@link handle} (which then runs the
 * subscription below as a feed member, untraced) instead of an opaque stream.
 *
 * @category combinators
 * @since 0.1.0
 */
export const untraced = <A, E, R>(events: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Object.assign(Stream.provideService(events, References.TracerEnabled, false), { [UntracedKey]: events })

// How a fed subscription's stream is run by a handler instead (see `handle`).
const HandleKey: unique symbol = Symbol.for("@strata/core/backend/Subscription/Handle")
type Handle = <E2, R>(
  hooks: DecoratedStream.Hooks | undefined,
  span: DecoratedStream.SpanPlan | undefined,
  handler: Handler<E2, R>,
  services: Context.Context<R>
) => HandledFollower<unknown, E2, R>

const fed = <E>(source: Source<E>, live: Live<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  Object.assign(
    DecoratedStream.fusable(
      Stream.fromChannel(
        Channel.fromTransform((_, scope: Scope.Scope) => Effect.succeed(new Follower(source, live, from, scope).pull))
      ),
      (hooks, scope) => new Follower(source, live, from, scope, hooks).pull
    ),
    {
      [HandleKey]: ((hooks, span, handler, services) =>
        new HandledFollower(source, live, from, hooks, span, handler, services)) as Handle
    }
  )

const { planOf } = DecoratedStream
const handleOf = (stream: unknown): Handle | undefined => (stream as { readonly [HandleKey]?: Handle })[HandleKey]

// The services a handled subscription runs with, shared with the previous subscription's when they
// hold the same services: each `Scope.provide` or `provideService` makes a new context (a Map of
// ~0.5 KB), and subscriptions started in a loop each in such a call would otherwise hold one each
// (issue 23, many subscribers: ~0.58 KB per idle subscription). Held weakly: it keeps no store alive.
let lastServices: WeakRef<Context.Context<any>> | undefined
const shared = <R>(services: Context.Context<R>): Context.Context<R> => {
  const last = lastServices?.deref()
  if (last !== undefined && last !== services && last.mapUnsafe.size === services.mapUnsafe.size) {
    let same = true
    for (const [key, value] of services.mapUnsafe) {
      if (last.mapUnsafe.get(key) !== value) {
        same = false
        break
      }
    }
    if (same) return last
  }
  if (last !== services) lastServices = new WeakRef(services)
  return services
}

/**
 * Runs a subscription's events (a store's `subscribe` or `subscribeAll`, decorated or not) through
 * `handler`, one delivered batch at a time, in order, until the scope closes or a failure ends it
 * (the handler's, or a read's that the store's retry does not take): `await` reports it.
 *
 * A subscription of a backend with a shared reader (`LiveFeed`: memory, SQLite, PostgreSQL, D1,
 * KurrentDB)
 * whose decorators are the store's own (spans, retry, metrics) runs as a feed member: while idle it
 * holds no fiber (issue 23, many subscribers: ~0.8-1.3 KB per idle subscription through
 * `Store.layer` instead of ~2.7 KB), its reads retried from its own cursor, its batches counted, and
 * one span per delivered batch.
 * Any other stream (one a wrapper mapped) runs in a fiber of the scope
 * (`Stream.runForEachArray`): the same deliveries, not the same size.
 *
 * @category constructors
 * @since 0.1.0
 */
export const handle = <E, E2, R>(
  events: Stream.Stream<RecordedEvent, E>,
  handler: Handler<E2, R>
): Effect.Effect<Handled<E | E2>, never, R | Scope.Scope> =>
  Effect.flatMap(Effect.context<R | Scope.Scope>(), (services) => {
    const scope = Context.get(services, Scope.Scope)
    // The decorators' plans, outermost first, down to the backend's stream: their counters, one
    // retry and one span at most (more than that is not the store's own decoration).
    const below = (events as { readonly [UntracedKey]?: unknown })[UntracedKey]
    let stream: unknown = below ?? events
    let counters: ReadonlyArray<Metric.Metric<number, unknown>> = []
    let retry: DecoratedStream.RetryPlan<unknown, unknown> | undefined
    let initial: unknown
    let span: DecoratedStream.SpanPlan | undefined
    let plain = true
    for (let plan = planOf(stream); plan !== undefined && plain; plan = planOf(stream)) {
      if (plan.retry !== undefined) {
        plain = retry === undefined
        retry = plan.retry
        initial = plan.initial
      }
      if (plan.span !== undefined) {
        plain = plain && span === undefined
        span = plan.span
      }
      if (plan.counters.length > 0) counters = counters.length === 0 ? plan.counters : counters.concat(plan.counters)
      stream = plan.open(plan.initial)
    }
    const made = plain ? handleOf(stream) : undefined
    if (made !== undefined) {
      const hooks = retry === undefined && counters.length === 0 ? undefined : { initial, counters, retry }
      const handled = made(hooks, span, handler, shared(services))
      handled.traced = below === undefined
      return Effect.as(
        Effect.andThen(Scope.addFinalizerExit(scope, handled.finalizer), Effect.sync(() => handled.wake())),
        handled as Handled<E | E2>
      )
    }
    const done = Deferred.makeUnsafe<void, E | E2>()
    const handled: Handled<E | E2> = { await: Deferred.await(done) }
    return Effect.forkIn(
      Stream.runForEachArray(events, handler).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() =>
            Deferred.doneUnsafe(
              done,
              Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? exit : Effect.void
            )
          )
        )
      ),
      scope
    ).pipe(
      Effect.andThen(Scope.addFinalizer(scope, Effect.sync(() => Deferred.doneUnsafe(done, Effect.void)))),
      Effect.as(handled)
    )
  })

/**
 * Pages through a finite read: `readPage(state)` returns a page and the state for the next one,
 * stopping at a short page or at `limit` events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const paged = <S, E>(options: {
  readonly initial: S
  readonly pageSize: number
  readonly limit?: number | undefined
  readonly readPage: (state: S, limit: number) => Effect.Effect<readonly [ReadonlyArray<RecordedEvent>, S], E>
}): Stream.Stream<RecordedEvent, E> =>
  Stream.paginate(
    { state: options.initial, remaining: options.limit ?? Number.POSITIVE_INFINITY },
    ({ remaining, state }) => {
      const want = Math.min(options.pageSize, remaining)
      return options.readPage(state, want).pipe(
        Effect.map(([page, next]) => {
          const left = remaining - page.length
          return [page, page.length < want || left <= 0 ? Option.none() : Option.some({ state: next, remaining: left })]
        })
      )
    }
  )
