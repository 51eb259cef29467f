// The in-memory StoreAdmin: no schema, checkpoints and counts straight from the shared state.
import * as Effect from "effect/Effect"
import * as Inputs from "../../backend/Inputs.ts"
import type { StoreAdminShape } from "../../StoreAdmin.ts"
import { sortCounts } from "../../StoreAdmin.ts"
import * as StreamName from "../../StreamName.ts"
import type { State } from "./state.ts"

// Events after `position`: the log is in position order, so a binary search finds the first one.
const after = (state: State, position: bigint): number => {
  let low = 0
  let high = state.log.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (state.log[mid].position <= position) low = mid + 1
    else high = mid
  }
  return state.log.length - low
}

export const make = (state: State): StoreAdminShape => ({
  backend: "memory",
  migrationStatus: Effect.succeed({ applied: [], pending: [] }),
  migrate: Effect.succeed([]),
  checkpoints: Effect.sync(() =>
    Array.from(state.checkpoints, ([name, position]) => ({ name, position, lag: after(state, position) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  ),
  deleteCheckpoint: (name) =>
    Effect.map(Inputs.checkpointName("deleteCheckpoint", name), (name) => state.checkpoints.delete(name)),
  stats: Effect.sync(() => {
    const byType = new Map<string, number>()
    const byCategory = new Map<string, number>()
    for (const event of state.log) {
      byType.set(event.type, (byType.get(event.type) ?? 0) + 1)
      const category = StreamName.category(event.stream)
      byCategory.set(category, (byCategory.get(category) ?? 0) + 1)
    }
    return {
      streams: state.streams.size,
      events: state.log.length,
      head: state.log.at(-1)?.position,
      byType: sortCounts(byType),
      byCategory: sortCounts(byCategory),
      databaseBytes: undefined
    }
  })
})
