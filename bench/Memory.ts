/**
 * What the memory benches share (bench/Projections.ts's rebuild1M, bench/rebuildMemory.ts,
 * bench/subscriptionHeap.ts, bench/callbackSubscriptions.ts): a full garbage collection, and the heap
 * and RSS peaks sampled while a phase runs.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

/** Collects garbage three times (what a weak reference or a finalizer frees needs a second pass). */
export const collectGarbage = (): void => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run with --expose-gc")
  for (let i = 0; i < 3; i++) collect()
}

/**
 * Samples `process.memoryUsage()` every 100 ms from now (after a full collection) until `stop`:
 * the peaks include garbage V8 has not collected yet.
 */
export const samplePeaks = Effect.gen(function*() {
  collectGarbage()
  const base = process.memoryUsage()
  const peaks = { heap: base.heapUsed, rss: base.rss }
  const sampler = yield* Effect.forkChild(Effect.forever(Effect.andThen(
    Effect.sync(() => {
      const usage = process.memoryUsage()
      peaks.heap = Math.max(peaks.heap, usage.heapUsed)
      peaks.rss = Math.max(peaks.rss, usage.rss)
    }),
    Effect.sleep("100 millis")
  )))
  return { base, peaks, stop: Fiber.interrupt(sampler) }
})
