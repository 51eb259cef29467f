/**
 * Dynamic consistency boundaries: tags on events, query reads, conditional appends and `Dcb.decide`,
 * including races modelled on the anchors' bugs (Marten #4591, #5300: two conflicting writers both
 * committed; #5280: a false conflict). A backend that does not declare the `dcb` capability must
 * refuse all of it (`Unsupported`; a query `readAll` with `InvalidArgument`) and write nothing.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Dcb, type Event, EventCodec, EventStore, ExpectedVersion, StoreError } from "@strata/core"
import { Backend } from "@strata/core/backend"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { failsWith, names, readAll, readStream, streamFailsWith, uuid } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

const supported = Effect.map(Backend.Backend, (backend) => backend.capabilities.dcb)

const tagged = (type: string, tags: ReadonlyArray<string>, data: unknown = {}): Event.NewEvent => ({
  type,
  data,
  tags
})

const query = (q: EventStore.Query, options?: { readonly from?: bigint; readonly limit?: number }) =>
  Effect.flatMap(EventStore.EventStore, (store) => Stream.runCollect(store.readAll({ query: q, ...options })))

const ids = (events: ReadonlyArray<Event.RecordedEvent>) => events.map((event) => event.id)

// A typed course/enrolment domain whose event types put the tags on, with this test's names.
const typedCourses = (n: ReturnType<typeof names>) => {
  const CourseDefined = EventCodec.type(n.type("CourseDefined"), {
    schema: Schema.Struct({ course: Schema.String, seats: Schema.Int }),
    tags: (event) => [`${n.category}:course:${event.course}`]
  })
  const StudentEnrolled = EventCodec.type(n.type("StudentEnrolled"), {
    schema: Schema.Struct({ course: Schema.String, student: Schema.String }),
    tags: (event) => [`${n.category}:course:${event.course}`, `${n.category}:student:${event.student}`]
  })
  return { CourseDefined, StudentEnrolled, codec: EventCodec.make([CourseDefined, StudentEnrolled]) }
}

// Many attempts, quickly: the races below must end with every writer decided.
const patient = Schedule.max([Schedule.spaced("2 millis").pipe(Schedule.jittered), Schedule.recurs(200)])

/**
 * Registers the DCB tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const dcbSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { dcb, longStreamLength } = resolve(options)

  describe("read options a backend does not know", () => {
    it.effect("an unknown option or filter key fails with InvalidArgument naming it, instead of being ignored", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), [{ type: n.type("E"), data: {} }])
        // What a plain-JavaScript caller can pass: a typo, or a key of another operation.
        const typo = yield* streamFailsWith("InvalidArgument")(
          store.readAll({ quer: [{ tags: ["x"] }] } as EventStore.ReadAllOptions)
        )
        assert.strictEqual(typo.operation, "readAll")
        assert.match(typo.detail, /"quer"/)
        const onRead = yield* streamFailsWith("InvalidArgument")(
          store.read(n.stream(), { query: [{ tags: ["x"] }] } as EventStore.ReadOptions)
        )
        assert.match(onRead.detail, /"query".*Dcb/)
        const inFilter = yield* streamFailsWith("InvalidArgument")(
          store.readAll({ filter: { type: [n.type("E")] } as EventStore.EventFilter })
        )
        assert.match(inFilter.detail, /"type"/)
        const tagsInFilter = yield* streamFailsWith("InvalidArgument")(
          store.subscribeAll({ filter: { tags: ["x"] } as EventStore.EventFilter })
        )
        assert.strictEqual(tagsInFilter.operation, "subscribeAll")
        assert.match(tagsInFilter.detail, /"tags".*Dcb\.subscribe/)
        const queryOnSubscribe = yield* streamFailsWith("InvalidArgument")(
          store.subscribeAll({ query: [{ tags: ["x"] }] } as EventStore.SubscribeAllOptions)
        )
        assert.strictEqual(queryOnSubscribe.operation, "subscribeAll")
        assert.match(queryOnSubscribe.detail, /Dcb\.subscribe/)
        // An absent option spread as undefined is no option.
        const some = yield* Stream.runCollect(
          store.readAll({ filter: { categories: [n.category], partition: undefined }, query: undefined })
        )
        assert.strictEqual(some.length, 1)
      }))
  })

  if (!dcb) {
    describe("dynamic consistency boundaries (not declared: refused)", () => {
      it.effect("a backend without DCB refuses tags, conditions and query reads, writing nothing", () =>
        Effect.gen(function*() {
          assert.isFalse(yield* supported)
          const store = yield* EventStore.EventStore
          const n = names()
          const backend = yield* Backend.Backend
          const refused = yield* failsWith("Unsupported")(
            store.append(n.stream(), [tagged(n.type("E"), [`${n.category}:a`])])
          )
          assert.strictEqual(refused.backend, backend.name)
          assert.match(refused.detail, /dynamic consistency boundaries/)
          yield* failsWith("Unsupported")(
            store.append(n.stream(), [{ type: n.type("E"), data: {} }], { condition: { failIfEventsMatch: [] } })
          )
          yield* failsWith("Unsupported")(
            store.appendMany([{ stream: n.stream("b"), events: [tagged(n.type("E"), ["x"])] }])
          )
          yield* streamFailsWith("InvalidArgument")(store.readAll({ query: [{ tags: ["x"] }] }))
          yield* streamFailsWith("Unsupported")(Dcb.read([{ tags: ["x"] }]))
          yield* streamFailsWith("Unsupported")(Dcb.subscribe([{ tags: ["x"] }]))
          // Typed events whose type puts tags on are refused the same way, by append and by a decision.
          const { StudentEnrolled, codec } = typedCourses(n)
          yield* failsWith("Unsupported")(
            codec.append(n.stream("typed"), [StudentEnrolled.make({ course: "c1", student: "s1" })])
          )
          yield* failsWith("Unsupported")(
            Dcb.decide([{ tags: [`${n.category}:course:c1`] }], {
              codec,
              initial: 0,
              evolve: (count) => count + 1,
              decide: () =>
                Effect.succeed([{
                  stream: n.stream("typed"),
                  events: [StudentEnrolled.make({ course: "c1", student: "s2" })]
                }])
            })
          )
          assert.deepStrictEqual(yield* readAll({ filter: { categories: [n.category] } }), [])
        }))
    })
    return
  }

  describe("dynamic consistency boundaries", () => {
    it.effect("tags are stored and come back on every read; untagged events have none", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const course = `${n.category}:course:c1`
        const student = `${n.category}:student:s7`
        yield* store.append(n.stream(), [
          tagged(n.type("Enrolled"), [course, student], { n: 1 }),
          { type: n.type("Noted"), data: { n: 2 } },
          tagged(n.type("Enrolled"), [student], { n: 3 })
        ])
        const expectTags = (events: ReadonlyArray<Event.RecordedEvent>, what: string) => {
          assert.deepStrictEqual(events.map((event) => event.tags), [[course, student], undefined, [student]], what)
          assert.isFalse("tags" in events[1] && events[1].tags !== undefined, `${what}: no tags on an untagged event`)
        }
        expectTags(yield* readStream(n.stream()), "read")
        expectTags(yield* readAll({ filter: { categories: [n.category] } }), "readAll")
        const subscribed = yield* store.subscribe(n.stream()).pipe(Stream.take(3), Stream.runCollect)
        expectTags(subscribed, "subscribe")
        const all = yield* store.subscribeAll({ filter: { categories: [n.category] } }).pipe(
          Stream.take(3),
          Stream.runCollect
        )
        expectTags(all, "subscribeAll")
      }))

    it.effect("hostile tags fail with InvalidEvent (InvalidTags) and write nothing", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const hostile: ReadonlyArray<unknown> = [
          [""],
          ["a b"],
          ["tab\there"],
          ["nul\u0000"],
          ["line\u2028sep"],
          ["\ud800"],
          ["x".repeat(129)],
          Array.from({ length: 33 }, (_, i) => `t${i}`),
          ["same", "same"],
          [1],
          "course:c1",
          null
        ]
        for (const tags of hostile) {
          const error = yield* failsWith("InvalidEvent")(
            store.append(n.stream(), [
              { type: n.type("Ok"), data: {} },
              { type: n.type("E"), data: {}, tags: tags as ReadonlyArray<string> }
            ])
          )
          assert.strictEqual(error.reason, "InvalidTags", JSON.stringify(tags))
          assert.strictEqual(error.index, 1)
        }
        // The longest allowed, the most allowed, and Unicode, are fine.
        const fine = ["x".repeat(128), "ünïcødé:✓", "emoji:😀", "sql:');DROP/**/TABLE/**/strata_events;--"]
        yield* store.append(n.stream(), [tagged(n.type("E"), fine)])
        yield* store.append(n.stream(), [tagged(n.type("E"), Array.from({ length: 32 }, (_, i) => `t${i}`))])
        const read = yield* readStream(n.stream())
        assert.deepStrictEqual(read.map((event) => event.tags?.length), [4, 32])
        assert.deepStrictEqual(read[0].tags, fine)
        assert.lengthOf(yield* query([{ tags: ["sql:');DROP/**/TABLE/**/strata_events;--", "emoji:😀"] }]), 1)
      }))

    it.effect("a query matches types AND all tags within an item, any of the items, and nothing when empty", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const [a, b, c] = ["a", "b", "c"].map((tag) => `${n.category}:${tag}`)
        const [X, Y] = [n.type("X"), n.type("Y")]
        yield* store.append(n.stream(), [
          tagged(X, [a], { i: 0 }),
          tagged(X, [a, b], { i: 1 }),
          tagged(Y, [a, b], { i: 2 }),
          tagged(Y, [c], { i: 3 }),
          { type: X, data: { i: 4 } },
          tagged(Y, [b, a, c], { i: 5 })
        ])
        const is = (q: EventStore.Query) =>
          Effect.map(query(q), (events) => events.map((event) => (event.data as { i: number }).i))
        assert.deepStrictEqual(yield* is([{ tags: [a] }]), [0, 1, 2, 5])
        assert.deepStrictEqual(yield* is([{ tags: [a, b] }]), [1, 2, 5])
        assert.deepStrictEqual(yield* is([{ tags: [b, a] }]), [1, 2, 5])
        assert.deepStrictEqual(yield* is([{ types: [X], tags: [a] }]), [0, 1])
        assert.deepStrictEqual(yield* is([{ types: [X, Y], tags: [a, b] }]), [1, 2, 5])
        assert.deepStrictEqual(yield* is([{ types: [X] }]), [0, 1, 4])
        assert.deepStrictEqual(yield* is([{ types: [X], tags: [c] }]), [])
        // Any of the items, each event once, in position order.
        assert.deepStrictEqual(yield* is([{ types: [Y], tags: [c] }, { types: [X], tags: [a] }]), [0, 1, 3, 5])
        assert.deepStrictEqual(yield* is([{ tags: [a] }, { tags: [b] }, { types: [X] }]), [0, 1, 2, 4, 5])
        assert.deepStrictEqual(yield* is([]), [])
        assert.deepStrictEqual(yield* is([{ tags: [`${n.category}:none`] }]), [])
        // An item with neither types nor tags matches every event.
        const first = (yield* readStream(n.stream()))[0].position
        const everything = yield* query([{}], { from: first })
        assert.includeMembers(ids(everything), ids(yield* readStream(n.stream())))
        // from, limit and backwards.
        const both = yield* query([{ tags: [a, b] }])
        assert.deepStrictEqual(ids(yield* query([{ tags: [a, b] }], { from: both[1].position })), ids(both.slice(1)))
        assert.deepStrictEqual(ids(yield* query([{ tags: [a, b] }], { limit: 2 })), ids(both.slice(0, 2)))
        const backwards = yield* Stream.runCollect(store.readAll({ query: [{ tags: [a, b] }], direction: "backwards" }))
        assert.deepStrictEqual(ids(backwards), ids(both).reverse())
      }))

    it.effect("a query read pages through more events than a page, in order, each once", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const tag = `${n.category}:long`
        const count = longStreamLength
        const batch = 200
        for (let i = 0; i < count; i += batch) {
          yield* store.append(
            n.stream(`s${i % 3}`),
            Array.from({ length: Math.min(batch, count - i) }, (_, j) =>
              (i + j) % 2 === 0 ? tagged(n.type("E"), [tag], { i: i + j }) : { type: n.type("E"), data: { i: i + j } })
          )
        }
        const read = yield* Dcb.read([{ tags: [tag] }]).pipe(Stream.runCollect)
        assert.deepStrictEqual(
          read.map((event) =>
            (event.data as { i: number }).i
          ),
          Array.from({ length: count / 2 }, (_, k) => 2 * k)
        )
      }))

    it.effect("a bad query fails with InvalidArgument", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const bad: ReadonlyArray<unknown> = [
          "x",
          [null],
          [{ tags: "a" }],
          [{ tags: [""] }],
          [{ tags: ["a b"] }],
          [{ types: [""] }],
          [{ types: [1] }],
          Array.from({ length: 17 }, () => ({ tags: ["a"] })),
          [{ tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }]
        ]
        for (const q of bad) {
          const error = yield* streamFailsWith("InvalidArgument")(store.readAll({ query: q as EventStore.Query }))
          assert.strictEqual(error.operation, "readAll")
        }
        yield* streamFailsWith("InvalidArgument")(store.readAll({ query: [], filter: { types: ["a"] } }))
        const n = names()
        const error = yield* failsWith("InvalidArgument")(
          store.append(n.stream(), [{ type: n.type("E"), data: {} }], {
            condition: { failIfEventsMatch: [{ tags: [""] }] }
          })
        )
        assert.match(error.detail, /condition\.failIfEventsMatch/)
        yield* failsWith("InvalidArgument")(
          store.append(n.stream(), [{ type: n.type("E"), data: {} }], {
            condition: { failIfEventsMatch: [], after: -1n }
          })
        )
        assert.deepStrictEqual(yield* readStream(n.stream()), [])
      }))

    it.effect("a condition fails when a matching event was appended after `after`, naming it, and writes nothing", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const course = `${n.category}:course`
        const other = `${n.category}:other`
        const q: EventStore.Query = [{ types: [n.type("Enrolled")], tags: [course] }]
        // Nothing matches yet: passes without `after`.
        const first = yield* store.append(n.stream("a"), [tagged(n.type("Enrolled"), [course, other])], {
          condition: { failIfEventsMatch: q }
        })
        // Now one matches: fails without `after`, passes with `after` at it.
        const failed = yield* failsWith("AppendConditionFailed")(
          store.append(n.stream("b"), [tagged(n.type("Enrolled"), [course])], { condition: { failIfEventsMatch: q } })
        )
        assert.strictEqual(failed.position, first.position)
        assert.strictEqual(failed.stream, n.stream("a"))
        assert.strictEqual(failed.type, n.type("Enrolled"))
        assert.deepStrictEqual(failed.tags, [course, other])
        assert.strictEqual(failed.after, undefined)
        assert.instanceOf(failed, StoreError.AppendConditionFailed)
        const second = yield* store.append(n.stream("b"), [tagged(n.type("Enrolled"), [course])], {
          condition: { failIfEventsMatch: q, after: first.position }
        })
        // Events that do not match (other type, other tag, untagged) do not fail it.
        yield* store.append(n.stream("c"), [
          tagged(n.type("Dropped"), [course]),
          tagged(n.type("Enrolled"), [other]),
          { type: n.type("Enrolled"), data: {} }
        ])
        yield* store.append(n.stream("d"), [tagged(n.type("Enrolled"), [other])], {
          condition: { failIfEventsMatch: q, after: second.position }
        })
        // A stale `after`: names the first match after it.
        const stale = yield* failsWith("AppendConditionFailed")(
          store.append(n.stream("e"), [tagged(n.type("Enrolled"), [course])], {
            condition: { failIfEventsMatch: q, after: first.position - 1n }
          })
        )
        assert.strictEqual(stale.position, first.position)
        assert.strictEqual(stale.after, first.position - 1n)
        assert.deepStrictEqual(yield* readStream(n.stream("e")), [])
        // An empty query never fails.
        yield* store.append(n.stream("e"), [tagged(n.type("Enrolled"), [course])], {
          condition: { failIfEventsMatch: [] }
        })
      }))

    it.effect("a condition fails on the first event its query reads after `after`, for every shape of item", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const [a, b, c] = ["a", "b", "c"].map((tag) => `${n.category}:${tag}`)
        const [X, Y] = [n.type("X"), n.type("Y")]
        yield* store.append(n.stream(), [
          tagged(X, [a]),
          tagged(X, [a, b]),
          tagged(Y, [a, b]),
          tagged(Y, [c]),
          { type: X, data: {} },
          tagged(Y, [b, a, c]),
          tagged(X, [c, b])
        ])
        const positions = (yield* readStream(n.stream())).map((event) => event.position)
        // One tag, several, with and without types, several items (the earliest match of any item
        // counts, whichever item comes first), an item matching nothing, and an empty list of types.
        const queries: ReadonlyArray<EventStore.Query> = [
          [{ tags: [a] }],
          [{ tags: [b, a] }],
          [{ types: [Y], tags: [a] }],
          [{ types: [X, Y], tags: [c, b] }],
          [{ types: [Y], tags: [c, a, b] }],
          [{ types: [X], tags: [c] }, { types: [Y], tags: [a] }],
          [{ tags: [`${n.category}:none`] }, { types: [Y], tags: [b] }],
          [{ types: [], tags: [a] }, { tags: [c] }]
        ]
        for (const q of queries) {
          const matching = (yield* query(q)).map((event) => event.position)
          for (const after of [positions[0] - 1n, ...positions]) {
            const expected = matching.find((position) => position > after)
            const attempt = store.append(n.stream("w"), [tagged(n.type("W"), [`${n.category}:w`])], {
              condition: { failIfEventsMatch: q, after }
            })
            if (expected === undefined) {
              yield* attempt
            } else {
              const failed = yield* failsWith("AppendConditionFailed")(attempt)
              assert.strictEqual(failed.position, expected, `${JSON.stringify(q)} after ${after}`)
            }
          }
        }
      }))

    it.effect("a condition on an append of untagged events is checked like any other", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const tag = `${n.category}:u`
        const q: EventStore.Query = [{ tags: [tag] }]
        const plain = { type: n.type("Plain"), data: {} }
        const first = yield* store.append(n.stream("u"), [plain, plain], { condition: { failIfEventsMatch: q } })
        const tagged1 = yield* store.append(n.stream("v"), [tagged(n.type("E"), [tag])])
        const error = yield* failsWith("AppendConditionFailed")(
          store.append(n.stream("u"), [plain], { condition: { failIfEventsMatch: q, after: first.position } })
        )
        assert.strictEqual(error.position, tagged1.position)
        assert.lengthOf(yield* readStream(n.stream("u")), 2)
        yield* store.append(n.stream("u"), [plain], { condition: { failIfEventsMatch: q, after: tagged1.position } })
        assert.lengthOf(yield* readStream(n.stream("u")), 3)
      }))

    it.effect("conditions combine with expected versions and appendMany, atomically", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const tag = `${n.category}:k`
        const q: EventStore.Query = [{ tags: [tag] }]
        const written = yield* store.append(n.stream("a"), [tagged(n.type("E"), [tag])])
        // Condition holds, expected version does not: WrongExpectedVersion.
        yield* failsWith("WrongExpectedVersion")(
          store.append(n.stream("a"), [tagged(n.type("E"), [tag])], {
            expected: ExpectedVersion.noStream,
            condition: { failIfEventsMatch: q, after: written.position }
          })
        )
        // Expected version holds, condition does not.
        yield* failsWith("AppendConditionFailed")(
          store.append(n.stream("a"), [tagged(n.type("E"), [tag])], {
            expected: ExpectedVersion.exact(0n),
            condition: { failIfEventsMatch: q }
          })
        )
        // Both hold.
        const both = yield* store.append(n.stream("a"), [tagged(n.type("E"), [tag])], {
          expected: ExpectedVersion.exact(0n),
          condition: { failIfEventsMatch: q, after: written.position }
        })
        assert.strictEqual(both.nextExpectedVersion, 1n)
        const { supportsAppendMany } = resolve(options)
        if (!supportsAppendMany) return
        // appendMany: one part's condition fails, nothing of any part is written.
        yield* failsWith("AppendConditionFailed")(
          store.appendMany([
            { stream: n.stream("m1"), events: [tagged(n.type("E"), [`${n.category}:m`])] },
            {
              stream: n.stream("m2"),
              events: [{ type: n.type("E"), data: {} }],
              condition: { failIfEventsMatch: q, after: written.position }
            }
          ])
        )
        assert.deepStrictEqual(yield* readStream(n.stream("m1")), [])
        assert.deepStrictEqual(yield* readStream(n.stream("m2")), [])
        const results = yield* store.appendMany([
          { stream: n.stream("m1"), events: [tagged(n.type("E"), [`${n.category}:m`])] },
          {
            stream: n.stream("m2"),
            events: [{ type: n.type("E"), data: {} }],
            expected: ExpectedVersion.noStream,
            condition: { failIfEventsMatch: q, after: both.position }
          }
        ])
        assert.lengthOf(results, 2)
        assert.deepStrictEqual((yield* readStream(n.stream("m1")))[0].tags, [`${n.category}:m`])
      }))

    it.effect("a retried conditional append whose first attempt committed returns the original result", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const tag = `${n.category}:r`
        const events = [
          { id: uuid(), type: n.type("E"), data: { i: 0 }, tags: [tag] },
          { id: uuid(), type: n.type("E"), data: { i: 1 }, tags: [tag] }
        ]
        const condition = { failIfEventsMatch: [{ tags: [tag] }] }
        const first = yield* store.append(n.stream(), events, { condition })
        // The same append again: its own events now match the query, yet it is a replay.
        const again = yield* store.append(n.stream(), events, { condition })
        assert.deepStrictEqual(again, first)
        assert.lengthOf(yield* readStream(n.stream()), 2)
        // New ids with the same condition: a real conflict.
        yield* failsWith("AppendConditionFailed")(
          store.append(n.stream(), [{ type: n.type("E"), data: {}, tags: [tag] }], { condition })
        )
      }))

    it.effect("Dcb.decide folds the query's events, appends with the condition, and decides again on conflict", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const course = `${n.category}:course`
        const q: EventStore.Query = [{ types: [n.type("Enrolled")], tags: [course] }]
        let interfere = true
        const decided = yield* Dcb.decide(
          q,
          0,
          (count) => count + 1,
          (count) =>
            Effect.gen(function*() {
              // The first time, another writer enrols someone between the read and the append.
              if (interfere) {
                interfere = false
                yield* store.append(n.stream("other"), [tagged(n.type("Enrolled"), [course])])
              }
              return [{
                stream: n.stream(`s${count}`),
                events: [tagged(n.type("Enrolled"), [course], { seat: count })]
              }]
            })
        )
        assert.strictEqual(decided.attempts, 2)
        assert.strictEqual(decided.state, 1)
        const all = yield* query(q)
        assert.deepStrictEqual(all.map((event) => event.data), [{}, { seat: 1 }])
        assert.strictEqual(decided.after, all[0].position)
        assert.strictEqual(decided.results[0].position, all[1].position)
        // Deciding nothing appends nothing.
        const none = yield* Dcb.decide(q, 0, (count) => count + 1, () => Effect.succeed([]))
        assert.deepStrictEqual(none.results, [])
        assert.strictEqual(none.state, 2)
      }))

    it.effect("typed events carry their event type's tags; Dcb.decide with a codec holds the invariant in a race", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const n = names()
        const { CourseDefined, StudentEnrolled, codec } = typedCourses(n)
        const courseTag = `${n.category}:course:c1`
        yield* codec.append(n.stream("course"), [CourseDefined.make({ course: "c1", seats: 5 })])
        // 8 typed writers race for 5 seats; each decision reads the course by its tag.
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => `s${i}`),
          (student) =>
            Dcb.decide([{ tags: [courseTag] }], {
              codec,
              initial: { seats: 0, taken: 0 },
              evolve: (state, event) =>
                CourseDefined.is(event) ? { ...state, seats: event.seats } : { ...state, taken: state.taken + 1 },
              decide: (state) =>
                state.taken >= state.seats
                  ? Effect.fail("full" as const)
                  : Effect.succeed([{
                    stream: n.stream(student),
                    events: [StudentEnrolled.make({ course: "c1", student })]
                  }]),
              schedule: patient
            }).pipe(Effect.result),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter((outcome) => outcome._tag === "Success").length, 5)
        assert.strictEqual(
          outcomes.filter((outcome) => outcome._tag === "Failure" && outcome.failure === "full").length,
          3
        )
        // Stored with the tags the event types gave; decoded events carry them.
        const enrolled = yield* query([{ types: [StudentEnrolled.name], tags: [courseTag] }])
        assert.strictEqual(enrolled.length, 5)
        for (const event of enrolled) {
          const student = (event.data as { student: string }).student
          assert.deepStrictEqual(event.tags, [courseTag, `${n.category}:student:${student}`])
        }
        const decoded = yield* Stream.runCollect(codec.readAll({ query: [{ tags: [courseTag] }] }))
        assert.deepStrictEqual(decoded.map((event) => event.tags?.[0]), Array.from({ length: 6 }, () => courseTag))
        assert.strictEqual(decoded[0].event._tag, CourseDefined.name)
      }))

    it.effect("16 writers race for 10 seats: exactly 10 win, each on a different state, none twice", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const n = names()
        const course = `${n.category}:course`
        const q: EventStore.Query = [{ types: [n.type("Enrolled")], tags: [course] }]
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 16 }, (_, i) => i),
          (i) =>
            Dcb.decide(
              q,
              0,
              (seats) => seats + 1,
              (seats) =>
                seats >= 10
                  ? Effect.fail("full" as const)
                  : Effect.succeed([{
                    stream: n.stream(`student${i}`),
                    events: [tagged(n.type("Enrolled"), [course, `${n.category}:student${i}`], { seen: seats })]
                  }]),
              { schedule: patient }
            ).pipe(Effect.result),
          { concurrency: "unbounded" }
        )
        const won = outcomes.filter((outcome) => outcome._tag === "Success")
        const full = outcomes.filter((outcome) => outcome._tag === "Failure" && outcome.failure === "full")
        assert.strictEqual(won.length, 10)
        assert.strictEqual(full.length, 6)
        const enrolled = yield* query(q)
        assert.strictEqual(enrolled.length, 10)
        assert.deepStrictEqual(
          enrolled.map((event) => (event.data as { seen: number }).seen),
          Array.from({ length: 10 }, (_, k) => k)
        )
      }))

    it.effect("both writers read before either writes: one wins, the other fails (Marten #4591)", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        for (let round = 0; round < 10; round++) {
          const n = names()
          const tag = `${n.category}:username:alice`
          const q: EventStore.Query = [{ tags: [tag] }]
          const bothRead = yield* Deferred.make<void>()
          let reads = 0
          const writer = (i: number) =>
            Effect.gen(function*() {
              const read = yield* query(q)
              const after = read.at(-1)?.position
              if (++reads === 2) yield* Deferred.succeed(bothRead, undefined)
              yield* Deferred.await(bothRead)
              return yield* store.append(n.stream(`account${i}`), [tagged(n.type("Registered"), [tag])], {
                condition: { failIfEventsMatch: q, after }
              })
            }).pipe(Effect.result)
          const [a, b] = yield* Effect.all([writer(0), writer(1)], { concurrency: 2 })
          assert.strictEqual([a, b].filter((r) => r._tag === "Success").length, 1, `round ${round}`)
          const loser = [a, b].find((r) => r._tag === "Failure")!
          assert.strictEqual(loser._tag === "Failure" && loser.failure._tag, "AppendConditionFailed")
          assert.lengthOf(yield* query(q), 1)
        }
      }))

    it.effect("a writer whose query matches a tag another writer adds in the same batch (Marten #5300)", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        for (let round = 0; round < 10; round++) {
          const n = names()
          const [a, b] = [`${n.category}:a`, `${n.category}:b`]
          const go = yield* Deferred.make<void>()
          // Writer 1 decides on tag a; writer 2 decides on tag b but its batch also adds an event tagged a.
          const one = Effect.gen(function*() {
            yield* Deferred.await(go)
            return yield* store.append(n.stream("one"), [tagged(n.type("E"), [a])], {
              condition: { failIfEventsMatch: [{ tags: [a] }] }
            })
          }).pipe(Effect.result)
          const two = Effect.gen(function*() {
            yield* Deferred.await(go)
            return yield* store.append(
              n.stream("two"),
              [tagged(n.type("E"), [b]), tagged(n.type("E"), [b, a])],
              { condition: { failIfEventsMatch: [{ tags: [b] }] } }
            )
          }).pipe(Effect.result)
          const fibers = Effect.all([one, two], { concurrency: 2 })
          const [r1, r2] = yield* Effect.andThen(Effect.forkChild(Deferred.succeed(go, undefined)), fibers)
          // Writer 2's condition is on b only: it always commits.
          assert.strictEqual(r2._tag, "Success", `round ${round}`)
          const tagA = yield* query([{ tags: [a] }])
          if (r1._tag === "Success") {
            // Both committed: only valid if writer 1 committed first (its event is the first tagged a).
            assert.strictEqual(tagA[0].stream, n.stream("one"), `round ${round}: writer 1 must come first`)
          } else {
            assert.strictEqual(r1.failure._tag, "AppendConditionFailed")
            assert.deepStrictEqual(tagA.map((event) => event.stream), [n.stream("two")])
          }
        }
      }))

    it.effect("writers on disjoint tags all succeed without conflicts", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const n = names()
        const results = yield* Effect.forEach(
          Array.from({ length: 16 }, (_, i) => i),
          (i) => {
            const tag = `${n.category}:course${i}`
            return Dcb.decide(
              [{ tags: [tag] }],
              0,
              (count) => count + 1,
              () => Effect.succeed([{ stream: n.stream(`c${i}`), events: [tagged(n.type("E"), [tag])] }]),
              { schedule: Schedule.recurs(0) }
            )
          },
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(results.map((result) => result.attempts), Array.from({ length: 16 }, () => 1))
      }))

    it.effect("a decision folds every matching event when they take more than one page", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const tag = `${n.category}:many`
        // 1,100 matching events (more than two 500-event pages), each beside one that does not match.
        for (let chunk = 0; chunk < 4; chunk++) {
          yield* store.append(
            n.stream(`c${chunk}`),
            Array.from({ length: 550 }, (_, i) =>
              i % 2 === 0
                ? tagged(n.type("E"), [tag], { k: chunk * 275 + i / 2 })
                : tagged(n.type("E"), [`${n.category}:other`]))
          )
        }
        const decided = yield* Dcb.decide(
          [{ tags: [tag] }],
          [] as ReadonlyArray<number>,
          (seen, event) => [...seen, (event.data as { k: number }).k],
          () => Effect.succeed([])
        )
        assert.deepStrictEqual(decided.state, Array.from({ length: 1100 }, (_, k) => k))
        const all = yield* query([{ tags: [tag] }])
        assert.strictEqual(decided.after, all[all.length - 1].position)
      }))

    it.effect("Dcb.subscribe: the query's events, catch-up then live, in position order", () =>
      Effect.gen(function*() {
        assert.isTrue(yield* supported, "the backend declares dcb")
        const store = yield* EventStore.EventStore
        const n = names()
        const [x, y] = [`${n.category}:x`, `${n.category}:y`]
        const first = yield* store.append(n.stream("a"), [
          tagged(n.type("A"), [x], { k: 1 }),
          tagged(n.type("A"), [y], { k: 0 }),
          tagged(n.type("B"), [x], { k: 0 }),
          tagged(n.type("B"), [x, y], { k: 2 })
        ])
        const from = { after: first.position - 4n }
        // Types and tags (filtered by type in the database), and tags only (every event, matched here).
        const typed = Dcb.subscribe([{ types: [n.type("A")], tags: [x] }, { types: [n.type("B")], tags: [x, y] }], {
          from
        })
        const untyped = Dcb.subscribe([{ tags: [x, y] }, { types: [n.type("C")] }], { from })
        const [a, b] = yield* Effect.all([
          Effect.forkChild(Stream.take(typed, 3).pipe(Stream.runCollect)),
          Effect.forkChild(Stream.take(untyped, 2).pipe(Stream.runCollect))
        ])
        yield* store.append(n.stream("b"), [
          tagged(n.type("A"), [y], { k: 0 }),
          tagged(n.type("A"), [x], { k: 3 }),
          { type: n.type("C"), data: { k: 3 } }
        ])
        const k = (events: ReadonlyArray<Event.RecordedEvent>) => events.map((event) => (event.data as { k: number }).k)
        assert.deepStrictEqual(k(yield* Fiber.join(a)), [1, 2, 3])
        assert.deepStrictEqual(k(yield* Fiber.join(b)), [2, 3])
        yield* streamFailsWith("InvalidArgument")(Dcb.subscribe([{ tags: ["a b"] }]))
      }))
  })
}
