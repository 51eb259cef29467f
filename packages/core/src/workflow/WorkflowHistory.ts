/**
 * The history of one workflow execution as events in its own stream, and how it folds.
 *
 * Stream `workflow-<workflow>-<executionId>`, events in order:
 *
 * - `WorkflowStarted { workflow, payload, parent? }`: the first event (appended with `NoStream`);
 *   `payload` encoded with the workflow's payload schema as JSON.
 * - `ActivityCompleted { name, attempt, result }`: an activity's `Workflow.Result` (its exit values
 *   already encoded by the activity's schemas), as JSON.
 * - `DeferredCompleted { name, exit }`: a `DurableDeferred` (or a `DurableClock`'s deferred) done.
 * - `ClockScheduled { name, wakeAt }`: when a durable clock first asked to sleep; a replay keeps it.
 * - `InterruptRequested {}`: `interrupt` was called.
 * - `WorkflowCompleted { result }`: the final `Workflow.Complete`, encoded with the workflow's schemas.
 *
 * Folding keeps the FIRST record of each activity, deferred and clock: a run that lost its lease
 * and appended late cannot change an outcome the history already holds.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { RecordedEvent } from "../Event.ts"

/**
 * The stream that holds an execution's history.
 *
 * @category constructors
 * @since 0.1.0
 */
export const streamName = (workflow: string, executionId: string): string => `workflow-${workflow}-${executionId}`

/**
 * Where a child execution reports back when it completes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParentRef {
  readonly workflow: string
  readonly executionId: string
}

/**
 * An execution's history, folded.
 *
 * @category models
 * @since 0.1.0
 */
export interface History {
  /** The stream's last version, or -1 when it does not exist. */
  version: bigint
  started: { readonly payload: unknown; readonly parent: ParentRef | undefined } | undefined
  readonly activities: Map<string, unknown>
  readonly deferreds: Map<string, unknown>
  readonly clocks: Map<string, number>
  interrupted: boolean
  completed: unknown
}

/**
 * A history with no events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty = (): History => ({
  version: -1n,
  started: undefined,
  activities: new Map(),
  deferreds: new Map(),
  clocks: new Map(),
  interrupted: false,
  completed: undefined
})

/**
 * The key of an activity's record: its name and attempt.
 *
 * @category constructors
 * @since 0.1.0
 */
export const activityKey = (name: string, attempt: number): string => `${attempt}/${name}`

const record = (data: unknown): Record<string, unknown> =>
  typeof data === "object" && data !== null ? data as Record<string, unknown> : {}

/**
 * Folds one recorded event into a history (first record wins; unknown types are skipped so a
 * newer writer's events do not stop an older reader).
 *
 * @category combinators
 * @since 0.1.0
 */
export const apply = (history: History, event: RecordedEvent): History => {
  const data = record(event.data)
  history.version = event.version
  switch (event.type) {
    case "WorkflowStarted": {
      history.started ??= {
        payload: data.payload,
        parent: typeof data.parent === "object" && data.parent !== null ? data.parent as ParentRef : undefined
      }
      break
    }
    case "ActivityCompleted": {
      const key = activityKey(String(data.name), Number(data.attempt))
      if (!history.activities.has(key)) history.activities.set(key, data.result)
      break
    }
    case "DeferredCompleted": {
      const name = String(data.name)
      if (!history.deferreds.has(name)) history.deferreds.set(name, data.exit)
      break
    }
    case "ClockScheduled": {
      const name = String(data.name)
      if (!history.clocks.has(name)) history.clocks.set(name, Number(data.wakeAt))
      break
    }
    case "InterruptRequested": {
      history.interrupted = true
      break
    }
    case "WorkflowCompleted": {
      history.completed ??= data.result
      break
    }
  }
  return history
}

const AnyOrVoid = Schema.Union([Schema.Undefined, Schema.Any])

/**
 * An exit whose values are already encoded (an activity's or a deferred's), as JSON.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ExitJson = Schema.toCodecJson(Schema.Exit(AnyOrVoid, AnyOrVoid, Schema.Defect()))
