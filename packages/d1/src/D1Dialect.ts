/**
 * The D1 dialect: the SQLite dialect, plus atomic batches in place of transactions.
 *
 * D1 has no interactive transactions, but a `batch()` is atomic: if any statement fails, none of
 * them is applied. So every multi-statement write is one batch whose own statements enforce its
 * checks: a guard row `strata_guard (ok CHECK (ok = 1))` is inserted with 0 when a stream is
 * tombstoned or not at the expected version (or a document not at its expected version), the
 * CHECK aborts the batch, and the store re-reads to report exactly which check failed. Versions
 * are computed inside the batch from the stream row, and UNIQUE (stream, version) backs them up.
 *
 * @since 0.1.0
 */
import type { D1Client } from "@effect/sql-d1/D1Client"
import { Inputs } from "@strata/core/backend"
import { DcbSql, type Dialect, Migrator, SqlErrorText, SqliteDialect, StreamGuard } from "@strata/sql"
import type * as DialectTypes from "@strata/sql/Dialect"
import * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import type * as Statement from "effect/sql/Statement"

// The guard row of a document write's expectation: fails the batch unless the document is missing
// ("missing") or at `expected` (a version); "any" needs none.
const documentGuard = (
  client: D1Client,
  collection: string,
  id: string,
  expected: "any" | "missing" | bigint
): Statement.Statement<any> | undefined =>
  expected === "any"
    ? undefined
    : expected === "missing"
    ? client`INSERT INTO strata_guard (ok) SELECT CASE WHEN EXISTS (
      SELECT 1 FROM strata_documents WHERE collection = ${collection} AND id = ${id}) THEN 0 ELSE 1 END`
    : client`INSERT INTO strata_guard (ok) SELECT CASE WHEN EXISTS (
      SELECT 1 FROM strata_documents WHERE collection = ${collection} AND id = ${id} AND version = ${expected})
      THEN 1 ELSE 0 END`

// A binary event's bytes for D1's binding, which stores an ArrayBuffer as a BLOB (exactly these bytes).
const blob = (bytes: Uint8Array): ArrayBuffer =>
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer

const guardFailed = (error: SqlError) => /CHECK constraint failed/.test(SqlErrorText.errorText(error))

/**
 * The D1 dialect over a D1 client (which supplies the atomic batch).
 *
 * @category dialects
 * @since 0.1.0
 */
export const make = (client: D1Client): Dialect.Dialect => ({
  ...SqliteDialect.dialect,
  // D1's results are JSON, where a BLOB is an array of numbers (3.6 characters a byte on random
  // bytes, each parsed into a number): hex text is 2 a byte, decoded by Rows.bytesOf.
  eventColumns:
    "position, event_id, stream, version, type, data, metadata, created_at, tags, content_type, hex(data_bytes)",
  // D1 binds at most 100 parameters per statement.
  maxParams: 100,
  // D1 hands integers to JavaScript as numbers: exact only up to 2^53.
  maxInteger: BigInt(Number.MAX_SAFE_INTEGER),
  // D1 reports every database error as an UnknownError: the message says which constraint failed.
  isUniqueViolation: (error) => /UNIQUE constraint failed/.test(SqlErrorText.errorText(error)),
  isTransient: (error) =>
    error.isRetryable ||
    /D1_ERROR.*(overloaded|reset|timeout)|Network connection lost/i.test(SqlErrorText.errorText(error)),
  write: {
    _tag: "Batched",
    appendBatch: (_sql, input) =>
      Effect.gen(function*() {
        const statements: Array<Statement.Statement<any>> = []
        const reads: Array<{ index: number; stream: string }> = []
        // DCB conditions first: they judge the events stored before this batch.
        for (const condition of input.conditions ?? []) {
          const conflict = DcbSql.conflictExists(client, condition)
          if (conflict !== undefined) {
            statements.push(client`INSERT INTO strata_guard (ok) SELECT CASE WHEN ${conflict} THEN 0 ELSE 1 END`)
          }
        }
        for (const append of input.appends) {
          const { events, stream } = append
          const hash = Inputs.streamHash(stream)
          statements.push(
            client`INSERT INTO strata_streams (stream) VALUES (${stream}) ON CONFLICT (stream) DO NOTHING`
          )
          statements.push(
            client`INSERT INTO strata_guard (ok) SELECT CASE WHEN NOT tombstoned AND ${
              StreamGuard.accepts(client, append.expected)
            } THEN 1 ELSE 0 END FROM strata_streams WHERE stream = ${stream}`
          )
          events.forEach((event, i) => {
            const tags = event.tags === undefined ? null : JSON.stringify(event.tags)
            statements.push(
              event.bytes === undefined
                ? client`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash, tags)
              SELECT ${event.id}, stream, last_version + ${
                  i + 1
                }, ${append.category}, ${event.type}, ${event.data}, ${event.metadata}, ${append.createdAt}, ${hash}, ${tags}
              FROM strata_streams WHERE stream = ${stream}`
                // A binary event's bytes bind as an ArrayBuffer: D1 stores that as a BLOB.
                : client`INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at, stream_hash, tags, content_type, data_bytes)
              SELECT ${event.id}, stream, last_version + ${
                  i + 1
                }, ${append.category}, ${event.type}, ${event.data}, ${event.metadata}, ${append.createdAt}, ${hash}, ${tags}, ${event
                  .contentType!}, ${blob(event.bytes)}
              FROM strata_streams WHERE stream = ${stream}`
            )
            if (tags !== null) {
              statements.push(
                client`INSERT INTO strata_event_tags (tag, position, type)
                SELECT value, (SELECT position FROM strata_events WHERE event_id = ${event.id}), ${event.type}
                FROM json_each(${tags})`
              )
            }
          })
          statements.push(
            client`UPDATE strata_streams SET last_version = last_version + ${events.length}, deleted = 0 WHERE stream = ${stream}`
          )
        }
        const document = input.document
        if (document !== undefined) {
          const { collection, expected, id, json } = document
          const guard = documentGuard(client, collection, id, expected)
          if (guard !== undefined) statements.push(guard)
          statements.push(
            client`INSERT INTO strata_documents (collection, id, version, data) VALUES (${collection}, ${id}, 1, ${json})
          ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data`
          )
        }
        // Jobs the append carries: written only if every guard held (the batch is atomic); a stored
        // id (a replay) or a pending job with the key writes nothing, as enqueue.
        for (const job of input.jobs ?? []) {
          statements.push(client`INSERT INTO strata_jobs
(id, queue, job_key, payload, priority, state, run_at, attempts, created_at, updated_at, trace_id, span_id)
VALUES (${job.id}, ${job.queue}, ${
            job.key ?? null
          }, ${job.payload}, ${job.priority}, 'pending', ${job.runAt}, 0, ${job.now}, ${job.now}, ${
            job.traceId ?? null
          }, ${job.spanId ?? null})
ON CONFLICT DO NOTHING`)
        }
        statements.push(client`DELETE FROM strata_guard`)
        for (const append of input.appends) {
          reads.push({ index: statements.length, stream: append.stream })
          statements.push(
            client`SELECT version, position FROM strata_events WHERE event_id = ${
              append.events[append.events.length - 1].id
            }`
          )
        }
        const documentRead = statements.length
        if (document !== undefined) {
          statements.push(
            client`SELECT version FROM strata_documents WHERE collection = ${document.collection} AND id = ${document.id}`
          )
        }
        const outcome = yield* client.batch(statements).pipe(
          Effect.map((results) => ({ results })),
          Effect.catchIf((error: SqlError) => guardFailed(error), () => Effect.succeed(undefined))
        )
        if (outcome === undefined) return { _tag: "GuardFailed" } as const
        const rows = outcome.results as ReadonlyArray<ReadonlyArray<Record<string, unknown>>>
        return {
          _tag: "Ok",
          results: reads.map(({ index, stream }) => ({
            stream,
            lastVersion: BigInt(rows[index][0].version as number),
            position: BigInt(rows[index][0].position as number)
          })),
          documentVersion: document === undefined ? undefined : BigInt(rows[documentRead][0].version as number)
        } satisfies DialectTypes.AppendBatchOutcome
      }),
    // Guards first (they judge the documents as they were), then the writes, then the versions.
    writeDocuments: (_sql, { collection, writes }) =>
      Effect.gen(function*() {
        const statements: Array<Statement.Statement<any>> = []
        for (const { expected, id } of writes) {
          const guard = documentGuard(client, collection, id, expected)
          if (guard !== undefined) statements.push(guard)
        }
        for (const { id, json } of writes) {
          statements.push(
            json === undefined
              ? client`DELETE FROM strata_documents WHERE collection = ${collection} AND id = ${id}`
              : client`INSERT INTO strata_documents (collection, id, version, data) VALUES (${collection}, ${id}, 1, ${json})
          ON CONFLICT (collection, id) DO UPDATE SET version = strata_documents.version + 1, data = excluded.data`
          )
        }
        statements.push(client`DELETE FROM strata_guard`)
        const reads = statements.length
        const written = writes.filter((w) => w.json !== undefined).map((w) => w.id)
        // 98 ids a read: D1 binds at most 100 parameters.
        for (let i = 0; i < written.length; i += 98) {
          statements.push(
            client`SELECT id, version FROM strata_documents WHERE collection = ${collection} AND ${
              client.in("id", written.slice(i, i + 98))
            }`
          )
        }
        const results = yield* client.batch(statements).pipe(
          Effect.map((results) => results as ReadonlyArray<ReadonlyArray<Record<string, unknown>>>),
          Effect.catchIf((error: SqlError) => guardFailed(error), () => Effect.succeed(undefined))
        )
        if (results === undefined) return { _tag: "GuardFailed" } as const
        const versions = new Map<string, bigint>()
        for (const rows of results.slice(reads)) {
          for (const row of rows) versions.set(row.id as string, BigInt(row.version as number))
        }
        return {
          _tag: "Ok",
          versions: writes.map((w) => w.json === undefined ? undefined : versions.get(w.id))
        } satisfies DialectTypes.DocumentsBatchOutcome
      }),
    // The guard row makes the lease check abort the whole batch, checkpoint included, so a holder
    // that stalled past its TTL never moves a checkpoint after another took over.
    saveCheckpoint: (_sql, { lease, name, position }) =>
      client.batch([
        ...(lease === undefined ? [] : [
          client`INSERT INTO strata_guard (ok) SELECT CASE WHEN EXISTS (
            SELECT 1 FROM strata_leases WHERE name = ${lease.name} AND holder = ${lease.holder}
            AND token = ${lease.token} AND expires_at > 0) THEN 1 ELSE 0 END`
        ]),
        client`INSERT INTO strata_checkpoints (name, position) VALUES (${name}, ${position})
          ON CONFLICT (name) DO UPDATE SET position = excluded.position`,
        ...(lease === undefined ? [] : [client`DELETE FROM strata_guard`])
      ]).pipe(
        Effect.as("Saved" as const),
        Effect.catchIf((error: SqlError) => guardFailed(error), () => Effect.succeed("LeaseLost" as const))
      ),
    applyMigration: (sql, migration) =>
      Effect.gen(function*() {
        const isApplied = Effect.map(
          sql<{ id: unknown }>`SELECT id FROM strata_migrations WHERE id = ${migration.id}`,
          (rows) => rows.length > 0
        )
        yield* sql.unsafe(Migrator.ledger)
        if (yield* isApplied) return false
        const statements = [
          ...migration.statements.map((statement) => client.unsafe(statement)),
          client`INSERT INTO strata_migrations (id, name, applied_at) VALUES (${migration.id}, ${migration.name}, ${
            new Date().toISOString()
          })`
        ]
        // Another process may apply it between our check and our batch: then our batch fails as a
        // whole (its CREATE TABLE or ledger row conflicts) and the ledger says it is done.
        return yield* client.batch(statements).pipe(
          Effect.as(true),
          Effect.catchTag(
            "SqlError",
            (error) => Effect.flatMap(isApplied, (applied) => applied ? Effect.succeed(false) : Effect.fail(error))
          )
        )
      })
  }
})
