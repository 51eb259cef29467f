/**
 * A store in a PostgreSQL schema of its own (`PgStore.layer({ url, schema: "orders" })`, or
 * `?schema=orders` in a store URL): every connection of the store's pool starts with `search_path`
 * set to the schema alone (a startup parameter, so no statement names a schema), the first migration
 * run creates it, and every key that is database-wide today is derived from its name: the migration
 * lock, the class of the DCB tag locks and the NOTIFY channel ({@link keys}). The read horizon's
 * announcements already carry a lock space taken from the events table's oid, so they follow the
 * schema without a change. Two stores in two schemas of one database share no table, function,
 * sequence, lock or channel, and their migrations run side by side.
 *
 * Without a schema (or with `public`), a store keeps today's keys and the server's default
 * `search_path`, so an existing database works unchanged.
 *
 * @since 0.1.0
 */

/**
 * What a schema name must be, as errors state it. Lowercase and at most 49 characters so the NOTIFY
 * channel `strata_events_<schema>` fits PostgreSQL's 63-byte identifiers; never `pg_*` or
 * `information_schema` (the server's own).
 *
 * @category constants
 * @since 0.1.0
 */
export const rule =
  "a schema name is 1 to 49 characters: lowercase letters, digits, _ and -, starting with a letter or _, and neither pg_* nor information_schema"

const pattern = /^[a-z_][a-z0-9_-]{0,48}$/

/**
 * Whether `name` may name a store's schema: `undefined` when it may, otherwise {@link rule}.
 *
 * @example
 * ```ts
 * import { PgSchema } from "@strata/postgres"
 *
 * PgSchema.check("orders") // undefined
 * PgSchema.check("orders; DROP TABLE x") // the rule
 * ```
 *
 * @category validation
 * @since 0.1.0
 */
export const check = (name: string): string | undefined =>
  pattern.test(name) && !name.startsWith("pg_") && name !== "information_schema" ? undefined : rule

/**
 * The schema's name as a quoted identifier. Only for names {@link check} accepts (which hold no `"`).
 *
 * @category rendering
 * @since 0.1.0
 */
export const quote = (schema: string): string => `"${schema}"`

/**
 * The database-wide names and lock keys of one store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Keys {
  /** The schema, or `undefined` for the server's default `search_path` (today's stores). */
  readonly schema: string | undefined
  /** The one-key advisory lock that serialises this schema's migration runs. */
  readonly migrationLock: number
  /** The first key of the two-key advisory locks DCB appends take per tag. */
  readonly dcbLockClass: number
  /** The NOTIFY channel of commits. */
  readonly channel: string
}

// FNV-1a over the name's characters (ASCII, by `rule`): 32 bits, unsigned.
const fnv = (text: string): number => {
  let hash = 2166136261
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0
  return hash
}

const legacy: Keys = {
  schema: undefined,
  migrationLock: 0x737472617462,
  dcbLockClass: 0x44434221,
  channel: "strata_events"
}

/**
 * The keys of a store in `schema` (`undefined` or `public`: today's constants). A named schema's
 * migration lock is `0x5354 << 32 | fnv32(schema)`: below 2^48 like the default one, so it never
 * meets an announcement (whose lock space, >= 1, sits above bit 48), and apart from it by its top
 * bits. Its DCB class is `fnv32("dcb:" + schema)` as a signed int4 (a two-key lock: a space of its own).
 * Distinct schemas can share a hash (1 in 2^32): the only effect is that their migrations, or their
 * tagged appends, wait for each other.
 *
 * @category constructors
 * @since 0.1.0
 */
export const keys = (schema: string | undefined): Keys => {
  if (schema === undefined || schema === "public") return legacy
  const dcb = fnv(`dcb:${schema}`) | 0
  return {
    schema,
    migrationLock: 0x5354 * 2 ** 32 + fnv(schema),
    dcbLockClass: dcb === legacy.dcbLockClass ? dcb ^ 1 : dcb,
    channel: `strata_events_${schema}`
  }
}
