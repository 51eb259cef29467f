// The names of the spans an effect opens, in order: how a test tells which path a store took (one
// statement, the synchronous write, a transaction) without timing it. And the spans themselves, for
// tests of their attributes, parents and links.
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

/** Runs `effect` under a tracer that records the name of every span it opens, and returns them. */
export const spanNames = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Array<string>, E, R> =>
  Effect.gen(function*() {
    const names: Array<string> = []
    const tracer = Tracer.make({
      span(options) {
        names.push(options.name)
        return new Tracer.NativeSpan(options)
      }
    })
    yield* Effect.withTracer(effect, tracer)
    return names
  })

/**
 * A tracer that keeps every span it starts, in order of start: run an effect under `tracer`
 * (`Effect.withTracer`), then read `started` (ended or not: see each span's `status`).
 */
export const recordingTracer = (): { readonly tracer: Tracer.Tracer; readonly started: Array<Tracer.NativeSpan> } => {
  const started: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      started.push(span)
      return span
    }
  })
  return { tracer, started }
}
