/**
 * The SQL `Lease.LeaseStore`: one row per lease name in `strata_leases` (name, holder, fencing
 * token, expiry in epoch milliseconds), shared by PostgreSQL, SQLite and D1.
 *
 * Every operation is one statement. `acquire` is an upsert whose `WHERE` only lets it through when
 * the lease is free, expired or already ours, and which bumps the token on a change of hands; the
 * row stays (released leases keep `expires_at = 0`), so tokens only grow. `fence` is an `UPDATE ... RETURNING` of the row with
 * the caller's token: inside the checkpoint's transaction it holds the row lock until commit
 * (PostgreSQL), or runs under the writer lock the transaction already holds (SQLite), so a
 * takeover's `acquire` waits for the commit and the new holder reads the committed checkpoint.
 * Only `prune` deletes rows, and only for names that are never taken again (see `Lease.prune`).
 *
 * PostgreSQL could hold the lease as a session advisory lock instead. Measured (`bench/leases.ts`,
 * numbers in the `@strata/postgres` README), the advisory lock is cheaper per lease operation but
 * costs the same on the checkpoint commit, and it has no fencing token, needs a pinned session per
 * lease, and is released only when the server notices a dead connection: PostgreSQL uses the row
 * lease too.
 *
 * @since 0.1.0
 */
import { Lease, StoreError } from "@strata/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Rows from "./Rows.ts"
import * as SqlErrorText from "./SqlErrorText.ts"

const LeaseRow = Schema.Struct({
  name: Schema.String,
  holder: Schema.String,
  token: Rows.Int64,
  expires_at: Rows.Int64
})
const TokenRow = Schema.Struct({ token: Rows.Int64, expires_at: Rows.Int64 })
const decodeLeases = Rows.decodeAll(LeaseRow)
const decodeToken = Rows.decodeFirst(TokenRow)
const decodeNames = Rows.decodeAll(Schema.Struct({ name: Schema.String }))

/**
 * Builds the lease store over the SqlClient in context; `isTransient` says which database errors
 * are `StoreUnavailable` (the dialect's own classification), the rest are defects.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: {
  readonly isTransient: (error: SqlError) => boolean
}): Effect.Effect<Lease.LeaseStoreShape, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // An unmigrated database is typed here too (SqlErrorText.toStoreError), not a defect.
    const unavailable = (operation: string) => SqlErrorText.toStoreError(options.isTransient, operation)
    const toLease = (name: string, holder: string) => (row: typeof TokenRow.Type | undefined) =>
      row === undefined
        ? Option.none()
        : Option.some<Lease.Lease>({ name, holder, token: row.token, expiresAt: Number(row.expires_at) })

    return Lease.LeaseStore.of({
      acquire: Effect.fn("Lease.acquire")(function*(name, holder, ttl) {
        yield* Lease.validate("Lease.acquire", name, ttl)
        const now = BigInt(yield* Clock.currentTimeMillis)
        const expiresAt = now + BigInt(Duration.toMillis(ttl))
        return yield* decodeToken(sql`INSERT INTO strata_leases (name, holder, token, expires_at)
VALUES (${name}, ${holder}, 1, ${expiresAt})
ON CONFLICT (name) DO UPDATE SET
  token = CASE WHEN strata_leases.expires_at > ${now} THEN strata_leases.token ELSE strata_leases.token + 1 END,
  holder = excluded.holder,
  expires_at = excluded.expires_at
WHERE strata_leases.holder = excluded.holder OR strata_leases.expires_at <= ${now}
RETURNING token, expires_at`).pipe(
          Effect.map(toLease(name, holder)),
          Effect.catchTag("SqlError", unavailable("Lease.acquire"))
        )
      }),
      renew: Effect.fn("Lease.renew")(function*(lease, ttl) {
        yield* Lease.validate("Lease.renew", lease.name, ttl)
        const expiresAt = BigInt(yield* Clock.currentTimeMillis) + BigInt(Duration.toMillis(ttl))
        return yield* decodeToken(sql`UPDATE strata_leases SET expires_at = ${expiresAt}
WHERE name = ${lease.name} AND holder = ${lease.holder} AND token = ${lease.token} AND expires_at > 0
RETURNING token, expires_at`).pipe(
          Effect.map(toLease(lease.name, lease.holder)),
          Effect.catchTag("SqlError", unavailable("Lease.renew"))
        )
      }),
      release: Effect.fn("Lease.release")(function*(lease) {
        yield* Lease.validate("Lease.release", lease.name)
        yield* sql`UPDATE strata_leases SET expires_at = 0
WHERE name = ${lease.name} AND holder = ${lease.holder} AND token = ${lease.token}`.pipe(
          Effect.catchTag("SqlError", unavailable("Lease.release"))
        )
      }),
      fence: Effect.fn("Lease.fence")(function*(lease) {
        yield* Lease.validate("Lease.fence", lease.name)
        const row = yield* decodeToken(sql`UPDATE strata_leases SET token = token
WHERE name = ${lease.name} AND holder = ${lease.holder} AND token = ${lease.token} AND expires_at > 0
RETURNING token, expires_at`).pipe(Effect.catchTag("SqlError", unavailable("Lease.fence")))
        if (row === undefined) {
          return yield* new StoreError.LeaseLost({ name: lease.name, holder: lease.holder, token: lease.token })
        }
      }),
      list: Effect.fn("Lease.list")(function*(prefix) {
        const now = BigInt(yield* Clock.currentTimeMillis)
        // Filtered by prefix here, not with LIKE: no escaping, and no collation surprises.
        const rows = yield* decodeLeases(
          sql`SELECT name, holder, token, expires_at FROM strata_leases WHERE expires_at > ${now}`
        ).pipe(Effect.catchTag("SqlError", unavailable("Lease.list")))
        return rows.filter((row) => row.name.startsWith(prefix)).map((row): Lease.Lease => ({
          name: row.name,
          holder: row.holder,
          token: row.token,
          expiresAt: Number(row.expires_at)
        }))
      }),
      prune: Effect.fn("Lease.prune")(function*(prefix, olderThan) {
        const before = BigInt(yield* Clock.currentTimeMillis) - BigInt(Duration.toMillis(olderThan))
        // The candidates by prefix here (as `list`), then a DELETE that checks the expiry again, so
        // a lease taken again in between is kept. In chunks: D1 binds at most 100 parameters.
        const names = (yield* decodeNames(sql`SELECT name FROM strata_leases WHERE expires_at < ${before}`).pipe(
          Effect.catchTag("SqlError", unavailable("Lease.prune"))
        )).map((row) => row.name).filter((name) => name.startsWith(prefix))
        let pruned = 0
        for (let i = 0; i < names.length; i += 90) {
          const deleted = yield* sql<{ name: string }>`DELETE FROM strata_leases
WHERE ${sql.in("name", names.slice(i, i + 90))} AND expires_at < ${before} RETURNING name`.pipe(
            Effect.catchTag("SqlError", unavailable("Lease.prune"))
          )
          pruned += deleted.length
        }
        return pruned
      })
    })
  })
