/**
 * The one `KurrentDBClient` a store talks through, as a scoped resource, and the translation of its
 * thrown errors into values. Every client call goes through {@link KurrentClient.call}, so nothing the
 * client throws (or rejects with) becomes a defect: it is a {@link ClientFailure} that the store turns
 * into a typed StoreError, and connection problems become `StoreUnavailable` naming the endpoint
 * (never the credentials of the connection string).
 *
 * @since 0.1.0
 */
import { KurrentDBClient } from "@kurrent/kurrentdb-client"
import { StoreError } from "@strata/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * A rejected client call: the client's error `type` (`wrong-expected-version`, `stream-deleted`,
 * `unavailable`, ...) and the error itself.
 *
 * @category errors
 * @since 0.1.0
 */
export class ClientFailure extends Data.TaggedError("ClientFailure")<{
  readonly type: string
  readonly error: unknown
}> {}

/**
 * Client error types that mean "try again": the connection, a deadline, a leader change.
 *
 * @category models
 * @since 0.1.0
 */
export const transientTypes: ReadonlySet<string> = new Set([
  "unavailable",
  "deadline-exceeded",
  "not-leader",
  "timeout",
  "cancelled",
  "unknown"
])

/**
 * A connected client.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentClient {
  readonly client: KurrentDBClient
  /** `host:port[,host:port]` of the connection string, without scheme, credentials or options. */
  readonly endpoint: string
  /** Runs a client call; a rejection (or a synchronous throw) becomes a ClientFailure. */
  readonly call: <A>(f: (client: KurrentDBClient) => Promise<A>) => Effect.Effect<A, ClientFailure>
  /** A ClientFailure as `StoreUnavailable`, naming the endpoint and never the credentials. */
  readonly unavailable: (operation: string, failure: ClientFailure) => StoreError.StoreUnavailable
}

/**
 * The endpoint part of a KurrentDB connection string: `kurrentdb://user:pass@a:2113,b:2113?tls=true`
 * gives `a:2113,b:2113`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const endpointOf = (connectionString: string): string => {
  const match = /^[a-z+]+:\/\/(?:[^@/?]*@)?([^/?]*)/i.exec(connectionString.trim())
  return match?.[1] ?? "(unparsable connection string)"
}

const secretsOf = (connectionString: string): ReadonlyArray<string> => {
  const match = /^[a-z+]+:\/\/([^@/?]*)@/i.exec(connectionString.trim())
  if (match === null) return []
  const [user, password] = match[1].split(":")
  return [match[1], user, password, decodeURIComponent(password ?? "")].filter((s): s is string =>
    s !== undefined && s.length >= 3
  )
}

const typeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "type" in error && typeof error.type === "string"
    ? error.type
    : "unknown"

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

/**
 * Connects (lazily: the client dials on its first call) and disposes of the client with the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  connectionString: string
): Effect.Effect<KurrentClient, StoreError.StoreUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const endpoint = endpointOf(connectionString)
    const secrets = secretsOf(connectionString)
    const redact = (text: string) => secrets.reduce((out, secret) => out.split(secret).join("***"), text)
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => KurrentDBClient.connectionString(connectionString),
        catch: (error) =>
          new StoreError.StoreUnavailable({
            operation: "connect",
            reason: `invalid KurrentDB connection string for ${endpoint}: ${redact(messageOf(error))}`
          })
      }),
      (client) => Effect.promise(() => client.dispose().catch(() => undefined))
    )
    const call = <A>(f: (client: KurrentDBClient) => Promise<A>): Effect.Effect<A, ClientFailure> =>
      Effect.tryPromise({
        try: () => f(client),
        catch: (error) => new ClientFailure({ type: typeOf(error), error })
      })
    const unavailable = (operation: string, failure: ClientFailure) =>
      new StoreError.StoreUnavailable({
        operation,
        reason: `KurrentDB at ${endpoint}: ${failure.type}: ${redact(messageOf(failure.error))}`
      })
    return { client, endpoint, call, unavailable }
  })
