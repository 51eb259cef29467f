/**
 * Helpers shared by the conformance modules: unique names, typed failure checks, subscription
 * collectors.
 *
 * Every test runs against one shared store (and maybe a shared database), so each test makes its
 * own names: a category `t<random hex>` per test, streams `t<hex>-<suffix>` inside it, event types
 * `T<hex>.<Name>` and collections `c<hex>`. Global reads filter by that category or those types.
 */
import { assert } from "@effect/vitest"
import type { Event } from "@strata/core"
import { EventStore } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** Random lowercase hex, `bytes` bytes long. */
export const hex = (bytes = 6): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join(
    ""
  )

/** Names private to one test. */
export interface Names {
  /** A category no other test uses: `t<hex>`. */
  readonly category: string
  /** A stream in the category: `t<hex>-<suffix>` (suffix `main` when absent). */
  readonly stream: (suffix?: string) => string
  /** An event type no other test uses: `T<hex>.<name>`. */
  readonly type: (name: string) => string
  /** A collection name no other test uses: `c<hex>_<suffix>` (suffix `main` when absent). */
  readonly collection: (suffix?: string) => string
  /** A checkpoint name no other test uses. */
  readonly checkpoint: (suffix?: string) => string
}

/** Makes names private to one test. */
export const names = (): Names => {
  const id = hex()
  return {
    category: `t${id}`,
    stream: (suffix = "main") => `t${id}-${suffix}`,
    type: (name) => `T${id}.${name}`,
    collection: (suffix = "main") => `c${id}_${suffix}`,
    checkpoint: (suffix = "main") => `cp-${id}-${suffix}`
  }
}

/** JSON for messages, with bigints and odd values shown instead of thrown on. */
export const show = (value: unknown): string => {
  try {
    return JSON.stringify(value, (_, v) => typeof v === "bigint" ? `${v}n` : v) ?? String(value)
  } catch {
    return String(value)
  }
}

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

/**
 * Runs `effect`, which must fail with the tagged error `tag`; succeeds with that error, narrowed.
 * Succeeding, or failing with another error, fails the test with a message saying what happened.
 */
export const failsWith =
  <const T extends string>(tag: T) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Extract<E, { readonly _tag: T }>, never, R> =>
    Effect.matchEffect(effect, {
      onSuccess: (value) =>
        Effect.sync(() => assert.fail(`expected a ${tag} failure, but it succeeded: ${show(value)}`)),
      onFailure: (error) =>
        tagOf(error) === tag
          ? Effect.succeed(error as Extract<E, { readonly _tag: T }>)
          : Effect.sync(() =>
            assert.fail(`expected a ${tag} failure, got ${tagOf(error) ?? "an untagged error"}: ${show(error)}`)
          )
    })

/** Runs a finite stream, which must fail with `tag`. */
export const streamFailsWith =
  <const T extends string>(tag: T) =>
  <A, E, R>(stream: Stream.Stream<A, E, R>): Effect.Effect<Extract<E, { readonly _tag: T }>, never, R> =>
    failsWith(tag)(Stream.runCollect(stream))

/** Fails the test with `message` when `effect` does not finish within `timeout`. */
export const within =
  (timeout: Duration.Input, message: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.timeoutOrElse(effect, {
      duration: timeout,
      orElse: () =>
        Effect.sync(() =>
          assert.fail(`timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))}: ${message}`)
        )
    })

/** Reads a whole stream into an array. */
export const readStream = (stream: string, options?: EventStore.ReadOptions) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCollect(store.read(stream, options)))

/** Reads the global log into an array. */
export const readAll = (options?: EventStore.ReadAllOptions) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCollect(store.readAll(options)))

/** `count` fresh events of `type`, with data `{ i }` (i from `start`). */
export const events = (type: string, count: number, start = 0): Array<Event.NewEvent> =>
  Array.from({ length: count }, (_, i) => ({ type, data: { i: start + i } }))

/** A fresh random UUID (v4). */
export const uuid = (): string => globalThis.crypto.randomUUID()

/** The `n` first versions: 0n .. n-1. */
export const versions = (n: number, from = 0): Array<bigint> => Array.from({ length: n }, (_, i) => BigInt(from + i))

/** Asserts that bigints are strictly increasing. */
export const assertIncreasing = (values: ReadonlyArray<bigint>, what: string): void => {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i] > values[i - 1])) {
      assert.fail(`${what} not strictly increasing at index ${i}: ${values[i - 1]} then ${values[i]}`)
    }
  }
}

/**
 * A subscription running in the background of the test's scope, pushing what it delivers into a
 * queue, so a test can append while it listens and then take exactly what it expects.
 */
export interface Collector<A> {
  /** Waits for the next `n` deliveries (failing the test after `timeout`). */
  readonly take: (n: number) => Effect.Effect<Array<A>>
  /** Whatever has been delivered and not yet taken, without waiting. */
  readonly drain: Effect.Effect<Array<A>>
}

/** Starts consuming `stream` in the background; it is interrupted when the test's scope closes. */
export const collect = <A, E, R>(
  stream: Stream.Stream<A, E, R>,
  timeout: Duration.Input
): Effect.Effect<Collector<A>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<A>()
    const failure = yield* Queue.unbounded<unknown>()
    yield* Stream.runForEach(stream, (item) => Queue.offer(queue, item)).pipe(
      Effect.catch((error) => Queue.offer(failure, error)),
      Effect.forkScoped
    )
    const checkFailure = Effect.flatMap(Queue.poll(failure), (error) =>
      Option.isSome(error)
        ? Effect.sync(() => assert.fail(`the subscription failed: ${show(error.value)}`))
        : Effect.void)
    return {
      take: (n) =>
        Effect.gen(function*() {
          const got: Array<A> = []
          while (got.length < n) {
            const next = yield* Queue.take(queue).pipe(Effect.timeoutOption(timeout))
            if (Option.isNone(next)) {
              yield* checkFailure
              return assert.fail(`the subscription delivered ${got.length} of ${n} expected items: ${show(got)}`)
            }
            got.push(next.value)
          }
          return got
        }),
      drain: Effect.flatMap(checkFailure, () => Queue.clear(queue))
    }
  })

/**
 * Waits until a `from: "end"` subscription is live: appends probe events of `type` to `stream`, one
 * every 50 ms, until the collector delivers one. Returns the probes delivered, which must be the
 * tail of the probes appended (a live subscription loses nothing), so callers can assert on them.
 */
export const awaitLive = (
  collector: Collector<Event.RecordedEvent>,
  stream: string,
  type: string,
  timeout: Duration.Input
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const appended: Array<string> = []
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    let delivered: Array<Event.RecordedEvent> = []
    while (delivered.length === 0) {
      if (Date.now() > deadline) return assert.fail("the subscription never became live")
      const id = uuid()
      yield* store.append(stream, [{ id, type, data: { probe: appended.length } }])
      appended.push(id)
      yield* Effect.sleep("50 millis")
      delivered = yield* collector.drain
    }
    // Any probe delivered is live: the ones after it must follow, all of them, in order.
    const first = appended.indexOf(delivered[0].id)
    assert.isAtLeast(first, 0, "the subscription delivered something that is not a probe")
    const rest = yield* collector.take(appended.length - first - delivered.length)
    const all = [...delivered, ...rest]
    assert.deepStrictEqual(all.map((event) => event.id), appended.slice(first))
    return all
  })

/** A date within `minutes` of now. */
export const assertRecent = (date: unknown, what: string, minutes = 1): void => {
  assert.instanceOf(date, Date, `${what} is not a Date`)
  const delta = Math.abs((date as Date).getTime() - Date.now())
  assert.isBelow(delta, minutes * 60_000, `${what} (${(date as Date).toISOString()}) is not close to now`)
}

/** A lowercase, hyphenated UUID of any version. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
