/**
 * Progress of long work (export, import, copy) on stderr: a bar with events done, rate and ETA
 * (`cli-progress`) when stderr is a terminal, plain lines every few seconds otherwise (CI, pipes,
 * files), so logs stay readable.
 *
 * @since 0.1.0
 */
import { SingleBar } from "cli-progress"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Io } from "./Io.ts"
import * as Output from "./Output.ts"

/**
 * A progress display.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reporter {
  /** Events done so far, and the total when it is known (or estimated). */
  readonly update: (done: number, total?: number | undefined) => Effect.Effect<void>
  /** Stops drawing and returns the elapsed seconds. */
  readonly stop: Effect.Effect<number>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ReporterOptions {
  /** What is being done: "copied", "exported", "imported". */
  readonly verb: string
  /** Draw a bar (default: when stderr is a TTY). */
  readonly tty?: boolean | undefined
  /** Seconds between plain lines (default 2). */
  readonly interval?: number | undefined
  /** Where plain lines go (default the run's stderr). */
  readonly write?: ((line: string) => void) | undefined
}

/**
 * A line describing progress: `copied 12,000 / 100,000 events (5,230/s, ETA 15 s)`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const line = (verb: string, done: number, total: number | undefined, elapsed: number): string => {
  const rate = elapsed > 0 ? done / elapsed : 0
  const of = total === undefined ? "" : ` / ${Output.count(total)}`
  const eta = total !== undefined && rate > 0 && total > done ? `, ETA ${Output.seconds((total - done) / rate)}` : ""
  return `${verb} ${Output.count(done)}${of} events (${Output.count(Math.round(rate))}/s${eta})`
}

/**
 * Starts a progress display. A bar still drawn when the scope closes (the command failed or was
 * interrupted) is stopped there: the cursor comes back, and what is printed next (`strata:
 * interrupted`) starts a new line instead of landing on the bar's.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: ReporterOptions): Effect.Effect<Reporter, never, Scope.Scope> =>
  Io.use(({ stderr }) => {
    const started = performance.now()
    const elapsed = () => (performance.now() - started) / 1000
    const write = options.write ?? ((text: string) => void stderr.write(`${text}\n`))
    const interval = (options.interval ?? 2) * 1000
    if (options.tty ?? stderr.isTTY === true) {
      const bar = new SingleBar({
        stream: stderr,
        format: `${options.verb} [{bar}] {percentage}% | {value}/{total} events | {rate}/s | ETA {eta_formatted}`,
        etaBuffer: 50,
        hideCursor: true,
        clearOnComplete: false
      })
      let started_ = false
      // cli-progress's stop draws the last frame, shows the cursor and ends the line; once only.
      const stop = () => {
        if (started_) bar.stop()
        started_ = false
      }
      return Effect.as(Effect.addFinalizer(() => Effect.sync(stop)), {
        update: (done, total) =>
          Effect.sync(() => {
            const rate = Output.count(Math.round(done / Math.max(elapsed(), 0.001)))
            if (!started_) {
              bar.start(total ?? done, done, { rate })
              started_ = true
            } else {
              if (total !== undefined) bar.setTotal(total)
              else if (done > bar.getTotal()) bar.setTotal(done)
              bar.update(done, { rate })
            }
          }),
        stop: Effect.sync(() => {
          stop()
          return elapsed()
        })
      })
    }
    let last = Number.NEGATIVE_INFINITY
    let latest: readonly [number, number | undefined] = [0, undefined]
    return Effect.succeed<Reporter>({
      update: (done, total) =>
        Effect.sync(() => {
          latest = [done, total]
          const now = performance.now()
          if (now - last >= interval) {
            last = now
            write(line(options.verb, done, total, elapsed()))
          }
        }),
      stop: Effect.sync(() => {
        const seconds = elapsed()
        if (latest[0] > 0) write(line(options.verb, latest[0], latest[1], seconds))
        return seconds
      })
    })
  })
