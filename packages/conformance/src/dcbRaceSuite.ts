/**
 * DCB under real concurrency, modelled on the anchors' bugs: Marten let two conflicting writers both
 * commit when both read before either wrote (#4591) and when one writer's query matched a tag another
 * writer added in the same batch (#5300). Each round races writers inside units of work with random
 * delays between their read, their append and their commit, so the database's locking (not the order
 * the fibers happen to run in) decides. For backends with units of work (memory, SQLite, PostgreSQL).
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Dcb, type Event, EventStore, UnitOfWork } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { names } from "./internal/fixtures.ts"
import type { ConformanceIt } from "./SuiteOptions.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DcbRaceOptions {
  /** Rounds of the two-writer interleavings. Default 100. */
  readonly rounds?: number | undefined
  /** Longest random delay inside a transaction, in milliseconds. Default 2. */
  readonly maxDelayMillis?: number | undefined
}

const tagged = (type: string, tags: ReadonlyArray<string>, data: unknown = {}): Event.NewEvent => ({
  type,
  data,
  tags
})

const queryAll = (q: EventStore.Query) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCollect(store.readAll({ query: q })))

/**
 * Registers the DCB race tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const dcbRaceSuite = (it: ConformanceIt, options?: DcbRaceOptions): void => {
  const rounds = options?.rounds ?? 100
  const maxDelay = options?.maxDelayMillis ?? 2
  const pause = Effect.suspend(() => Effect.sleep(`${Math.floor(Math.random() * (maxDelay + 1))} millis`))

  describe("DCB races", () => {
    it.effect(
      `${rounds} rounds: both writers read, then write in transactions with random delays; one wins`,
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          let bothCommitted = 0
          for (let round = 0; round < rounds; round++) {
            const n = names()
            const tag = `${n.category}:username:alice`
            const q: EventStore.Query = [{ tags: [tag] }]
            const bothRead = yield* Deferred.make<void>()
            let reads = 0
            const writer = (i: number) =>
              Effect.gen(function*() {
                const read = yield* queryAll(q)
                if (++reads === 2) yield* Deferred.succeed(bothRead, undefined)
                yield* Deferred.await(bothRead)
                return yield* UnitOfWork.transaction(Effect.gen(function*() {
                  yield* pause
                  const result = yield* store.append(n.stream(`a${i}`), [tagged(n.type("Registered"), [tag])], {
                    condition: { failIfEventsMatch: q, after: read.at(-1)?.position }
                  })
                  yield* pause
                  return result
                }))
              }).pipe(Effect.result)
            const outcomes = yield* Effect.all([writer(0), writer(1)], { concurrency: 2 })
            const won = outcomes.filter((outcome) => outcome._tag === "Success").length
            if (won === 2) bothCommitted++
            assert.strictEqual(won, 1, `round ${round}: ${won} writers committed`)
            for (const outcome of outcomes) {
              if (outcome._tag === "Failure") assert.strictEqual(outcome.failure._tag, "AppendConditionFailed")
            }
            assert.lengthOf(yield* queryAll(q), 1, `round ${round}`)
          }
          assert.strictEqual(bothCommitted, 0)
        }),
      { timeout: 120_000 }
    )

    it.effect(
      `${rounds} rounds: a writer's query matches a tag the other adds in the same batch`,
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          for (let round = 0; round < rounds; round++) {
            const n = names()
            const [a, b] = [`${n.category}:a`, `${n.category}:b`]
            const go = yield* Deferred.make<void>()
            const one = Deferred.await(go).pipe(
              Effect.andThen(UnitOfWork.transaction(Effect.gen(function*() {
                yield* pause
                const result = yield* store.append(n.stream("one"), [tagged(n.type("E"), [a])], {
                  condition: { failIfEventsMatch: [{ tags: [a] }] }
                })
                yield* pause
                return result
              }))),
              Effect.result
            )
            const two = Deferred.await(go).pipe(
              Effect.andThen(UnitOfWork.transaction(Effect.gen(function*() {
                yield* pause
                const result = yield* store.appendMany([
                  {
                    stream: n.stream("two"),
                    events: [tagged(n.type("E"), [b])],
                    condition: { failIfEventsMatch: [{ tags: [b] }] }
                  },
                  { stream: n.stream("three"), events: [tagged(n.type("E"), [b, a])] }
                ])
                yield* pause
                return result
              }))),
              Effect.result
            )
            yield* Effect.forkChild(Deferred.succeed(go, undefined))
            const [r1, r2] = yield* Effect.all([one, two], { concurrency: 2 })
            assert.strictEqual(r2._tag, "Success", `round ${round}`)
            const withA = yield* queryAll([{ tags: [a] }])
            if (r1._tag === "Success") {
              // Both committed: valid only when writer 1 committed first, before writer 2's event tagged a.
              assert.strictEqual(withA[0].stream, n.stream("one"), `round ${round}`)
            } else {
              assert.strictEqual(r1.failure._tag, "AppendConditionFailed", `round ${round}`)
              assert.deepStrictEqual(withA.map((event) => event.stream), [n.stream("three")], `round ${round}`)
            }
          }
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "16 writers enrol 50 students in 3 courses of 10 seats, at most 2 courses each: no invariant broken",
      () =>
        Effect.gen(function*() {
          const n = names()
          const courses = ["c0", "c1", "c2"]
          const students = Array.from({ length: 50 }, (_, i) => `s${i}`)
          const course = (c: string) => `${n.category}:course:${c}`
          const student = (s: string) => `${n.category}:student:${s}`
          const enrolled = n.type("Enrolled")
          // Every student asks for every course, in a shuffled order, 16 at a time.
          const requests = students.flatMap((s) => courses.map((c) => ({ s, c }))).sort(() => Math.random() - 0.5)
          const enrol = ({ c, s }: { readonly c: string; readonly s: string }) =>
            Dcb.decide(
              [{ types: [enrolled], tags: [course(c)] }, { types: [enrolled], tags: [student(s)] }],
              { seats: 0, mine: 0 },
              (state, event) => ({
                seats: state.seats + (event.tags?.includes(course(c)) ? 1 : 0),
                mine: state.mine + (event.tags?.includes(student(s)) ? 1 : 0)
              }),
              (state) =>
                state.seats >= 10 || state.mine >= 2
                  ? Effect.succeed([])
                  : Effect.as(pause, [{
                    stream: n.stream(`${c}-${s}`),
                    events: [tagged(enrolled, [course(c), student(s)], { c, s, seats: state.seats, mine: state.mine })]
                  }]),
              { schedule: Schedule.max([Schedule.spaced("1 millis").pipe(Schedule.jittered), Schedule.recurs(500)]) }
            )
          yield* Effect.forEach(requests, enrol, { concurrency: 16, discard: true })
          const all = yield* queryAll([{ types: [enrolled], tags: [`${n.category}:course:c0`] }, {
            types: [enrolled],
            tags: [`${n.category}:course:c1`]
          }, { types: [enrolled], tags: [`${n.category}:course:c2`] }])
          const data = all.map((event) => event.data as { c: string; s: string; seats: number; mine: number })
          for (const c of courses) {
            const inCourse = data.filter((d) => d.c === c)
            assert.strictEqual(inCourse.length, 10, `course ${c} is full, not over`)
            // Each winner decided on a different count: no two writers won on the same state.
            assert.deepStrictEqual(inCourse.map((d) => d.seats), Array.from({ length: 10 }, (_, k) => k))
          }
          for (const s of students) {
            const mine = data.filter((d) => d.s === s)
            assert.isAtMost(mine.length, 2, `student ${s}`)
            assert.deepStrictEqual(mine.map((d) => d.mine), mine.map((_, k) => k), `student ${s}`)
          }
        }),
      { timeout: 120_000 }
    )
  })
}
