// What the console's pages ask the store, as Effects over the services every store layer provides.
// Answers are plain JSON values (positions and versions as decimal strings: JSON has no bigint).
import {
  Consumer,
  Event,
  EventStore,
  Health,
  JobQueue,
  ParkedEvents,
  StoreAdmin,
  StreamName,
  Transfer
} from "@strata/core"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/** The services the console needs: those of `Health.check` (every store layer provides them). */
export type Requirements = Health.Requirements

/** A failure the console answers with a status and a message (never a stack or a secret). */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: 400 | 404 | 409 | 500
  readonly message: string
}> {}

const apiError = (status: ApiError["status"], message: string) => new ApiError({ status, message })

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

// Store errors become a 409 with their message (they say what to do); a defect stays a defect.
const answer = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, ApiError, R> =>
  Effect.mapError(effect, (error) => error instanceof ApiError ? error : apiError(409, describe(error)))

// JSON has no bytes: a binary event carries `contentType` and `bytes` (standard base64 with padding)
// in place of `data`, through the Transfer line format's own encoder (never its array as `{"0":137,…}`).
export const eventJson = (event: Event.RecordedEvent) => ({
  id: event.id,
  stream: event.stream,
  version: event.version.toString(),
  position: event.position.toString(),
  type: event.type,
  createdAt: event.createdAt.toISOString(),
  ...Transfer.encodeData(event),
  metadata: event.metadata,
  ...(event.tags === undefined ? {} : { tags: event.tags })
})

export const parsePosition = (
  name: string,
  value: string | null | undefined
): Effect.Effect<bigint | undefined, ApiError> => {
  if (value === null || value === undefined || value === "") return Effect.succeed(undefined)
  return /^\d{1,20}$/.test(value)
    ? Effect.succeed(BigInt(value))
    : Effect.fail(apiError(400, `${name} must be a non-negative integer, got ${JSON.stringify(value)}`))
}

const parseLimit = (value: string | null, fallback: number, max: number): Effect.Effect<number, ApiError> => {
  if (value === null || value === "") return Effect.succeed(fallback)
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= 1 && n <= max
    ? Effect.succeed(n)
    : Effect.fail(apiError(400, `limit must be an integer from 1 to ${max}, got ${JSON.stringify(value)}`))
}

/** What the overview shows: the backend, the store's label, the health verdict and what is counted. */
export const overview = (storeLabel: string) =>
  Effect.gen(function*() {
    const admin = yield* StoreAdmin.StoreAdmin
    const report = yield* Health.check({ checkpoints: false })
    const stats = yield* admin.stats.pipe(
      Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail("statistics took over 5 s") }),
      Effect.map((stats) => ({
        streams: stats.streams,
        events: stats.events,
        head: stats.head?.toString(),
        byType: stats.byType.slice(0, 50),
        byCategory: stats.byCategory.slice(0, 200),
        databaseBytes: stats.databaseBytes
      })),
      Effect.catch((error) => Effect.succeed({ error: describe(error) }))
    )
    return {
      store: storeLabel,
      backend: admin.backend,
      status: report.status,
      ready: report.ready,
      live: report.live,
      problems: report.problems,
      migrations: report.migrations,
      stats
    }
  })

/**
 * The streams written most recently that match a prefix or a category, newest first. No backend
 * keeps a listable index of streams, so this reads the global log backwards (filtered in the
 * database) and stops at `limit` streams or `scan` events; `complete` says whether it reached the
 * log's start.
 */
export const streams = (params: URLSearchParams) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const prefix = params.get("prefix") ?? ""
    const category = params.get("category") ?? ""
    const limit = yield* parseLimit(params.get("limit"), 100, 1000)
    const scan = yield* parseLimit(params.get("scan"), 10_000, 1_000_000)
    const filter = {
      ...(prefix === "" ? {} : { streamPrefixes: [prefix] }),
      ...(category === "" ? {} : { categories: [category] })
    }
    const found = new Map<string, {
      stream: string
      category: string
      lastVersion: string
      lastPosition: string
      lastType: string
      lastAt: string
    }>()
    let scanned = 0
    yield* answer(Stream.runForEachWhile(
      store.readAll({ direction: "backwards", limit: scan, filter }),
      (event) =>
        Effect.sync(() => {
          scanned++
          if (!found.has(event.stream)) {
            found.set(event.stream, {
              stream: event.stream,
              category: StreamName.category(event.stream),
              lastVersion: event.version.toString(),
              lastPosition: event.position.toString(),
              lastType: event.type,
              lastAt: event.createdAt.toISOString()
            })
          }
          return found.size < limit
        })
    ))
    return { streams: [...found.values()], scanned, complete: scanned < scan && found.size < limit }
  })

/** A stream's status and a page of its events, forwards from `from` (default: the first kept). */
export const stream = (params: URLSearchParams) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const name = params.get("name") ?? ""
    const problem = StreamName.problem(name)
    if (problem !== undefined) return yield* apiError(400, `stream name: ${problem}`)
    const from = yield* parsePosition("from", params.get("from"))
    const limit = yield* parseLimit(params.get("limit"), 50, 1000)
    const info = yield* answer(store.streamInfo(name))
    const events = info.status === "active"
      ? yield* answer(
        Stream.runCollect(store.read(name, { ...(from === undefined ? {} : { from }), limit: limit + 1 }))
      )
      : []
    const page = events.slice(0, limit)
    return {
      stream: name,
      status: info.status,
      lastVersion: info.lastVersion?.toString(),
      events: page.map(eventJson),
      next: events.length > limit ? events[limit].version.toString() : undefined
    }
  })

/** The last events of the global log (newest first), for the tail's first screen. */
export const recent = (limit: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = yield* answer(Stream.runCollect(store.readAll({ direction: "backwards", limit })))
    return events
  })

/** The consumers (running in this program, or known by a stored checkpoint), leases and parked counts. */
export const consumers = Effect.gen(function*() {
  const report = yield* Health.check()
  const registry = yield* Effect.serviceOption(Consumer.Consumers)
  const running = Option.isSome(registry) ? yield* registry.value.all : []
  const runningNames = new Set(running.map((consumer) => consumer.name))
  return {
    consumers: report.consumers.map((consumer) => ({
      name: consumer.name,
      state: consumer.state ?? "not running here",
      running: runningNames.has(consumer.name),
      position: consumer.position?.toString(),
      lag: consumer.lag,
      restarts: consumer.restarts,
      failure: consumer.failure,
      parked: report.parked[consumer.name] ?? 0
    })),
    consumersError: report.consumersError,
    leases: report.leases.map((lease) => ({
      name: lease.name,
      holder: lease.holder,
      token: lease.token.toString(),
      expiresAt: new Date(lease.expiresAt).toISOString()
    })),
    head: report.reachable.head?.toString()
  }
})

/**
 * The parked events of every consumer known (running here, or with a stored checkpoint), and of the
 * consumer named by `consumer` (a backend that cannot list checkpoints, KurrentDB, knows no others).
 */
export const parked = (params: URLSearchParams) =>
  Effect.gen(function*() {
    const asked = params.get("consumer") ?? ""
    const report = yield* Health.check()
    const store = yield* ParkedEvents.ParkedEvents
    const registry = yield* Effect.serviceOption(Consumer.Consumers)
    const running = Option.isSome(registry) ? yield* registry.value.all : []
    const runningNames = new Set(running.map((consumer) => consumer.name))
    const names = [
      ...new Set([
        ...report.consumers.map((consumer) => consumer.name),
        ...runningNames,
        ...(asked === "" ? [] : [asked])
      ])
    ].sort()
    const lists = yield* Effect.forEach(names, (name) => Effect.result(store.list(name)), { concurrency: 4 })
    const entries: Array<unknown> = []
    let unsupported: string | undefined
    lists.forEach((list, i) => {
      if (list._tag === "Failure") {
        unsupported = describe(list.failure)
        return
      }
      for (const entry of list.success) {
        entries.push({
          consumer: entry.consumer,
          replayable: runningNames.has(names[i]),
          position: entry.position.toString(),
          stream: entry.stream,
          version: entry.version.toString(),
          id: entry.id,
          type: entry.type,
          error: entry.error,
          attempts: entry.attempts,
          parkedAt: entry.parkedAt.toISOString()
        })
      }
    })
    return { parked: entries, error: unsupported, consumers: names }
  })

/** Job queues with their counts, when the store has a `JobQueue` in context. */
export const jobs = Effect.gen(function*() {
  const queue = yield* Effect.serviceOption(JobQueue.JobQueue)
  if (Option.isNone(queue)) return { available: false, queues: [] }
  const now = yield* Clock.currentTimeMillis
  const names = yield* answer(queue.value.store.queues)
  const queues = yield* Effect.forEach(
    names,
    (name) => answer(Effect.map(queue.value.store.stats(name, now), (stats) => ({ name, ...stats }))),
    { concurrency: 4 }
  )
  return { available: true, queues }
})

export interface ParkedTarget {
  readonly consumer: string
  readonly position: bigint
}

export const parseTarget = (body: unknown): Effect.Effect<ParkedTarget, ApiError> =>
  Effect.gen(function*() {
    if (typeof body !== "object" || body === null) return yield* apiError(400, "the body must be a JSON object")
    const { consumer, position } = body as { consumer?: unknown; position?: unknown }
    if (typeof consumer !== "string" || consumer === "") {
      return yield* apiError(400, "consumer must be a non-empty string")
    }
    const at = yield* parsePosition("position", typeof position === "string" ? position : undefined)
    if (at === undefined) return yield* apiError(400, "position must be a non-negative integer as a string")
    return { consumer, position: at }
  })

// A 404 that names what is missing, before anything is run.
const mustBeParked = (target: ParkedTarget) =>
  Effect.gen(function*() {
    const store = yield* ParkedEvents.ParkedEvents
    const entries = yield* answer(store.list(target.consumer))
    if (!entries.some((entry) => entry.position === target.position)) {
      return yield* apiError(
        404,
        `consumer ${JSON.stringify(target.consumer)} has no parked event at position ${target.position}`
      )
    }
  })

const runningConsumer = (name: string) =>
  Effect.gen(function*() {
    const registry = yield* Effect.serviceOption(Consumer.Consumers)
    if (Option.isNone(registry)) return undefined
    const all = yield* registry.value.all
    return all.find((consumer) => consumer.name === name)
  })

/**
 * Runs the consumer's handler again on a parked event. Only a consumer running in this program has
 * its handler: the console run beside a program's consumers (`Console.serve` in the program) can
 * replay; the command-line console, which has none, refuses with what to do instead.
 */
export const replay = (target: ParkedTarget) =>
  Effect.gen(function*() {
    yield* mustBeParked(target)
    const consumer = yield* runningConsumer(target.consumer)
    if (consumer === undefined) {
      return yield* apiError(
        409,
        `consumer ${
          JSON.stringify(target.consumer)
        } is not running in this process, so its handler is not here to replay the event: serve the console from the program that runs the consumer (Console.serve), or discard the event`
      )
    }
    yield* answer(consumer.replay(target.position))
    return { replayed: true }
  })

/** Removes a parked event without handling it (through the running consumer when there is one). */
export const discard = (target: ParkedTarget) =>
  Effect.gen(function*() {
    yield* mustBeParked(target)
    const consumer = yield* runningConsumer(target.consumer)
    if (consumer !== undefined) {
      yield* answer(consumer.discard(target.position))
      return { discarded: true }
    }
    const store = yield* ParkedEvents.ParkedEvents
    const removed = yield* answer(store.remove(target.consumer, target.position))
    if (!removed) {
      return yield* apiError(
        404,
        `consumer ${JSON.stringify(target.consumer)} has no parked event at position ${target.position}`
      )
    }
    yield* Effect.logInfo(
      `Strata console: discarded the parked event of consumer ${target.consumer} at position ${target.position}`
    )
    return { discarded: true }
  })
