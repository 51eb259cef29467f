/**
 * A web console for a Strata store, like KurrentDB's admin UI but for every backend: the streams
 * (searched by prefix or category), a stream's events with their data and metadata, the `$all` live
 * tail, the consumers with their position, lag and status, the leases held, the job queues, and the
 * parked events with replay and discard: the only writes, each behind a confirmation.
 *
 * {@link serve} runs it in the current scope over the store services in context (a program serves
 * the console beside its own consumers: then it can replay their parked events); {@link open} opens
 * a store from its URL and serves it (the `strata console --url ...` command).
 *
 * **Locked as notebook servers are.** It is a door into the store:
 * - it binds 127.0.0.1 on a random port by default and refuses any other address unless
 *   `allowRemote` says so;
 * - every request needs the random per-run token of the URL it returns (in the `token` query
 *   parameter, or the `x-strata-console-token` header, which the page uses);
 * - the `Host` header must name the server (a DNS-rebinding page sends its own name);
 * - no CORS: no `Access-Control-*` header is ever sent, and a request whose `Origin` or
 *   `Sec-Fetch-Site` says it comes from another origin (another port of 127.0.0.1 too) is refused;
 * - writes are POSTs with the token in the header, a JSON body and the console's own `Origin`;
 * - the page loads nothing from elsewhere (inline script and style under a nonce CSP; it works
 *   offline), cannot be framed, sends no referrer, and shows the store's URL scrubbed of secrets.
 *
 * @example
 * import { Console } from "@strata/console"
 * import { MemoryStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Console.serve()
 *   yield* Effect.logInfo(`Strata console: ${server.url}`)
 *   return yield* Effect.never
 * })
 *
 * Effect.runFork(Effect.scoped(program).pipe(Effect.provide(MemoryStore.layer())))
 *
 * @since 0.1.0
 */
import { EventStore, StoreAdmin, type StoreError, StoreUrl } from "@strata/core"
import { Strata } from "@strata/strata"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomBytes } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Api from "./internal/api.ts"
import * as Guard from "./internal/guard.ts"
import * as Page from "./internal/page.ts"

/**
 * Where and how the console listens.
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions {
  /** The address to bind (default `127.0.0.1`). Anything but a loopback address needs `allowRemote`. */
  readonly host?: string | undefined
  /** The port (default 0: a random free port). */
  readonly port?: number | undefined
  /**
   * Bind a non-loopback address. The token still guards every request, but it then travels over
   * plain HTTP: put the console behind TLS (a reverse proxy) or an SSH tunnel instead when you can.
   */
  readonly allowRemote?: boolean | undefined
  /**
   * More host names the `Host` header may carry (a DNS name of the machine, a proxy's name). Accepted
   * without it: the bound address; on a loopback bind the loopback names; on `0.0.0.0` / `::` also
   * this machine's interface addresses and `os.hostname()`.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  /** The token (default: 24 random bytes, base64url). Give one only to keep a URL across restarts. */
  readonly token?: Redacted.Redacted<string> | string | undefined
  /**
   * What the page names the store by: its URL (scrubbed of passwords and secret parameters before it
   * is shown) or any label. Default: the backend's name.
   */
  readonly store?: Redacted.Redacted<string> | string | undefined
}

/**
 * A running console.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsoleServer {
  /** The URL to open, token included: print it to the operator, do not log it where others read. */
  readonly url: string
  /** The URL without its token, safe to log. */
  readonly origin: string
  readonly host: string
  readonly port: number
  readonly token: Redacted.Redacted<string>
}

/**
 * Why the console could not start: a non-loopback address without `allowRemote`, a bad port, or the
 * address refused by the system (in use, not local).
 *
 * @category errors
 * @since 0.1.0
 */
export class ConsoleError extends Schema.TaggedError<ConsoleError>("@strata/console/ConsoleError")("ConsoleError", {
  reason: Schema.Literals(["RemoteBindRefused", "InvalidOption", "ListenFailed"]),
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/**
 * The services the console reads: those every store layer provides (`Store.Services` includes
 * them). A `Consumer.Consumers` registry (from `Consumer.layer`) and a `JobQueue` are used when
 * present.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = Api.Requirements

const json = (value: unknown): string => JSON.stringify(value, (_key, v) => typeof v === "bigint" ? v.toString() : v)

const send = (
  response: Http.ServerResponse,
  status: number,
  body: string,
  type: string,
  nonce?: string
) => {
  response.writeHead(status, {
    ...Guard.baseHeaders(nonce),
    "content-type": type,
    "content-length": Buffer.byteLength(body)
  })
  response.end(body)
}

const sendJson = (response: Http.ServerResponse, status: number, value: unknown) =>
  send(response, status, json(value), "application/json; charset=utf-8")

const readBody = (request: Http.IncomingMessage, limit: number): Promise<string | undefined> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        resolve(undefined)
        request.destroy()
      } else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

/**
 * Serves the console over the store services in context until the scope closes, and returns where.
 *
 * **Details**
 *
 * The streams page reads the global log backwards (no backend keeps a listable index of streams):
 * it shows the most recently written streams matching the search, from the last 10,000 matching
 * events. The tail is a server-sent event stream over `subscribeAll`. Replay needs the consumer's
 * handler, so it works for consumers that run in the same program (found through the
 * `Consumer.Consumers` registry); discard works for any stored parked event.
 *
 * @example
 * import { Console } from "@strata/console"
 * import { Consumer, MemoryStore } from "@strata/core"
 * import { Effect, Layer } from "effect"
 *
 * const Projections = Consumer.layer("mailer", { handler: () => Effect.void, parkAfter: 3 })
 *
 * const program = Effect.gen(function*() {
 *   const { url } = yield* Console.serve({ port: 4100 })
 *   yield* Effect.logInfo(`console at ${url}`)
 *   return yield* Effect.never
 * })
 *
 * Effect.runFork(
 *   Effect.scoped(program).pipe(
 *     Effect.provide(Projections.pipe(Layer.provideMerge(MemoryStore.layer())))
 *   )
 * )
 *
 * @category constructors
 * @since 0.1.0
 */
export const serve = (
  options?: ServeOptions
): Effect.Effect<ConsoleServer, ConsoleError, Requirements | Scope.Scope> =>
  Effect.gen(function*() {
    const host = options?.host ?? "127.0.0.1"
    const port = options?.port ?? 0
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
      return yield* new ConsoleError({ reason: "InvalidOption", detail: `port must be 0 to 65535, got ${port}` })
    }
    if (!Guard.isLoopback(host) && options?.allowRemote !== true) {
      return yield* new ConsoleError({
        reason: "RemoteBindRefused",
        detail:
          `refusing to serve the console on ${host}: it is a door into the store. Bind 127.0.0.1 (the default) and reach it through an SSH tunnel, or pass allowRemote (--allow-remote) to bind ${host}`
      })
    }
    const given = options?.token
    const token = given === undefined ? Guard.makeToken() : Redacted.isRedacted(given) ? Redacted.value(given) : given
    if (token.length < 16) {
      return yield* new ConsoleError({ reason: "InvalidOption", detail: "the token must be at least 16 characters" })
    }
    const context = yield* Effect.context<Requirements>()
    const run = Effect.runForkWith(context)
    const label = options?.store === undefined
      ? undefined
      : Guard.scrubUrl(Redacted.isRedacted(options.store) ? Redacted.value(options.store) : options.store)
    const storeLabel = label ?? (yield* Effect.map(Effect.service(StoreAdmin.StoreAdmin), (admin) => admin.backend))
    const fibers = new Set<Fiber.Fiber<unknown, unknown>>()

    // Runs one answer's Effect in a span; a defect becomes a 500 without its details (they go to the
    // log). A read stops when its client goes away; a write runs to its end (its outcome is the store's).
    const reply = <A>(
      response: Http.ServerResponse,
      route: string,
      effect: Effect.Effect<A, Api.ApiError, Requirements>,
      write = false
    ) => {
      const fiber = run(
        effect.pipe(
          Effect.withSpan(`StrataConsole.${route}`, { kind: "server" }),
          Effect.matchCauseEffect({
            onSuccess: (value) => Effect.sync(() => sendJson(response, 200, value)),
            onFailure: (cause) =>
              Effect.gen(function*() {
                const failure = Cause.findErrorOption(cause)
                if (failure._tag === "Some") {
                  return sendJson(response, failure.value.status, { error: Guard.scrubUrl(failure.value.message) })
                }
                if (Cause.hasInterruptsOnly(cause)) return
                yield* Effect.logError(`Strata console: ${route} failed`, cause)
                if (!response.headersSent) sendJson(response, 500, { error: "the console failed on this request" })
              })
          })
        )
      )
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
      if (!write) {
        response.on("close", () => {
          if (!response.writableFinished) fiber.interruptUnsafe()
        })
      }
    }

    const tail = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      response.writeHead(200, {
        ...Guard.baseHeaders(),
        "content-type": "text/event-stream; charset=utf-8",
        connection: "keep-alive"
      })
      const write = (event: string, data: unknown) =>
        Effect.sync(() => void response.write(`event: ${event}\ndata: ${json(data)}\n\n`))
      const program = Effect.gen(function*() {
        const recent = yield* Api.recent(20)
        for (const event of [...recent].reverse()) yield* write("event", Api.eventJson(event))
        const store = yield* EventStore.EventStore
        const from = recent.length === 0 ? "start" as const : { after: recent[0].position }
        yield* Stream.runForEach(store.subscribeAll({ from }), (event) => write("event", Api.eventJson(event)))
      }).pipe(
        Effect.withSpan("StrataConsole.tail", { kind: "server" }),
        Effect.catch((error) => write("failure", { error: Guard.scrubUrl(String(error.message)) })),
        Effect.ensuring(Effect.sync(() => response.end()))
      )
      const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), 15_000)
      const fiber = run(program)
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
      request.on("close", () => {
        clearInterval(heartbeat)
        fiber.interruptUnsafe()
      })
    }

    const handle = async (request: Http.IncomingMessage, response: Http.ServerResponse, policy: Guard.Policy) => {
      const url = new URL(request.url ?? "/", "http://console.invalid")
      const refusal = Guard.check(request, url, policy)
      if (refusal !== undefined) return sendJson(response, refusal.status, { error: refusal.reason })
      const method = request.method ?? "GET"
      const path = url.pathname
      if (method === "POST") {
        if (path !== "/api/parked/replay" && path !== "/api/parked/discard") {
          return sendJson(response, 404, { error: "no such action" })
        }
        if (!(request.headers["content-type"] ?? "").startsWith("application/json")) {
          return sendJson(response, 415, { error: "the body must be application/json" })
        }
        const text = await readBody(request, 4096)
        if (text === undefined) return sendJson(response, 413, { error: "the body is too large" })
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return sendJson(response, 400, { error: "the body is not JSON" })
        }
        const replay = path.endsWith("replay")
        return reply(
          response,
          replay ? "replay" : "discard",
          Effect.flatMap(
            Api.parseTarget(body),
            (target): Effect.Effect<unknown, Api.ApiError, Requirements> =>
              replay ? Api.replay(target) : Api.discard(target)
          ),
          true
        )
      }
      switch (path) {
        case "/":
        case "/index.html": {
          const nonce = randomBytes(16).toString("base64")
          return send(response, 200, Page.html(nonce, storeLabel), "text/html; charset=utf-8", nonce)
        }
        case "/api/overview":
          return reply(response, "overview", Api.overview(storeLabel))
        case "/api/streams":
          return reply(response, "streams", Api.streams(url.searchParams))
        case "/api/stream":
          return reply(response, "stream", Api.stream(url.searchParams))
        case "/api/consumers":
          return reply(response, "consumers", Api.consumers)
        case "/api/parked":
          return reply(response, "parked", Api.parked(url.searchParams))
        case "/api/jobs":
          return reply(response, "jobs", Api.jobs)
        case "/api/tail":
          return tail(request, response)
        default:
          return sendJson(response, 404, { error: "not found" })
      }
    }

    const server = yield* Effect.acquireRelease(
      Effect.callback<Http.Server, ConsoleError>((resume) => {
        const server = Http.createServer()
        server.once("error", (error) =>
          resume(Effect.fail(
            new ConsoleError({ reason: "ListenFailed", detail: `cannot listen on ${host}:${port}: ${error.message}` })
          )))
        server.listen({ host, port }, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.gen(function*() {
          yield* Fiber.interruptAll([...fibers])
          yield* Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
        })
    )
    const address = server.address() as AddressInfo
    const policy: Guard.Policy = {
      token,
      port: address.port,
      hosts: Guard.hostsFor(host, options?.allowedHosts ?? [])
    }
    server.on("request", (request, response) => {
      handle(request, response, policy).catch((error) => {
        if (!response.headersSent) sendJson(response, 500, { error: "the console failed on this request" })
        run(Effect.logError("Strata console: a request failed", error))
      })
    })
    const shownHost = Guard.urlHost(Guard.isWildcard(host) ? "127.0.0.1" : host)
    const origin = `http://${shownHost}:${address.port}`
    return {
      url: `${origin}/?token=${token}`,
      origin,
      host,
      port: address.port,
      token: Redacted.make(token)
    }
  })

/**
 * Builds a store layer for the scope and serves the console over it: for a program or a tool that
 * has its store as a layer (`Strata.layerFromUrl(...)`, `SqliteStore.layer(...)`, ...).
 *
 * @example
 * import { Console } from "@strata/console"
 * import { MemoryStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Console.serveLayer(MemoryStore.layer(), { port: 4100 })
 *   yield* Effect.logInfo(`Strata console: ${server.origin}`)
 *   return yield* Effect.never
 * })
 *
 * @category constructors
 * @since 0.1.0
 */
export const serveLayer = <E>(
  layer: Layer.Layer<Requirements, E>,
  options?: ServeOptions
): Effect.Effect<ConsoleServer, E | ConsoleError, Scope.Scope> =>
  Effect.flatMap(Layer.build(layer), (context) => Effect.provide(serve(options), context))

/**
 * Opens the store a URL names, as it is, and serves the console on it until the scope closes: what
 * `strata console --url ...` runs. The page shows the URL scrubbed of its secrets.
 *
 * **Details**
 *
 * `memory:`, `postgres://...`, `kurrentdb://...` open through `Strata.layerFromUrl`; a `sqlite:` URL
 * through `SqliteUrl.layer` with `mustExist`, so a mistyped path fails (`StartupFailed`, naming the
 * file) instead of becoming a new empty database. No migration is run: a store whose schema lags shows
 * it on the overview.
 *
 * @example
 * import { Console } from "@strata/console"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* Console.open("sqlite:app.db")
 *   console.log(`Strata console: ${server.url}`)
 *   return yield* Effect.never
 * })
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (
  url: Redacted.Redacted<string> | string,
  options?: Omit<ServeOptions, "store">
): Effect.Effect<
  ConsoleServer,
  ConsoleError | StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported,
  Scope.Scope
> => {
  const redacted = Redacted.isRedacted(url) ? url : Redacted.make(url)
  const layer: Layer.Layer<
    Requirements,
    StoreUrl.StoreUrlError | StoreError.StartupFailed | StoreError.Unsupported
  > = StoreUrl.scheme(redacted) === "sqlite"
    // Loaded only for a sqlite: URL, as Strata.layerFromUrl loads each backend.
    ? Layer.unwrap(
      Effect.map(
        Effect.promise(() => import("@strata/sqlite")),
        ({ SqliteUrl }) => SqliteUrl.layer(redacted, { migrate: false, mustExist: true })
      )
    )
    : Strata.layerFromUrl(redacted, { migrate: false })
  return serveLayer(layer, { ...options, store: redacted })
}
