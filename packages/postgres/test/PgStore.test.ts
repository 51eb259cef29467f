/**
 * What only the PostgreSQL backend has: a gap-free global order under concurrent writers on many
 * connections, LISTEN/NOTIFY wake-ups that survive a killed listener, atomicity when an appender's
 * connection dies, migrations started by several processes at once, and the query plans.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { DocumentStore, Event, EventStore, ExpectedVersion, Retry, Store } from "@strata/core"
import { PgDialect, PgHorizon, PgStore } from "@strata/postgres"
import { Migrator, SqlStore } from "@strata/sql"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import { makeSecondClient, PgTestDatabase } from "./utils.ts"

// Without the retry decorator: these tests see the failures themselves.
const StoreLayer = Store.layer(PgStore.layerFromClient({ pollInterval: "500 millis" }), { retry: false }).pipe(
  Layer.provideMerge(PgTestDatabase.layerClient)
)

const unique = (prefix: string) => `${prefix}${Math.random().toString(16).slice(2, 10)}`

/** A second store on the same database through its own connection pool, as another process would have. */
const secondStore = Effect.gen(function*() {
  const client = yield* makeSecondClient({ maxConnections: 4 })
  const store = yield* SqlStore.make({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
    Effect.provideService(SqlClient.SqlClient, client)
  )
  return store.eventStore
})

/**
 * A full PgStore on its own connection pool (its own listener and notifier), as another process
 * would run it; with a long `pollInterval` its subscriptions can only be woken by NOTIFY.
 */
const otherProcess = (options: PgStore.PgStoreOptions) =>
  Effect.gen(function*() {
    const client = yield* makeSecondClient({ maxConnections: 4 })
    const context = yield* Layer.build(
      PgStore.layerFromClient(options).pipe(
        Layer.provide(Layer.succeedContext(
          Context.make(PgClient.PgClient, client).pipe(
            Context.add(SqlClient.SqlClient, client)
          )
        ))
      )
    )
    return Context.get(context, EventStore.EventStore)
  })

/** Blocks the next append at its announcement until this transaction ends. */
const holdNextAnnouncement = (client: SqlClient.SqlClient) =>
  client`SELECT pg_advisory_xact_lock(${client.literal(PgHorizon.announcementKey)})`

layer(StoreLayer, { timeout: "120 seconds", excludeTestServices: true })("PgStore", (it) => {
  describe("global order", () => {
    it.effect("8 fibers on two connection pools append to 20 streams: subscribers and a catch-up reader see every event once, in one order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const other = yield* secondStore
        const category = unique("gap")
        const perFiber = 40
        const fibers = 8
        const total = perFiber * fibers
        const filter = { categories: [category] }
        const first = yield* store.subscribeAll({ from: "start", filter }).pipe(
          Stream.take(total),
          Stream.runCollect,
          Effect.forkChild
        )
        const second = yield* other.subscribeAll({ from: "start", filter }).pipe(
          Stream.take(total),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Effect.sleep("100 millis")
        const appended: Array<string> = []
        // A catch-up reader pages through while writes are still landing.
        const catchUp = yield* Effect.gen(function*() {
          yield* Effect.sleep("50 millis")
          return yield* Stream.runCollect(store.readAll({ filter }))
        }).pipe(Effect.forkChild)
        yield* Effect.forEach(Array.from({ length: fibers }, (_, f) => f), (f) =>
          Effect.gen(function*() {
            const target = f % 2 === 0 ? store : other
            for (let i = 0; i < perFiber; i++) {
              const event = Event.make("Tick", { f, i })
              appended.push(event.id)
              yield* target.append(`${category}-${(f * 7 + i) % 20}`, [event])
            }
          }), { concurrency: fibers, discard: true })
        const [a, b] = [yield* Fiber.join(first), yield* Fiber.join(second)]
        const partial = yield* Fiber.join(catchUp)
        for (const seen of [a, b]) {
          assert.strictEqual(seen.length, total)
          assert.strictEqual(new Set(seen.map((e) => e.id)).size, total, "no event delivered twice")
          assert.deepStrictEqual(new Set(seen.map((e) => e.id)), new Set(appended), "no event skipped")
          for (let i = 1; i < seen.length; i++) assert.isTrue(seen[i].position > seen[i - 1].position)
        }
        assert.deepStrictEqual(a.map((e) => e.id), b.map((e) => e.id), "both subscribers see the same order")
        // The catch-up reader saw a prefix of that same order.
        assert.deepStrictEqual(partial.map((e) => e.id), a.slice(0, partial.length).map((e) => e.id))
        const after = yield* Stream.runCollect(store.readAll({ filter }))
        assert.deepStrictEqual(after.map((e) => e.id), a.map((e) => e.id))
      }))

    it.effect("appends held open in transactions hold back later positions from readers, not writers; a commit and a rollback release them in position order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS unrelated (id serial PRIMARY KEY, note text)`
        const category = unique("held")
        const filter = { categories: [category] }
        const seen: Array<Event.RecordedEvent> = []
        const subscriber = yield* store.subscribeAll({ from: "start", filter }).pipe(
          Stream.tap((event) => Effect.sync(() => seen.push(event))),
          Stream.take(2),
          Stream.runCollect,
          Effect.forkChild
        )
        // Appends inside transactions that stay open until released: the first wrote another table
        // first (it holds an older transaction id than its append), the second will roll back.
        const held = (stream: string, outcome: "commit" | "rollback") =>
          Effect.gen(function*() {
            const appended = yield* Deferred.make<bigint>()
            const release = yield* Deferred.make<void>()
            const fiber = yield* sql.withTransaction(Effect.gen(function*() {
              yield* sql`INSERT INTO unrelated (note) VALUES ('before the append')`
              const result = yield* store.append(stream, [Event.make("Held", { outcome })])
              yield* Deferred.succeed(appended, result.position)
              yield* Deferred.await(release)
              if (outcome === "rollback") return yield* Effect.fail("rolled back" as const)
            })).pipe(Effect.exit, Effect.forkChild)
            return { position: yield* Deferred.await(appended), release: Deferred.succeed(release, undefined), fiber }
          })
        const committing = yield* held(`${category}-1`, "commit")
        const rollingBack = yield* held(`${category}-2`, "rollback")
        // A writer is not blocked by them (a commit-order lock would block it until they end).
        const later = yield* store.append(`${category}-3`, [Event.make("Later", {})]).pipe(
          Effect.timeout("5 seconds")
        )
        assert.isTrue(committing.position < rollingBack.position && rollingBack.position < later.position)
        // Readers stop below the open appends: delivering `later` now would skip `committing` for good.
        yield* Effect.sleep("300 millis")
        assert.deepStrictEqual(seen, [], "nothing delivered past an open append")
        assert.deepStrictEqual(yield* Stream.runCollect(store.readAll({ filter })), [])
        yield* rollingBack.release
        yield* Fiber.join(rollingBack.fiber)
        yield* committing.release
        yield* Fiber.join(committing.fiber)
        const delivered = yield* Fiber.join(subscriber)
        assert.deepStrictEqual(delivered.map((e) => e.position), [committing.position, later.position])
        const read = yield* Stream.runCollect(store.readAll({ filter }))
        assert.deepStrictEqual(read.map((e) => e.position), [committing.position, later.position])
      }))

    it.effect("an append in flight holds back only positions after it: a subscription from the end replays nothing committed before", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const other = yield* makeSecondClient({ maxConnections: 1 })
        const category = unique("tight")
        const filter = { categories: [category] }
        const before = yield* store.append(`${category}-1`, [Event.make("Before", {})])
        // An append that has announced itself and not yet taken a position.
        const announced = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const inFlight = yield* other.withTransaction(Effect.gen(function*() {
          yield* other`SELECT pg_advisory_xact_lock_shared(${other.literal(PgHorizon.announcementKey)})`
          yield* Deferred.succeed(announced, undefined)
          yield* Deferred.await(release)
        })).pipe(Effect.forkChild)
        yield* Deferred.await(announced)
        const [horizon] = yield* sql<{ settled: unknown }>`SELECT settled FROM strata_horizon()`
        assert.strictEqual(BigInt(horizon.settled as bigint), before.position + 1n, "settled just past the last commit")
        const subscriber = yield* store.subscribeAll({ from: "end", filter }).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(inFlight)
        yield* store.append(`${category}-1`, [Event.make("After", {})])
        const [first] = yield* Fiber.join(subscriber)
        assert.strictEqual(first.type, "After")
      }))

    it.effect("an unrelated transaction holding an xid for 10 s does not hold back live delivery", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const other = yield* makeSecondClient({ maxConnections: 1 })
        yield* other`CREATE TABLE IF NOT EXISTS unrelated (id serial PRIMARY KEY, note text)`
        const blocker = yield* other.withTransaction(Effect.gen(function*() {
          yield* other`INSERT INTO unrelated (note) VALUES ('holding an xid')`
          yield* Effect.sleep("10 seconds")
        })).pipe(Effect.forkChild)
        yield* Effect.sleep("200 millis")
        const category = unique("xid")
        const latencies: Array<number> = []
        // Five deliveries spread over the 10 s the other transaction stays open.
        for (let i = 0; i < 5; i++) {
          if (i > 0) yield* Effect.sleep("1800 millis")
          const subscriber = yield* store.subscribeAll({ from: "end", filter: { categories: [category] } }).pipe(
            Stream.take(1),
            Stream.runCollect,
            Effect.forkChild
          )
          yield* Effect.sleep("50 millis")
          const started = Date.now()
          yield* store.append(`${category}-1`, [Event.make("Ping", { i })])
          yield* Fiber.join(subscriber)
          latencies.push(Date.now() - started)
        }
        yield* Fiber.interrupt(blocker)
        assert.isTrue(
          Math.max(...latencies) < 1000,
          `delivery took ${latencies.join(", ")} ms with a long transaction open`
        )
      }))
  })

  describe("concurrent appends", () => {
    it.effect("concurrent appends do not share fates: conflicts, taken ids and replays each get their own answer", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const tag = unique("batch")
        const taken = Event.make("Taken", {})
        yield* store.append(`${tag}-owner`, [taken])
        const replayed = Event.make("Replayed", {})
        const original = yield* store.append(`${tag}-replay`, [replayed])
        yield* store.append(`${tag}-exists`, [Event.make("A", {})])
        // Launched together, on several connections at once.
        const results = yield* Effect.all([
          Effect.result(store.append(`${tag}-new-1`, [Event.make("B", {})], { expected: ExpectedVersion.noStream })),
          Effect.result(store.append(`${tag}-exists`, [Event.make("C", {})], { expected: ExpectedVersion.noStream })),
          Effect.result(store.append(`${tag}-thief`, [taken])),
          Effect.result(store.append(`${tag}-replay`, [replayed], { expected: ExpectedVersion.noStream })),
          Effect.result(store.append(`${tag}-new-2`, [Event.make("D", {}), Event.make("E", {})])),
          Effect.result(store.append(`${tag}-exists`, [Event.make("F", {})], { expected: ExpectedVersion.exact(0) }))
        ], { concurrency: "unbounded" })
        const tags = results.map((result) => result._tag === "Success" ? "ok" : result.failure._tag)
        assert.deepStrictEqual(tags, ["ok", "WrongExpectedVersion", "DuplicateEvent", "ok", "ok", "ok"])
        assert.deepStrictEqual(results[3]._tag === "Success" && results[3].success, original)
        assert.strictEqual((yield* store.streamInfo(`${tag}-thief`)).status, "missing")
        assert.strictEqual((yield* store.streamInfo(`${tag}-new-2`)).lastVersion, 1n)
        assert.deepStrictEqual((yield* Stream.runCollect(store.read(`${tag}-exists`))).map((e) => e.type), ["A", "F"])
      }))
  })

  describe("LISTEN/NOTIFY", () => {
    it.effect("a subscriber in another process that never polls is woken by NOTIFY, and loses and repeats nothing when its listener's backend is terminated", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const watcher = yield* otherProcess({ pollInterval: "1 hour" })
        const admin = yield* makeSecondClient({ maxConnections: 1 })
        const category = unique("kill")
        const total = 60
        const subscriber = yield* watcher.subscribeAll({ from: "start", filter: { categories: [category] } }).pipe(
          Stream.take(total),
          Stream.runCollect,
          Effect.forkChild
        )
        const ids: Array<string> = []
        for (let i = 0; i < total; i++) {
          if (i === 20 || i === 40) {
            // The listener may be between reconnects: look for it for up to 5 s.
            let killed: ReadonlyArray<{ pid: number }> = []
            for (let attempt = 0; attempt < 100 && killed.length === 0; attempt++) {
              if (attempt > 0) yield* Effect.sleep("50 millis")
              killed = yield* admin<
                { pid: number }
              >`SELECT pg_terminate_backend(pid) AS killed, pid FROM pg_stat_activity
                WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND state = 'idle'`
            }
            assert.isTrue(killed.length >= 1, "found the listening backend")
          }
          const event = Event.make("Tick", { i })
          ids.push(event.id)
          yield* store.append(`${category}-${i % 3}`, [event])
          yield* Effect.sleep("5 millis")
        }
        const seen = yield* Fiber.join(subscriber)
        assert.deepStrictEqual(seen.map((e) => e.id), ids)
      }))

    it.effect("an event larger than NOTIFY's 8000-byte payload limit is delivered live to another process", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const watcher = yield* otherProcess({ pollInterval: "1 hour" })
        const stream = unique("big-")
        const subscriber = yield* watcher.subscribe(stream, { from: "end" }).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.forkChild
        )
        yield* Effect.sleep("100 millis")
        const text = "x".repeat(64 * 1024)
        yield* store.append(stream, [Event.make("Big", { text })])
        const [event] = yield* Fiber.join(subscriber)
        assert.strictEqual((event.data as { text: string }).text.length, 64 * 1024)
      }))
  })

  describe("failures", () => {
    it.effect("killing an appender's connection mid-transaction leaves nothing; the failure is StoreUnavailable and withRetry succeeds", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const locker = yield* makeSecondClient({ maxConnections: 1 })
        const admin = yield* makeSecondClient({ maxConnections: 1 })
        const a = unique("kill-a-")
        const b = unique("kill-b-")
        // Hold the key the next append announces itself with, exclusively, so a two-stream append (the
        // transactional path) stops inside its transaction, after it has written its stream rows.
        const holder = yield* locker.withTransaction(Effect.gen(function*() {
          yield* holdNextAnnouncement(locker)
          yield* Effect.sleep("1 second")
        })).pipe(Effect.forkChild)
        yield* Effect.sleep("100 millis")
        const append = yield* store.appendMany([
          { stream: a, events: [Event.make("A", {})], expected: ExpectedVersion.noStream },
          { stream: b, events: [Event.make("B", {})], expected: ExpectedVersion.noStream }
        ]).pipe(Effect.flip, Effect.forkChild)
        let victims: ReadonlyArray<unknown> = []
        for (let i = 0; i < 50 && victims.length === 0; i++) {
          yield* Effect.sleep("20 millis")
          victims = yield* admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`
        }
        assert.strictEqual(victims.length, 1, "the appender was waiting inside its transaction")
        const error = yield* Fiber.join(append)
        assert.strictEqual(error._tag, "StoreUnavailable")
        assert.isTrue(error.isRetryable)
        yield* Fiber.join(holder)
        assert.strictEqual((yield* store.streamInfo(a)).status, "missing")
        assert.strictEqual((yield* store.streamInfo(b)).status, "missing")

        // The same failure under withRetry: the retry commits once the connection is back.
        const retrying = Retry.withRetry(store, Schedule.max([Schedule.spaced("100 millis"), Schedule.recurs(30)]))
        const holder2 = yield* locker.withTransaction(Effect.gen(function*() {
          yield* holdNextAnnouncement(locker)
          yield* Effect.sleep("500 millis")
        })).pipe(Effect.forkChild)
        yield* Effect.sleep("100 millis")
        const retried = yield* retrying.appendMany([
          { stream: a, events: [Event.make("A", {})], expected: ExpectedVersion.noStream },
          { stream: b, events: [Event.make("B", {})], expected: ExpectedVersion.noStream }
        ]).pipe(Effect.forkChild)
        victims = []
        for (let i = 0; i < 50 && victims.length === 0; i++) {
          yield* Effect.sleep("20 millis")
          victims = yield* admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`
        }
        assert.strictEqual(victims.length, 1)
        const results = yield* Fiber.join(retried)
        yield* Fiber.join(holder2)
        assert.deepStrictEqual(results.map((r) => r.nextExpectedVersion), [0n, 0n])
        assert.strictEqual((yield* Stream.runCollect(store.read(a))).length, 1)
      }))
  })

  describe("migrations", () => {
    // A new empty database on the test server, dropped when the test ends.
    const freshDatabase = Effect.gen(function*() {
      const db = yield* PgTestDatabase
      const sql = yield* SqlClient.SqlClient
      const name = unique("strata_mig_")
      yield* sql.unsafe(`CREATE DATABASE ${name}`)
      yield* Effect.addFinalizer(() => Effect.ignore(sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
      const url = new URL(db.connectionString)
      url.pathname = `/${name}`
      return url
    })

    it.effect("four processes starting at once on a fresh database apply each migration exactly once", () =>
      Effect.gen(function*() {
        const url = yield* freshDatabase
        const applied = yield* Effect.forEach([1, 2, 3, 4], () =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* PgClient.make({ url: Redacted.make(url.toString()), maxConnections: 1 })
            return yield* Migrator.run(PgDialect.dialect).pipe(Effect.provideService(SqlClient.SqlClient, client))
          })).pipe(Effect.provide(Reactivity.layer)), { concurrency: 4 })
        assert.deepStrictEqual(applied.flat().sort((a, b) => a - b), PgDialect.dialect.migrations.map((m) => m.id))
        const check = yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* PgClient.make({ url: Redacted.make(url.toString()), maxConnections: 1 })
          return yield* client<{ id: number }>`SELECT id FROM strata_migrations ORDER BY id`
        })).pipe(Effect.provide(Reactivity.layer))
        assert.deepStrictEqual(check.map((row) => Number(row.id)), PgDialect.dialect.migrations.map((m) => m.id))
      }))

    it.effect("positions stop below 2^48 (the announcement key's width): an append past the last fails whole", () =>
      Effect.gen(function*() {
        const url = yield* freshDatabase
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* PgClient.make({ url: Redacted.make(url.toString()), maxConnections: 2 })
          yield* Migrator.run(PgDialect.dialect).pipe(Effect.provideService(SqlClient.SqlClient, client))
          const last = 2n ** 48n - 1n
          yield* client`SELECT setval('strata_events_position_seq', ${last - 1n})`
          const { eventStore: store } = yield* SqlStore.make({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
            Effect.provideService(SqlClient.SqlClient, client)
          )
          const atTheEdge = yield* store.append("edge-1", [Event.make("Last", {})])
          assert.strictEqual(atTheEdge.position, last)
          const past = yield* Effect.exit(store.append("edge-2", [Event.make("Past", {})]))
          assert.isTrue(Exit.isFailure(past), "an append past 2^48 - 1 must fail")
          assert.deepStrictEqual(yield* Stream.runCollect(store.read("edge-2")), [])
          const all = yield* Stream.runCollect(store.readAll())
          assert.deepStrictEqual(all.map((event) => [event.type, event.position]), [["Last", last]])
        })).pipe(Effect.provide(Reactivity.layer))
      }))
  })

  describe("query plans", () => {
    const plan = (query: string) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql.unsafe<{ "QUERY PLAN": string }>(`EXPLAIN ${query}`)
        return rows.map((row) => row["QUERY PLAN"]).join("\n")
      })

    it.effect("document queries on a declared field use its expression index", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const sql = yield* SqlClient.SqlClient
        const Orders = DocumentStore.collection(
          "plan_orders",
          Schema.Struct({ owner: Schema.String, total: Schema.Number }),
          {
            indexes: ["owner"]
          }
        )
        yield* docs.put(Orders, "o-0", { owner: "owner-0", total: 0 })
        yield* sql`INSERT INTO strata_documents (collection, id, version, data)
          SELECT 'plan_orders', 'o-' || v, 1, jsonb_build_object('owner', 'owner-' || (v % 500), 'total', v)
          FROM generate_series(1, 20000) v`
        yield* sql`ANALYZE strata_documents`
        const text = yield* plan(
          `SELECT id, version, data FROM strata_documents WHERE collection = 'plan_orders'
           AND (data #> '{owner}') = '"owner-7"'::jsonb ORDER BY id COLLATE "C" ASC LIMIT 101`
        )
        assert.include(text, "strata_doc_plan_orders_owner", `plan:\n${text}`)
        assert.strictEqual(yield* docs.count(Orders, { where: { owner: "owner-7" } }), 40)
      }))

    it.effect("stream reads, catch-up pages and idle polls use indexes, never a sequential scan of strata_events", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const category = unique("plan")
        // Enough rows that the planner prefers an index where one fits.
        yield* sql`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
          SELECT gen_random_uuid(), ${category} || '-' || (v / 100), v % 100, ${category}, 'Seeded', '{}'::json, '{}'::json, now()
          FROM generate_series(0, 19999) v`
        yield* sql`ANALYZE strata_events`
        yield* store.append(`${category}-x`, [Event.make("Probe", {})])
        const queries = {
          streamRead:
            `SELECT * FROM strata_events WHERE stream = '${category}-7' AND version >= 0 ORDER BY version ASC LIMIT 500`,
          catchUpPage: "SELECT * FROM strata_events WHERE position > 1000 ORDER BY position ASC LIMIT 500",
          idlePoll: "SELECT * FROM strata_events WHERE position > 99999999 ORDER BY position ASC LIMIT 500",
          categoryPoll:
            `SELECT * FROM strata_events WHERE position > 100 AND category IN ('${category}') ORDER BY position ASC LIMIT 500`,
          typePoll:
            "SELECT * FROM strata_events WHERE position > 100 AND type IN ('Probe') ORDER BY position ASC LIMIT 500",
          head: "SELECT max(position) AS head FROM strata_events"
        }
        for (const [name, query] of Object.entries(queries)) {
          const text = yield* plan(query)
          assert.notInclude(text, "Seq Scan on strata_events", `${name} plan:\n${text}`)
        }
      }))
  })
})
