// The in-memory backend's EventStore over the shared state. Every write runs as one synchronous
// step (JavaScript runs one fiber at a time between suspensions), so checks and writes are atomic
// without locks.
//
// This module assembles the store from its concepts, each over one small context (`context.ts`):
// the append pipeline (`append.ts`), reads and subscriptions (`reads.ts`), the stream lifecycle
// (`lifecycle.ts`), snapshots and checkpoints (`snapshots.ts`).
import { EventStore } from "../../EventStore.ts"
import * as Append from "./append.ts"
import * as Context from "./context.ts"
import * as Lifecycle from "./lifecycle.ts"
import * as Reads from "./reads.ts"
import * as Snapshots from "./snapshots.ts"
import type { State } from "./state.ts"

export type { AfterWrite } from "./append.ts"

export const make = (
  state: State,
  options: { readonly maxEventBytes: number; readonly pageSize: number },
  hooks: { afterWrite: Append.AfterWrite | undefined }
) => {
  const ctx = Context.make(state, options)
  const { append, appendMany, commit } = Append.make(ctx, hooks)
  const eventStore = EventStore.of({
    backend: "memory",
    append,
    appendMany,
    ...Reads.make(ctx),
    ...Lifecycle.make(ctx),
    ...Snapshots.make(ctx)
  })
  return { eventStore, commit, transaction: ctx.transaction }
}
