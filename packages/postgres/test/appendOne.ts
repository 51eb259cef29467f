// Shared by the tests that drive PostgreSQL's one-statement append directly (PgDialect.test.ts,
// AppendOne.test.ts): the dialect's `appendOne`, an input planned as the store plans it, and an append
// by another writer.
import { Event, EventStore, type ExpectedVersion } from "@strata/core"
import { AppendPlan } from "@strata/core/backend"
import { PgDialect } from "@strata/postgres"
import * as Effect from "effect/Effect"

/** The input of `appendOne` for `count` new events, planned as the store plans an append. */
export const plan = (stream: string, expected: ExpectedVersion.ExpectedVersion, count = 1) =>
  Effect.map(
    AppendPlan.one({ stream, events: Array.from({ length: count }, () => Event.make("Mine", {})), expected }, 1 << 20),
    (planned) => ({
      stream,
      category: stream.split("-")[0],
      expected,
      events: planned.prepared,
      createdAt: new Date()
    })
  )

/** PostgreSQL's one-statement append (its dialect writes in transactions, so it is always there). */
export const appendOne = PgDialect.dialect.write._tag === "Transactional"
  ? PgDialect.dialect.write.appendOne!
  : undefined!

/** An append by another writer, through the store. */
export const other = (stream: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append(stream, [Event.make("Other", {})]))
