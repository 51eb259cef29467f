/**
 * Stores in schemas of their own in ONE database (PgSchema): each store's tables, functions and
 * sequence live in its schema; events, documents, checkpoints, leases, job queues and NOTIFY
 * wake-ups of one are invisible to the others and to the store in `public`; a schema's migration
 * lock does not hold up another schema's start; hostile schema names are refused before anything
 * is written.
 */
import { assert, describe, layer } from "@effect/vitest"
import { DocumentStore, Event, EventStore, JobQueue, StoreError } from "@strata/core"
import { LeaseStore } from "@strata/core/backend"
import { PgDialect, PgSchema, PgStore, PgUrl } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { makeSecondClient, PgTestDatabase } from "./utils.ts"

type Built = Context.Context<PgStore.Services | JobQueue.JobQueue>

/** A full store (and its job queues) in `schema` on its own pool, as a process would open it. */
const open = (schema: string | undefined, options: PgStore.PgStoreOptions = {}) =>
  Effect.gen(function*() {
    const db = yield* PgTestDatabase
    return (yield* Layer.build(
      SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
        Layer.provideMerge(PgStore.layer({ url: db.url, maxConnections: 4, ...options, schema }))
      )
    )) as Built
  })

const inStore = <A, E, R>(context: Built, effect: Effect.Effect<A, E, R>) =>
  Effect.provideContext(effect, context as Context.Context<never>) as Effect.Effect<A, E, Exclude<R, unknown>>

const allEvents = (context: Built) =>
  inStore(
    context,
    Effect.flatMap(EventStore.EventStore, (store) =>
      Stream.runCollect(store.readAll()).pipe(Effect.map((events) => [...events].map((event) => event.stream))))
  )

const Doc = DocumentStore.collection("notes", Schema.Struct({ text: Schema.String }))
const Mail = JobQueue.make("mail", Schema.Struct({ to: Schema.String }))

layer(PgTestDatabase.layer, { timeout: "120 seconds", excludeTestServices: true })("PgSchema", (it) => {
  describe("isolation", () => {
    it.effect("two schemas and public in one database: each store's tables are its own, and none sees another's events, documents, checkpoints, leases or jobs", () =>
      Effect.gen(function*() {
        const a = yield* open("iso_a")
        const b = yield* open("iso_b")
        const p = yield* open(undefined)

        // The same stream name in each store: versions start at 0 in each, positions at 1.
        for (const [store, type] of [[a, "InA"], [b, "InB"], [p, "InPublic"]] as const) {
          const result = yield* inStore(
            store,
            Effect.flatMap(
              EventStore.EventStore,
              (events) => events.append("order-1", [Event.make(type, {}), Event.make(type, {})])
            )
          )
          assert.strictEqual(result.nextExpectedVersion, 1n)
          assert.strictEqual(result.position, 2n)
        }
        yield* inStore(
          a,
          Effect.flatMap(EventStore.EventStore, (events) => events.append("only-a", [Event.make("InA", {})]))
        )
        assert.deepStrictEqual(yield* allEvents(a), ["order-1", "order-1", "only-a"])
        assert.deepStrictEqual(yield* allEvents(b), ["order-1", "order-1"])
        assert.deepStrictEqual(yield* allEvents(p), ["order-1", "order-1"])
        const typesIn = (store: Built) =>
          inStore(
            store,
            Effect.flatMap(EventStore.EventStore, (events) =>
              Stream.runCollect(events.read("order-1")).pipe(Effect.map((read) =>
                [...read].map((e) => e.type)
              )))
          )
        assert.deepStrictEqual(yield* typesIn(b), ["InB", "InB"])
        assert.deepStrictEqual(yield* typesIn(p), ["InPublic", "InPublic"])

        // Documents.
        yield* inStore(a, Effect.flatMap(DocumentStore.DocumentStore, (docs) => docs.put(Doc, "n1", { text: "a" })))
        assert.isTrue(Option.isNone(
          yield* inStore(b, Effect.flatMap(DocumentStore.DocumentStore, (docs) => docs.get(Doc, "n1")))
        ))
        assert.isTrue(Option.isNone(
          yield* inStore(p, Effect.flatMap(DocumentStore.DocumentStore, (docs) => docs.get(Doc, "n1")))
        ))

        // Checkpoints.
        yield* inStore(a, Effect.flatMap(EventStore.EventStore, (events) => events.saveCheckpoint("projector", 3n)))
        for (const other of [b, p]) {
          assert.isTrue(Option.isNone(
            yield* inStore(other, Effect.flatMap(EventStore.EventStore, (events) => events.loadCheckpoint("projector")))
          ))
        }

        // Leases: the same name is free in every other store.
        const held = yield* inStore(
          a,
          Effect.flatMap(
            LeaseStore.LeaseStore,
            (leases) => leases.acquire("consumer:x", "holder-a", Duration.minutes(1))
          )
        )
        assert.isTrue(Option.isSome(held))
        for (const other of [b, p]) {
          const taken = yield* inStore(
            other,
            Effect.flatMap(
              LeaseStore.LeaseStore,
              (leases) => leases.acquire("consumer:x", "holder-other", Duration.minutes(1))
            )
          )
          assert.isTrue(Option.isSome(taken))
        }

        // Job queues: a queue used in one schema is unknown in the others.
        yield* inStore(a, JobQueue.enqueue(Mail, { to: "a@example.com" }))
        const stats = yield* inStore(a, JobQueue.stats("mail"))
        assert.strictEqual(stats.pending, 1)
        for (const other of [b, p]) {
          const exit = yield* Effect.exit(inStore(other, JobQueue.stats("mail")))
          assert.isTrue(Exit.isFailure(exit))
        }

        // Where the tables are: each schema has its own set (and the functions and sequence).
        const sql = yield* makeSecondClient({ maxConnections: 1 })
        const tables = yield* sql<{ schema: string; n: number }>`
          SELECT table_schema AS schema, count(*)::int AS n FROM information_schema.tables
          WHERE table_name IN ('strata_events', 'strata_streams', 'strata_documents', 'strata_checkpoints',
            'strata_leases', 'strata_jobs', 'strata_migrations', 'strata_job_migrations')
          GROUP BY table_schema ORDER BY table_schema`
        assert.deepStrictEqual(tables.map((row) => [row.schema, row.n]), [["iso_a", 8], ["iso_b", 8], ["public", 8]])
        const functions = yield* sql<{ schema: string }>`
          SELECT n.nspname AS schema FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
          WHERE f.proname = 'strata_horizon' ORDER BY 1`
        assert.deepStrictEqual(functions.map((row) => row.schema), ["iso_a", "iso_b", "public"])
      }))

    it.effect("NOTIFY: a commit in one schema is announced on that schema's channel only", () =>
      Effect.gen(function*() {
        const a = yield* open("notify_a", { notifyInterval: "1 millis" })
        yield* open("notify_b")
        const listener = yield* makeSecondClient({ maxConnections: 2 })
        const heard = (channel: string) => Effect.flatMap(listener.listen(channel), Queue.take).pipe(Effect.forkChild)
        const onA = yield* heard(PgSchema.keys("notify_a").channel)
        const onB = yield* heard(PgSchema.keys("notify_b").channel)
        const onPublic = yield* heard(PgSchema.keys(undefined).channel)
        yield* Effect.sleep("200 millis")
        yield* inStore(a, Effect.flatMap(EventStore.EventStore, (events) => events.append("s", [Event.make("E", {})])))
        const notification = yield* Fiber.join(onA).pipe(Effect.timeout("5 seconds"))
        assert.strictEqual(notification.channel, "strata_events_notify_a")
        yield* Effect.sleep("500 millis")
        assert.isUndefined(onB.pollUnsafe())
        assert.isUndefined(onPublic.pollUnsafe())
      }))

    it.effect("wake-ups across processes: a subscriber in another process of the same schema is woken by NOTIFY; one in another schema sees nothing", () =>
      Effect.gen(function*() {
        // An hour's poll: only NOTIFY can wake these subscriptions in time.
        const writer = yield* open("wake_a", { pollInterval: "1 hour" })
        const sameSchema = yield* open("wake_a", { pollInterval: "1 hour" })
        const otherSchema = yield* open("wake_b", { pollInterval: "1 hour" })
        const subscribe = (store: Built) =>
          inStore(
            store,
            Effect.flatMap(EventStore.EventStore, (events) =>
              events.subscribeAll({ from: "end" }).pipe(Stream.take(1), Stream.runCollect))
          ).pipe(Effect.forkChild)
        const same = yield* subscribe(sameSchema)
        const other = yield* subscribe(otherSchema)
        yield* Effect.sleep("300 millis")
        yield* inStore(
          writer,
          Effect.flatMap(EventStore.EventStore, (events) => events.append("w", [Event.make("E", {})]))
        )
        const seen = yield* Fiber.join(same).pipe(Effect.timeout("5 seconds"))
        assert.deepStrictEqual([...seen].map((event) => event.stream), ["w"])
        yield* Effect.sleep("500 millis")
        assert.isUndefined(other.pollUnsafe())
        yield* Fiber.interrupt(other)
      }))
  })

  describe("migrations per schema", () => {
    it.effect("a start in one schema does not wait for another schema's migration lock; a start in the same schema does", () =>
      Effect.gen(function*() {
        // Another session holds lock_a's migration lock, as a process migrating it would.
        const holder = yield* makeSecondClient({ maxConnections: 1 })
        yield* holder`SELECT pg_advisory_lock(${PgSchema.keys("lock_a").migrationLock})`
        const blocked = yield* open("lock_a").pipe(Effect.forkChild)
        const started = Date.now()
        yield* open("lock_b").pipe(Effect.timeout("20 seconds"))
        const otherMillis = Date.now() - started
        yield* Effect.sleep("300 millis")
        assert.isUndefined(blocked.pollUnsafe(), "the start in the locked schema waits for its lock")
        yield* holder`SELECT pg_advisory_unlock(${PgSchema.keys("lock_a").migrationLock})`
        yield* Fiber.join(blocked).pipe(Effect.timeout("20 seconds"))
        console.log(`schema lock_b started in ${otherMillis} ms while lock_a's migration lock was held`)
      }))

    it.effect("first starts of two schemas at once are not serialised (measured), and each schema is migrated once", () =>
      Effect.gen(function*() {
        const time = (effect: Effect.Effect<unknown, unknown, any>) =>
          Effect.gen(function*() {
            const start = Date.now()
            yield* effect
            return Date.now() - start
          })
        const alone = yield* time(open("par_0"))
        const inTurn = yield* time(Effect.andThen(open("par_3"), open("par_4")))
        const together = yield* time(
          Effect.all([open("par_1"), open("par_2"), open("par_1"), open("par_2")], { concurrency: "unbounded" })
        )
        console.log(
          `first start of one schema: ${alone} ms; of two schemas one after the other: ${inTurn} ms; of two schemas, two processes each, at once: ${together} ms`
        )
        const sql = yield* makeSecondClient({ maxConnections: 1 })
        for (const schema of ["par_1", "par_2"]) {
          const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.strata_migrations`
          assert.strictEqual(row.n, PgDialect.dialect.migrations.length)
        }
      }))
  })

  describe("permissions", () => {
    it.effect("a user without CREATE on the database: the first start in a schema fails with StartupFailed saying what to grant", () =>
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        const role = `nocreate_${Math.random().toString(16).slice(2, 10)}`
        const admin = yield* makeSecondClient({ maxConnections: 1 })
        yield* admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`)
        const url = new URL(db.connectionString)
        url.username = role
        url.password = "pw"
        const failure = yield* Effect.flip(
          Layer.build(PgStore.layer({ url: Redacted.make(url.toString()), schema: "denied" }))
        )
        assert.instanceOf(failure, StoreError.StartupFailed)
        assert.include(failure.message, "permission denied")
        assert.include(failure.message, "CREATE on the database")
        const [row] = yield* admin<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'denied'`
        assert.strictEqual(row.n, 0)
        yield* admin.unsafe(`DROP ROLE ${role}`)
      }))
  })

  describe("names", () => {
    const hostile = [
      "Orders",
      "orders; DROP SCHEMA public CASCADE",
      "x\"; DROP TABLE strata_events; --",
      "pg_catalog",
      "pg_orders",
      "information_schema",
      "1orders",
      "",
      "a".repeat(50),
      "orders,public",
      "or ders",
      "ördérs"
    ]

    it("the rule accepts ordinary names and refuses the rest", () => {
      for (const name of ["orders", "t_acme", "t_acme-corp", "_private", "a".repeat(49), "public"]) {
        assert.isUndefined(PgSchema.check(name), name)
      }
      for (const name of hostile) assert.strictEqual(PgSchema.check(name), PgSchema.rule, name)
    })

    it.effect("PgStore.layer refuses a hostile schema with StartupFailed naming the rule, before connecting", () =>
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        for (const name of hostile) {
          const failure = yield* Effect.flip(Layer.build(PgStore.layer({ url: db.url, schema: name })))
          assert.instanceOf(failure, StoreError.StartupFailed, name)
          assert.include(failure.message, "lowercase letters, digits")
        }
        // Nothing was created: only the server's own schemas and public.
        const sql = yield* makeSecondClient({ maxConnections: 1 })
        const schemas = yield* sql<{ nspname: string }>`
          SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`
        assert.isTrue(schemas.every((row) => !row.nspname.includes("orders") && !row.nspname.includes("DROP")))
      }))

    it.effect("?schema= in a URL: valid names become the store's schema, hostile ones fail as a malformed URL", () =>
      Effect.gen(function*() {
        const parsed = yield* PgUrl.parse(Redacted.make("postgres://app@db:5432/app?schema=orders&sslmode=disable"))
        assert.strictEqual(parsed.schema, "orders")
        const none = yield* PgUrl.parse(Redacted.make("postgres://app@db:5432/app"))
        assert.isUndefined(none.schema)
        for (const name of hostile) {
          const error = yield* Effect.flip(
            PgUrl.parse(Redacted.make(`postgres://app:secret@db:5432/app?schema=${encodeURIComponent(name)}`))
          )
          const text = error.message
          assert.include(text, "schema parameter is refused")
          assert.notInclude(text, "secret")
        }
        // And through the URL to a store: its events land in the schema.
        const db = yield* PgTestDatabase
        const url = new URL(db.connectionString)
        url.searchParams.set("schema", "from_url")
        const context = yield* Layer.build(PgUrl.layer(Redacted.make(url.toString())))
        yield* Effect.provideContext(
          Effect.flatMap(EventStore.EventStore, (events) => events.append("u", [Event.make("E", {})])),
          context as Context.Context<EventStore.EventStore>
        )
        const sql = yield* makeSecondClient({ maxConnections: 1 })
        const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM from_url.strata_events`
        assert.strictEqual(row.n, 1)
      }))
  })
})
