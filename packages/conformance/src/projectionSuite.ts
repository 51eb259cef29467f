/**
 * Declarative projections run asynchronously, on every backend: a rebuilt projection equals a fresh
 * fold of all events; a projection handles only the event types it declares; multi-stream ids come
 * from the event; `Projection.run` keeps the collection up to date under its checkpoint, one
 * `getMany` and one `writeMany` per consumer batch; a
 * blue-green rebuild builds a new version while the old one keeps serving (during the build and after
 * a failed one), then switches readers; `catchUp` commits the last applied position, so a second
 * catch-up applies nothing twice; an `evolve` that throws fails `catchUp` and `run` with
 * `ProjectionFailed`; `DocumentStore.update` survives concurrent writers; `handleBatch` leaves the
 * same documents as the handler event by event, writes nothing of a batch whose `evolve` throws, and
 * folds again over a concurrent writer's document.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, Event, EventStore, Projection } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Balance, bank, documents, freshFold } from "./internal/bank.ts"
import { failsWith, names, readAll, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the projection tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const projectionSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout } = resolve(options)
  const waitFor = <E, R>(what: string, probe: Effect.Effect<boolean, E, R>) =>
    Effect.gen(function*() {
      const deadline = Date.now() + 10_000
      while (!(yield* probe)) {
        if (Date.now() > deadline) return assert.fail(`timed out waiting for ${what}`)
        yield* Effect.sleep("20 millis")
      }
    })

  describe("projections", () => {
    it.effect("a rebuild leaves the collection equal to a fresh fold of all events", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        for (let i = 0; i < 6; i++) {
          yield* domain.codec.append(n.stream(`acct${i % 3}`), [
            domain.Deposited.make({ amount: 10 * (i + 1) }),
            domain.Withdrawn.make({ amount: i })
          ])
        }
        yield* domain.codec.append(n.stream("acct1"), [domain.Closed.make({})])
        // Junk in the collection and a stale checkpoint: the reset must clear both.
        yield* docs.put(domain.collection, "stale", { balance: -1, count: 99 })
        const replayed = yield* Projection.rebuild(projection, { batchSize: 4 })
        assert.strictEqual(replayed, 13)
        const expected = yield* freshFold(domain)
        assert.deepStrictEqual(yield* documents(domain.collection), expected)
        assert.deepStrictEqual([...expected.keys()].sort(), [n.stream("acct0"), n.stream("acct2")])
        const store = yield* EventStore.EventStore
        const log = yield* readAll({ filter: { types: domain.codec.types } })
        const last = log[log.length - 1].position
        assert.deepStrictEqual(yield* store.loadCheckpoint(projection.checkpoint), Option.some(last))
        // Rebuilding again from scratch gives the same documents.
        yield* Projection.rebuild(projection)
        assert.deepStrictEqual(yield* documents(domain.collection), expected)
      }))

    it.effect("the filter is the declared types, and the handler ignores every other type", () =>
      Effect.gen(function*() {
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        assert.deepStrictEqual([...(projection.filter.types ?? [])].sort(), [...domain.codec.types].sort())
        const store = yield* EventStore.EventStore
        yield* store.append(n.stream(), [Event.make(n.type("Unrelated"), { amount: 5 })])
        const [foreign] = yield* readAll({ filter: { categories: [n.category] } })
        yield* projection.handler(foreign)
        assert.strictEqual((yield* documents(domain.collection)).size, 0)
      }))

    it.effect("a multi-stream projection takes the document id from the event", () =>
      Effect.gen(function*() {
        const n = names()
        const domain = bank(n)
        const Totals = DocumentStore.collection(n.collection("totals"), Schema.Struct({ total: Schema.Number }))
        const projection = Projection.multiStream({
          name: n.checkpoint(),
          collection: Totals,
          events: domain.codec,
          id: ({ event }) =>
            event._tag === domain.Deposited.name && "amount" in event
              ? (event.amount >= 100 ? "large" : "small")
              : undefined,
          evolve: (current, { event }) => ({ total: (current?.total ?? 0) + ("amount" in event ? event.amount : 0) })
        })
        yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 5 })])
        yield* domain.codec.append(n.stream("b"), [
          domain.Deposited.make({ amount: 500 }),
          domain.Withdrawn.make({ amount: 1 })
        ])
        yield* domain.codec.append(n.stream("c"), [domain.Deposited.make({ amount: 7 })])
        yield* Projection.rebuild(projection)
        assert.deepStrictEqual(
          yield* documents(Totals),
          new Map([["large", { total: 500 }], ["small", { total: 12 }]])
        )
      }))

    it.effect("Projection.run keeps the collection up to date under its checkpoint", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 3 })])
        const fiber = yield* Effect.forkChild(Projection.run(projection))
        const { position } = yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 4 })])
        yield* waitFor(
          "the projection's checkpoint",
          Effect.map(store.loadCheckpoint(projection.checkpoint), (cp) => Option.isSome(cp) && cp.value >= position)
        ).pipe(Effect.timeout(deliveryTimeout))
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* documents(domain.collection), yield* freshFold(domain))
        assert.deepStrictEqual(
          yield* documents(domain.collection),
          new Map([[n.stream("a"), { balance: 7, count: 2 }]])
        )
      }))

    it.effect("Projection.run writes each consumer batch with one getMany and one writeMany, never event by event", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const store = yield* EventStore.EventStore
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        for (let i = 0; i < 12; i++) {
          yield* domain.codec.append(n.stream(`acct${i % 3}`), [domain.Deposited.make({ amount: i + 1 })])
        }
        const log = yield* readAll({ filter: { types: domain.codec.types } })
        // Calls on the projection's collection, by kind: the per-event handler reads and writes each event's document.
        const calls = { get: 0, put: 0, delete: 0, getMany: 0, writeMany: 0 }
        const mine = (collection: { readonly name: string }, kind: keyof typeof calls) => {
          if (collection.name === projection.target.name) calls[kind] += 1
        }
        const counting: DocumentStore.DocumentStoreShape = {
          ...docs,
          get: (collection, id) => Effect.suspend(() => (mine(collection, "get"), docs.get(collection, id))),
          put: (collection, id, value, options) =>
            Effect.suspend(() => (mine(collection, "put"), docs.put(collection, id, value, options))),
          delete: (collection, id, options) =>
            Effect.suspend(() => (mine(collection, "delete"), docs.delete(collection, id, options))),
          getMany: (collection, ids) =>
            Effect.suspend(() => (mine(collection, "getMany"), docs.getMany(collection, ids))),
          writeMany: (collection, writes) =>
            Effect.suspend(() => (mine(collection, "writeMany"), docs.writeMany(collection, writes)))
        }
        const fiber = yield* Effect.forkChild(
          Projection.run(projection).pipe(Effect.provideService(DocumentStore.DocumentStore, counting))
        )
        yield* waitFor(
          "the projection's checkpoint",
          Effect.map(
            store.loadCheckpoint(projection.checkpoint),
            (cp) => Option.isSome(cp) && cp.value >= log[log.length - 1].position
          )
        ).pipe(Effect.timeout(deliveryTimeout))
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* documents(domain.collection), yield* freshFold(domain))
        assert.deepStrictEqual([calls.get, calls.put, calls.delete], [0, 0, 0], "no per-event reads or writes")
        assert.isAtLeast(calls.writeMany, 1)
        assert.isAtMost(calls.writeMany, log.length)
        assert.strictEqual(calls.getMany, calls.writeMany, "one read per written batch")
      }))

    it.effect("a blue-green rebuild builds the new version while the old one serves, then switches readers", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const domain = bank(n)
        const v1 = domain.projection()
        // Version 2 counts in cents.
        const v2 = Projection.singleStream({
          name: n.checkpoint(),
          collection: domain.collection,
          events: domain.codec,
          version: 2,
          evolve: (current, decoded) => {
            const next = domain.evolve(
              current === undefined ? undefined : { ...current, balance: current.balance / 100 },
              decoded
            )
            return next === Projection.Delete ? next : { ...next, balance: next.balance * 100 }
          }
        })
        yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 2 })])
        yield* Projection.rebuild(v1)
        assert.strictEqual((yield* Projection.active(v1)).name, domain.collection.name, "nothing recorded: own version")
        assert.strictEqual((yield* Projection.active(v2)).name, v2.target.name, "nothing recorded: own version")
        yield* Projection.activate(v1)
        assert.strictEqual((yield* Projection.active(v2)).name, domain.collection.name, "v1 serves")
        yield* Projection.blueGreen(v2)
        const active = yield* Projection.active(v1)
        assert.strictEqual(active.name, v2.target.name, "readers switched to version 2")
        assert.notStrictEqual(v2.target.name, domain.collection.name)
        assert.deepStrictEqual(yield* documents(active), new Map([[n.stream("a"), { balance: 200, count: 1 }]]))
        assert.deepStrictEqual(
          yield* documents(domain.collection),
          new Map([[n.stream("a"), { balance: 2, count: 1 }]]),
          "version 1 is untouched"
        )
        // The serving version cannot be rebuilt blue-green in place.
        const refused = yield* Effect.flip(Projection.blueGreen(v2))
        assert.strictEqual(refused._tag, "InvalidArgument")
        assert.strictEqual(yield* docs.count(v2.target), 1)
      }))

    it.effect("during a blue-green rebuild, and after a failed one, readers keep the old version", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const domain = bank(n)
        const v1 = domain.projection()
        const v2 = domain.projection({ version: 2 })
        for (const account of ["a", "b", "c"]) {
          yield* domain.codec.append(n.stream(account), [domain.Deposited.make({ amount: 2 })])
        }
        yield* Projection.rebuild(v1)
        yield* Projection.activate(v1)
        const served = yield* documents(domain.collection)
        // Each write of the new version's collection first asks which collection readers are given.
        const seen: Array<string> = []
        const watching: DocumentStore.DocumentStoreShape = {
          ...docs,
          writeMany: (collection, writes) =>
            collection.name === v2.target.name
              ? Projection.active(v1).pipe(
                Effect.provideService(DocumentStore.DocumentStore, docs),
                Effect.orDie,
                Effect.flatMap((active) => {
                  seen.push(active.name)
                  return docs.writeMany(collection, writes)
                })
              )
              : docs.writeMany(collection, writes)
        }
        const replayed = yield* Projection.blueGreen(v2, { batchSize: 1 }).pipe(
          Effect.provideService(DocumentStore.DocumentStore, watching)
        )
        assert.strictEqual(replayed, 3)
        assert.deepStrictEqual(seen, [domain.collection.name, domain.collection.name, domain.collection.name])
        assert.strictEqual((yield* Projection.active(v1)).name, v2.target.name, "switched once built")
        // Version 3 refuses its last event (NaN is not a finite balance): the rebuild fails half done.
        const v3 = Projection.singleStream({
          name: v1.name,
          collection: domain.collection,
          events: domain.codec,
          version: 3,
          evolve: (current, decoded) => {
            const next = domain.evolve(current, decoded)
            return next !== Projection.Delete && decoded.stream === n.stream("c") ? { ...next, balance: NaN } : next
          }
        })
        const failed = yield* Effect.flip(Projection.blueGreen(v3, { batchSize: 1 }))
        assert.strictEqual(failed._tag, "InvalidDocument")
        assert.strictEqual(yield* docs.count(v3.target), 2, "the failed build wrote part of its collection")
        assert.strictEqual(yield* Projection.activeVersion(v3), 2, "readers still use version 2")
        assert.strictEqual((yield* Projection.active(v3)).name, v2.target.name)
        assert.deepStrictEqual(yield* documents(v2.target), yield* documents(domain.collection))
        assert.deepStrictEqual(yield* documents(domain.collection), served, "version 1 is untouched")
      }))

    it.effect("catchUp commits the last applied position: a second catch-up applies nothing twice", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        yield* domain.codec.append(n.stream("a"), [
          domain.Deposited.make({ amount: 10 }),
          domain.Withdrawn.make({ amount: 1 })
        ])
        yield* domain.codec.append(n.stream("b"), [domain.Deposited.make({ amount: 5 })])
        yield* domain.codec.append(n.stream("a"), [
          domain.Deposited.make({ amount: 3 }),
          domain.Withdrawn.make({ amount: 2 })
        ])
        // Batches of 3 and 2: the last batch holds more than one event, and its last one is the checkpoint.
        assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 3 }), 5)
        const folded = yield* freshFold(domain)
        assert.deepStrictEqual(yield* documents(domain.collection), folded)
        assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 3 }), 0, "nothing new")
        assert.deepStrictEqual(yield* documents(domain.collection), folded, "nothing applied twice")
        const lastPosition = Effect.map(
          readAll({ filter: { types: domain.codec.types } }),
          (log) => log[log.length - 1].position
        )
        assert.deepStrictEqual(yield* store.loadCheckpoint(projection.checkpoint), Option.some(yield* lastPosition))
        yield* domain.codec.append(n.stream("b"), [domain.Withdrawn.make({ amount: 4 })])
        assert.strictEqual(yield* Projection.catchUp(projection, { batchSize: 3 }), 1, "only the new event")
        assert.deepStrictEqual(yield* documents(domain.collection), yield* freshFold(domain))
        assert.deepStrictEqual(
          yield* documents(domain.collection),
          new Map([[n.stream("a"), { balance: 10, count: 4 }], [n.stream("b"), { balance: 1, count: 2 }]])
        )
        assert.deepStrictEqual(yield* store.loadCheckpoint(projection.checkpoint), Option.some(yield* lastPosition))
      }))

    it.effect("an evolve that throws fails catchUp and run with ProjectionFailed, committing what came before", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const domain = bank(n)
        const thrower = Projection.singleStream({
          name: n.checkpoint(),
          collection: domain.collection,
          events: domain.codec,
          evolve: (current, decoded) => {
            if (decoded.event._tag === domain.Withdrawn.name) throw new Error("evolve exploded")
            return domain.evolve(current, decoded)
          }
        })
        const { position: before } = yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 5 })])
        yield* domain.codec.append(n.stream("a"), [domain.Withdrawn.make({ amount: 1 })])
        const [, withdrawn] = yield* readAll({ filter: { types: domain.codec.types } })
        const expectFailed = (error: { projection: string; stream: string; eventId: string; cause?: unknown }) => {
          assert.strictEqual(error.projection, thrower.name)
          assert.strictEqual(error.stream, n.stream("a"))
          assert.strictEqual(error.eventId, withdrawn.id)
          assert.strictEqual(error.cause instanceof Error ? error.cause.message : error.cause, "evolve exploded")
        }
        expectFailed(yield* failsWith("ProjectionFailed")(Projection.catchUp(thrower, { batchSize: 1 })))
        assert.deepStrictEqual(yield* store.loadCheckpoint(thrower.checkpoint), Option.some(before))
        assert.deepStrictEqual(
          yield* documents(domain.collection),
          new Map([[n.stream("a"), { balance: 5, count: 1 }]])
        )
        expectFailed(
          yield* failsWith("ProjectionFailed")(Projection.run(thrower)).pipe(
            within(deliveryTimeout, "Projection.run to fail on the throwing event")
          )
        )
        assert.deepStrictEqual(yield* store.loadCheckpoint(thrower.checkpoint), Option.some(before))
      }))

    it.effect("only the projection's own throws become ProjectionFailed: a store defect or an interruption stays one", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const domain = bank(n)
        const byId = Projection.multiStream({
          name: n.checkpoint(),
          collection: domain.collection,
          events: domain.codec,
          id: () => {
            throw new Error("id exploded")
          },
          evolve: domain.evolve
        })
        yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 1 })])
        const [deposited] = yield* readAll({ filter: { types: domain.codec.types } })
        const failed = yield* failsWith("ProjectionFailed")(byId.handler(deposited))
        assert.deepStrictEqual([failed.projection, failed.stream, failed.eventId], [
          byId.name,
          deposited.stream,
          deposited.id
        ])
        assert.strictEqual(failed.cause instanceof Error ? failed.cause.message : failed.cause, "id exploded")
        // The same handler over a store that dies or is interrupted on read: not the projection's doing.
        const projection = domain.projection()
        const readingWith = (get: Effect.Effect<never>) =>
          Effect.exit(
            projection.handler(deposited).pipe(
              Effect.provideService(DocumentStore.DocumentStore, { ...docs, get: () => get })
            )
          )
        const died = yield* readingWith(Effect.die("store bug"))
        assert.isTrue(Exit.hasDies(died), String(died))
        const interrupted = yield* readingWith(Effect.interrupt)
        assert.isTrue(Exit.hasInterrupts(interrupted), String(interrupted))
        assert.isFalse(Exit.hasFails(interrupted), String(interrupted))
      }))

    it.effect("update retries on conflict: concurrent increments all land", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const Counters = DocumentStore.collection(n.collection(), Schema.Struct({ n: Schema.Number }))
        yield* Effect.forEach(
          Array.from({ length: 8 }),
          () => DocumentStore.update(Counters, "c", (current) => ({ n: (current?.n ?? 0) + 1 }), { retries: 50 }),
          { concurrency: "unbounded", discard: true }
        )
        const counter = yield* docs.get(Counters, "c")
        assert.deepStrictEqual(Option.map(counter, (d) => `${d.version}:${d.value.n}`), Option.some("8:8"))
        assert.isTrue(Option.isNone(yield* DocumentStore.update(Counters, "c", () => DocumentStore.Delete)))
        assert.isTrue(Option.isNone(yield* docs.get(Counters, "c")))
        const unchanged = yield* DocumentStore.update(Counters, "absent", (current) => current ?? DocumentStore.Delete)
        assert.isTrue(Option.isNone(unchanged))
        const bad = yield* Effect.flip(DocumentStore.update(Counters, "c", () => ({ n: 1 }), { retries: -1 }))
        assert.strictEqual(bad._tag, "InvalidArgument")
      }))

    it.effect("handleBatch leaves the same documents as the handler event by event (deletes, re-creates, skipped ids)", () =>
      Effect.gen(function*() {
        const n = names()
        const domain = bank(n)
        const one = (suffix: string) =>
          Projection.singleStream({
            name: n.checkpoint(suffix),
            collection: DocumentStore.collection(n.collection(suffix), Balance),
            events: domain.codec,
            evolve: domain.evolve
          })
        const Totals = Schema.Struct({ total: Schema.Number, seen: Schema.Number })
        const many = (suffix: string) =>
          Projection.multiStream({
            name: n.checkpoint(suffix),
            collection: DocumentStore.collection(n.collection(suffix), Totals),
            events: domain.codec,
            // Deposits by size; withdrawals skipped; a Closed deletes the "small" total.
            id: ({ event }) =>
              event._tag === domain.Withdrawn.name
                ? undefined
                : "amount" in event
                ? (event.amount >= 100 ? "large" : "small")
                : "small",
            evolve: (current, { event }) =>
              event._tag === domain.Closed.name
                ? Projection.Delete
                : {
                  total: (current?.total ?? 0) + ("amount" in event ? event.amount : 0),
                  seen: (current?.seen ?? 0) + 1
                }
          })
        const { Closed, Deposited, Withdrawn } = domain
        yield* domain.codec.append(n.stream("a"), [Deposited.make({ amount: 5 }), Withdrawn.make({ amount: 2 })])
        yield* domain.codec.append(n.stream("b"), [Deposited.make({ amount: 500 }), Closed.make({})])
        yield* domain.codec.append(n.stream("a"), [Deposited.make({ amount: 7 }), Closed.make({})])
        yield* domain.codec.append(n.stream("a"), [Deposited.make({ amount: 1 }), Deposited.make({ amount: 300 })])
        yield* domain.codec.append(n.stream("c"), [Withdrawn.make({ amount: 4 })])
        const log = yield* readAll({ filter: { types: domain.codec.types } })
        const same = <A, I>(perEvent: Projection.Projection<A, I>, batched: Projection.Projection<A, I>) =>
          Effect.gen(function*() {
            for (const event of log) yield* perEvent.handler(event)
            yield* batched.handleBatch(log)
            const expected = yield* documents(perEvent.target)
            assert.isAbove(expected.size, 0)
            assert.deepStrictEqual(yield* documents(batched.target), expected)
          })
        yield* same(one("p1"), one("b1"))
        yield* same(many("p2"), many("b2"))
        // Split into batches of 3 (a document folded across batches), from the documents already there.
        const again = one("b3")
        for (let i = 0; i < log.length; i += 3) yield* again.handleBatch(log.slice(i, i + 3))
        assert.deepStrictEqual(yield* documents(again.target), yield* documents(one("p1").target))
      }))

    it.effect("an evolve that throws mid-batch fails handleBatch with ProjectionFailed naming it: nothing of the batch is written", () =>
      Effect.gen(function*() {
        const n = names()
        const domain = bank(n)
        const thrower = Projection.singleStream({
          name: n.checkpoint(),
          collection: domain.collection,
          events: domain.codec,
          evolve: (current, decoded) => {
            if (decoded.event._tag === domain.Withdrawn.name) throw new Error("evolve exploded")
            return domain.evolve(current, decoded)
          }
        })
        yield* domain.codec.append(n.stream("a"), [domain.Deposited.make({ amount: 5 })])
        yield* domain.codec.append(n.stream("b"), [domain.Deposited.make({ amount: 6 })])
        yield* domain.codec.append(n.stream("a"), [domain.Withdrawn.make({ amount: 1 })])
        yield* domain.codec.append(n.stream("c"), [domain.Deposited.make({ amount: 7 })])
        const log = yield* readAll({ filter: { types: domain.codec.types } })
        const error = yield* failsWith("ProjectionFailed")(thrower.handleBatch(log))
        assert.strictEqual(error.eventId, log[2].id)
        assert.strictEqual(error.stream, n.stream("a"))
        assert.strictEqual((yield* documents(domain.collection)).size, 0)
      }))

    it.effect("a concurrent writer between a batch's read and its write is not lost: the batch folds again", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const domain = bank(n)
        const Counter = DocumentStore.collection(n.collection("hot"), Schema.Struct({ events: Schema.Number }))
        const counting = Projection.multiStream({
          name: n.checkpoint(),
          collection: Counter,
          events: domain.codec,
          id: () => "hot",
          evolve: (current) => ({ events: (current?.events ?? 0) + 1 })
        })
        yield* docs.put(Counter, "hot", { events: 5 })
        for (let i = 0; i < 3; i++) {
          yield* domain.codec.append(n.stream(`s${i}`), [domain.Deposited.make({ amount: 1 })])
        }
        const log = yield* readAll({ filter: { types: domain.codec.types } })
        let interfered = 0
        // Another writer adds 100 right after the batch read the document, before its write.
        const racing: DocumentStore.DocumentStoreShape = {
          ...docs,
          writeMany: (collection, writes) =>
            Effect.andThen(
              interfered++ === 0
                ? DocumentStore.update(Counter, "hot", (c) => ({ events: (c?.events ?? 0) + 100 })).pipe(
                  Effect.provideService(DocumentStore.DocumentStore, docs),
                  Effect.orDie
                )
                : Effect.void,
              docs.writeMany(collection, writes)
            )
        }
        yield* counting.handleBatch(log).pipe(Effect.provideService(DocumentStore.DocumentStore, racing))
        assert.strictEqual(interfered, 2, "the first write conflicted and the batch was folded again")
        const hot = Option.getOrThrow(yield* docs.get(Counter, "hot"))
        assert.strictEqual(hot.value.events, 108)
      }))

    it.effect("bad options and definitions are refused with typed errors", () =>
      Effect.gen(function*() {
        const n = names()
        const domain = bank(n)
        const projection = domain.projection()
        const error = yield* Effect.flip(Projection.catchUp(projection, { batchSize: 0 }))
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.throws(() =>
          Projection.singleStream({
            name: n.checkpoint(),
            collection: domain.collection,
            events: domain.codec,
            evolve: domain.evolve,
            version: 0
          }), /version must be an integer >= 1/)
      }))
  })
}
