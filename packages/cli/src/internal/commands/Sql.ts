/**
 * `strata sql --dialect postgres|sqlite`: prints the migration SQL, for a DBA to review or apply;
 * needs no connection.
 *
 * @since 0.1.0
 */
import { PgMigrations } from "@strata/postgres"
import { Migrator, SqliteMigrations } from "@strata/sql"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Print from "../Print.ts"

/**
 * @category commands
 * @since 0.1.0
 */
export const command = Command.make("sql", {
  dialect: Flag.Literals("dialect", ["postgres", "sqlite"] as const).pipe(
    Flag.withDescription("postgres, or sqlite (also for D1: wrangler d1 migrations apply)")
  )
}, ({ dialect }) =>
  Effect.forEach(
    dialect === "postgres" ? PgMigrations.migrations : SqliteMigrations.migrations,
    (migration) => Print.stdout(`${Migrator.render(migration)}\n`),
    { discard: true }
  )).pipe(Command.withDescription("Print the migration SQL of a dialect (no connection)"))
