/**
 * The store decorators' work on streams (Tracing's span, Retry's resumption, Metrics' count), fused
 * into one pull.
 *
 * Each decorator used to wrap the stream below it in a channel of its own, so a subscription under
 * `Store.layer` held three channels, three wrapped pulls, three suspended continuations and a span
 * finalizer beside the backend's own while it waited (issue 23, many subscribers: 3.4 KB per idle
 * subscription on top of the backend's). Here a decorated stream carries its {@link Plan} (what
 * opens the undecorated stream, and the span, retry and counters around it), and the next decorator
 * extends the plan instead of wrapping the stream: one channel and one pull run all of it. What a
 * plan cannot take (a span around a retrying stream, a second retry) wraps the stream as before, so
 * every order of decorators keeps its meaning.
 *
 * - span: started when an attempt opens, the parent of everything its pulls do, ended with the
 *   attempt's exit (a failure, the end of the stream, or its scope closing: interrupted, or taken
 *   from and dropped). Under a retry each attempt has its own span, ended before the next opens.
 * - retry: a transient failure (`StoreUnavailable`) closes the attempt's scope and opens a new
 *   attempt from the state after the last delivered chunk, on the schedule (made only when an
 *   attempt fails; started over once an attempt delivers).
 * - counters: each counter is incremented by the size of each delivered chunk.
 *
 * @internal
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Metric from "effect/Metric"
import * as Pull from "effect/Pull"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { isRetryable } from "../StoreError.ts"

/** A span around each attempt. */
export interface SpanPlan {
  readonly name: string
  /** Shared by every stream of an operation. */
  readonly attributes: Record<string, unknown>
  /** The stream read or followed (`strata.stream`), kept apart so no attribute record is made per stream. */
  readonly stream?: string | undefined
}

/** How a stream resumes after a transient failure. */
export interface RetryPlan<S, A> {
  /** The schedule, made into a stepper only when an attempt fails; `describe` tells where it resumes. */
  readonly schedule: (describe: () => string) => Schedule.Schedule<unknown, unknown>
  /** The state after a delivered chunk ending with `last`; undefined when nothing is left to read. */
  readonly advance: (state: S, last: A, count: number) => S | undefined
  readonly describe: (state: S) => string
}

/** What a decorated stream runs: the undecorated stream for a state, and what goes around it. */
export interface Plan<S, A, E, R> {
  readonly initial: S
  readonly open: (state: S) => Stream.Stream<A, E, R>
  readonly span?: SpanPlan | undefined
  readonly retry?: RetryPlan<S, A> | undefined
  readonly counters: ReadonlyArray<Metric.Metric<number, unknown>>
}

const PlanKey: unique symbol = Symbol.for("@strata/core/internal/decoratedStream/Plan")
const FuseKey: unique symbol = Symbol.for("@strata/core/internal/decoratedStream/Fuse")

/**
 * What a stream that runs a plan's work in its own pull is given: the plan itself (its counters to
 * increment by each delivered chunk's size; its retry, whose schedule is made only when a read
 * fails and started over once a chunk is delivered). Passed as is, so a subscription holds no
 * object of its own for it.
 */
export interface Hooks {
  readonly initial: unknown
  readonly counters: ReadonlyArray<Metric.Metric<number, unknown>>
  readonly retry?: RetryPlan<unknown, unknown> | undefined
}

/**
 * Where a fused stream resumes, as its retry plan describes it: from its start, or after `cursor`,
 * the last delivered event's version (subscribe) or position (subscribeAll).
 */
export const describeAt = (hooks: Hooks, cursor: bigint | undefined): string => {
  const retry = hooks.retry
  if (retry === undefined) return ""
  const state = cursor === undefined
    ? hooks.initial
    : retry.advance(hooks.initial, { version: cursor, position: cursor }, 1) ?? hooks.initial
  return retry.describe(state)
}

/**
 * Marks `stream` as able to run a plan's retry and counters itself (a fed subscription resumes
 * from its own cursor): a decorated stream over it without a span to export then runs its pull
 * alone, with no pull, scope or continuation of its own around it (issue 23, many subscribers).
 */
export const fusable = <A, E>(
  stream: Stream.Stream<A, E>,
  fuse: (hooks: Hooks, scope: Scope.Scope) => Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, void>
): Stream.Stream<A, E> => Object.assign(stream, { [FuseKey]: fuse })

const fuserOf = (stream: Stream.Stream<unknown, unknown, unknown>) =>
  (stream as { readonly [FuseKey]?: (hooks: Hooks, scope: Scope.Scope) => Next })[FuseKey]

// The state is the plan's own; the requirements are the decorated stream's, which its run provides.
// oxlint-disable-next-line no-explicit-any
export type AnyPlan = Plan<any, unknown, unknown, never>

/** The plan a decorated stream carries (what opens the stream below it, and its span, retry and counters). */
export const planOf = (stream: unknown): AnyPlan | undefined => (stream as { readonly [PlanKey]?: AnyPlan })[PlanKey]

const opaque = (stream: Stream.Stream<unknown, unknown, unknown>): AnyPlan => ({
  initial: undefined,
  open: () => stream as Stream.Stream<unknown, unknown>,
  counters: []
})

/** Runs a plan as a stream that carries it (so the next decorator can extend it). */
export const make = <S, A, E, R>(plan: Plan<S, A, E, R>): Stream.Stream<A, E, R> =>
  run(plan as unknown as AnyPlan) as Stream.Stream<A, E, R>

const run = (plan: AnyPlan): Stream.Stream<unknown, unknown> => {
  const stream = Stream.fromChannel(
    Channel.fromTransform((upstream: Pull.Pull<unknown, unknown, unknown>, scope: Scope.Scope) => {
      // Opened once (the run's first attempt when it is not fused), and here rather than in an
      // effect: the consumer's fiber holds the transform's effect for as long as the stream runs.
      const opened = plan.open(plan.initial)
      return Effect.succeed(fused(plan, opened, scope) ?? new Runner(plan, upstream, scope, opened).pull)
    })
  )
  return Object.assign(stream, { [PlanKey]: plan })
}

// The undecorated stream's own pull running the plan's retry and counters, when it can (see
// `fusable`) and no span is to be made: decided when the stream starts, in the consumer's fiber.
const fused = (plan: AnyPlan, opened: Stream.Stream<unknown, unknown>, scope: Scope.Scope): Next | undefined => {
  let stream = opened
  let span = plan.span
  let counters = plan.counters
  const below = planOf(stream)
  if (below !== undefined && below.retry === undefined && !(span !== undefined && below.span !== undefined)) {
    stream = below.open(below.initial)
    span ??= below.span
    counters = below.counters.length === 0 ? counters : counters.concat(below.counters)
  }
  const fuse = fuserOf(stream)
  if (fuse === undefined) return undefined
  if (span !== undefined) {
    const fiber = Fiber.getCurrent()
    if (fiber === undefined || exports(fiber)) return undefined
  }
  return fuse(counters === plan.counters ? plan : { ...plan, counters }, scope)
}

// Spans are made only when a tracer that exports them is installed (not Effect's default, which
// keeps them in memory for nobody, nor with tracing disabled), as for consumers' spans: an idle
// subscription then holds no span, no context carrying it and no finalizer for it.
const exports = (fiber: Fiber.Fiber<unknown, unknown>) =>
  fiber.getRef(References.TracerEnabled) && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/** `stream` in a span per run (`Stream.withSpan` without its bracket). */
export const withSpan = <A, E, R>(stream: Stream.Stream<A, E, R>, span: SpanPlan): Stream.Stream<A, E, R> => {
  const plan = planOf(stream)
  return run(
    plan !== undefined && plan.retry === undefined && plan.span === undefined
      ? { ...plan, span }
      : { ...opaque(stream), span }
  ) as Stream.Stream<A, E, R>
}

// `[counter]` made once per counter: every subscription of a store counted by one counter shares
// it (plans never mutate their counters), instead of holding an array of its own (~58 B each).
const singles = new WeakMap<Metric.Metric<number, unknown>, ReadonlyArray<Metric.Metric<number, unknown>>>()
const single = (counter: Metric.Metric<number, unknown>) => {
  let counters = singles.get(counter)
  if (counters === undefined) singles.set(counter, counters = [counter])
  return counters
}

/** `stream` with `counter` incremented by each delivered chunk's size. */
export const withCounter = <A, E, R>(
  stream: Stream.Stream<A, E, R>,
  counter: Metric.Metric<number, unknown>
): Stream.Stream<A, E, R> => {
  const base = planOf(stream) ?? opaque(stream)
  // An array of its exact size (a spread reserves room to grow, and each subscription holds one).
  const counters = base.counters.length === 0 ? single(counter) : base.counters.concat([counter])
  return run({ ...base, counters }) as Stream.Stream<A, E, R>
}

/** A stream opened from `initial` and, after a transient failure, resumed from the state `retry` advances to. */
export const resuming = <S, A, E, R>(
  initial: S,
  open: (state: S) => Stream.Stream<A, E, R>,
  retry: RetryPlan<S, A>
): Stream.Stream<A, E, R> => make({ initial, open, retry, counters: [] })

type Chunk = Arr.NonEmptyReadonlyArray<unknown>
type Next = Pull.Pull<Chunk, unknown, unknown>

const endSpan = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>) =>
  Effect.flatMap(
    References.TracerTimingEnabled,
    (timed) =>
      Effect.map(timed ? Clock.currentTimeNanos : Effect.succeed(0n), (now) => {
        if (span.status._tag !== "Ended") span.end(now, exit)
      })
  )

// One run of a plan. While it waits on the stream below, it holds that stream's pull, its span and
// its scope; the rest is made when an attempt opens or fails.
class Runner {
  state: unknown
  finished = false
  current: Next | undefined = undefined
  attempt: Scope.Closeable | undefined = undefined
  span: Tracer.Span | undefined = undefined
  counters: ReadonlyArray<Metric.Metric<number, unknown>>
  stepper: ((error: unknown) => Pull.Pull<unknown, unknown, unknown>) | undefined = undefined
  registered = false
  readonly plan: AnyPlan
  readonly upstream: Pull.Pull<unknown, unknown, unknown>
  readonly scope: Scope.Scope
  // The first attempt's stream, opened when the run started (then dropped).
  first: Stream.Stream<unknown, unknown> | undefined
  constructor(
    plan: AnyPlan,
    upstream: Pull.Pull<unknown, unknown, unknown>,
    scope: Scope.Scope,
    first: Stream.Stream<unknown, unknown>
  ) {
    this.first = first
    this.plan = plan
    this.state = plan.initial
    this.counters = plan.counters
    this.upstream = upstream
    this.scope = scope
  }
  readonly pull: Next = Effect.suspend(() =>
    this.current === undefined ? this.open() : Effect.matchCauseEffect(this.current, this)
  )
  readonly onSuccess = (chunk: Chunk): Next => {
    this.stepper = undefined
    const retry = this.plan.retry
    if (retry !== undefined) {
      const next = retry.advance(this.state, chunk[chunk.length - 1], chunk.length)
      if (next === undefined) this.finished = true
      else this.state = next
    }
    if (this.counters.length === 0) return Effect.succeed(chunk)
    return Effect.withFiber((fiber) => {
      for (const counter of this.counters) counter.updateUnsafe(chunk.length, fiber.context)
      return Effect.succeed(chunk)
    })
  }
  readonly onFailure = (cause: Cause.Cause<unknown>): Next => {
    const retry = this.plan.retry
    const ended = this.end(Pull.doneExitFromCause(cause), Exit.failCause(cause))
    this.current = undefined
    const transient = retry !== undefined && !Pull.isDoneCause(cause) && cause.reasons.length > 0 &&
      cause.reasons.every((reason) => Cause.isFailReason(reason) && isRetryable(reason.error))
    if (!transient) return Effect.andThen(ended, Effect.failCause(cause))
    if (this.finished) return Effect.andThen(ended, Cause.done())
    const error = (cause.reasons[0] as Cause.Fail<unknown>).error
    return ended.pipe(
      Effect.andThen(
        this.stepper === undefined
          ? Effect.map(
            Schedule.toStepWithMetadata(retry.schedule(() => retry.describe(this.state))),
            (made) => (this.stepper = made)
          )
          : Effect.succeed(this.stepper)
      ),
      Effect.flatMap((step) => step(error)),
      // The schedule gave up: the stream fails with the error it gave up on.
      Pull.catchDone(() => Effect.fail(error)),
      Effect.andThen(this.pull)
    ) as Next
  }
  // Ends the current attempt: its span with `spanExit`, its scope (when it has one of its own) with `exit`.
  end(spanExit: Exit.Exit<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    const attempt = this.attempt
    const span = this.span
    this.attempt = undefined
    this.span = undefined
    const closed = attempt === undefined ? Effect.void : Scope.close(attempt, exit)
    return span === undefined ? closed : Effect.andThen(closed, endSpan(span, spanExit))
  }
  // The stream's scope closing ends what is open (interrupted, or taken from and dropped).
  readonly finalize = (exit: Exit.Exit<unknown, unknown>) => this.end(exit, exit)
  open(): Next {
    if (this.finished) return Cause.done()
    const plan = this.plan
    let stream = this.first ?? plan.open(this.state)
    this.first = undefined
    let span = plan.span
    // A plan below without a retry of its own (a span, counters) runs in this one's pull.
    const below = planOf(stream)
    if (below !== undefined && below.retry === undefined && !(span !== undefined && below.span !== undefined)) {
      stream = below.open(below.initial)
      span ??= below.span
      this.counters = below.counters.length === 0 ? plan.counters : plan.counters.concat(below.counters)
    }
    if (span === undefined) return this.opened(stream, undefined)
    const spanned = span
    return Effect.withFiber((fiber) => exports(fiber) ? this.opened(stream, spanned) : this.opened(stream, undefined))
  }
  opened(stream: Stream.Stream<unknown, unknown>, span: SpanPlan | undefined): Next {
    // An attempt has a scope of its own when it can be followed by another, or when its span must
    // end once the stream's scope closes; the stream's scope has one finalizer for both.
    const own = this.plan.retry !== undefined || span !== undefined
    const attempt = own ? Scope.makeUnsafe() : undefined
    const register = !own || this.registered
      ? Effect.void
      : Effect.suspend(() => {
        this.registered = true
        return Scope.addFinalizerExit(this.scope, this.finalize)
      })
    const transform = Channel.toTransform(stream.channel)(this.upstream, attempt ?? this.scope)
    const opened = (made: Next) => {
      this.current = this.span === undefined ? made : Effect.provideService(made, Tracer.ParentSpan, this.span)
      return this.pull
    }
    this.attempt = attempt
    if (span === undefined) return Effect.andThen(register, Effect.flatMap(transform, opened))
    return register.pipe(
      Effect.andThen(Effect.makeSpan(span.name, { attributes: span.attributes, kind: "client" })),
      Effect.flatMap((made) => {
        if (span.stream !== undefined) made.attribute("strata.stream", span.stream)
        this.span = made
        return Effect.flatMap(Effect.provideService(transform, Tracer.ParentSpan, made), opened)
      })
    )
  }
}
