// The console's lock, as notebook servers lock theirs: a per-run token on every request, the Host
// header checked against the names the server answers to (DNS rebinding), foreign origins refused
// (no CORS: a page on another origin, another port of 127.0.0.1 included, gets nothing), and writes
// only by POST with the token in a header and a same-origin request.
import { randomBytes, timingSafeEqual } from "node:crypto"
import type { IncomingMessage } from "node:http"
import * as os from "node:os"

/** The header the page sends the token in; a query parameter `token` is accepted for GET only. */
export const tokenHeader = "x-strata-console-token"

export const makeToken = (): string => randomBytes(24).toString("base64url")

const loopbackNames = new Set(["localhost", "127.0.0.1", "::1", "[::1]"])

/** A host the server may bind to without `allowRemote`: loopback only. */
export const isLoopback = (host: string): boolean =>
  loopbackNames.has(host.toLowerCase()) || /^127(\.\d{1,3}){3}$/.test(host)

/** An address that binds every interface. */
export const isWildcard = (host: string): boolean => host === "0.0.0.0" || host === "::"

/** `host` as it appears in a URL (IPv6 in brackets). */
export const urlHost = (host: string): string => host.includes(":") && !host.startsWith("[") ? `[${host}]` : host

export interface Policy {
  readonly token: string
  readonly port: number
  /** The host names (without port) the server answers to. */
  readonly hosts: ReadonlySet<string>
}

export const hostsFor = (bound: string, extra: ReadonlyArray<string>): ReadonlySet<string> => {
  const hosts = new Set<string>()
  const add = (name: string) => hosts.add(urlHost(name.toLowerCase()))
  if (!isWildcard(bound)) add(bound)
  // A loopback server is reachable under each loopback name; a server on all interfaces under the
  // loopback names, this machine's addresses and name, and the names it was given (`allowedHosts`).
  if (isLoopback(bound) || isWildcard(bound)) {
    for (const name of ["localhost", "127.0.0.1", "::1"]) add(name)
  }
  if (isWildcard(bound)) {
    add(os.hostname())
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const address of addresses ?? []) add(address.address)
    }
  }
  for (const name of extra) add(name)
  return hosts
}

/** Why a request is refused: the status and a short text (never the token). */
export interface Refusal {
  readonly status: 400 | 401 | 403 | 405
  readonly reason: string
}

const sameToken = (given: string | undefined, token: string): boolean => {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The origins a request may come from: `http://<host>:<port>` for every host the server answers to. */
const originAllowed = (origin: string, policy: Policy): boolean => {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  return url.protocol === "http:" && url.port === String(policy.port) && policy.hosts.has(url.hostname.toLowerCase()) &&
    `${url.protocol}//${url.host}` === origin.toLowerCase()
}

/**
 * Checks a request against the policy: `undefined` lets it through. Order matters only for the
 * answer's text: every check must pass.
 */
export const check = (request: IncomingMessage, url: URL, policy: Policy): Refusal | undefined => {
  const method = request.method ?? "GET"
  if (method !== "GET" && method !== "HEAD" && method !== "POST") {
    return { status: 405, reason: "only GET and POST are served (no CORS: no preflight is answered)" }
  }
  // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example.
  const host = header(request, "host")
  if (host === undefined) return { status: 400, reason: "a Host header is required" }
  let hostName: string
  let hostPort: string
  try {
    const parsed = new URL(`http://${host}`)
    hostName = parsed.hostname.toLowerCase()
    hostPort = parsed.port
  } catch {
    return { status: 400, reason: "the Host header is not a host name" }
  }
  if (!policy.hosts.has(hostName) || hostPort !== String(policy.port)) {
    return { status: 403, reason: "the Host header names a host this console does not serve" }
  }
  // A page of another origin (another port of 127.0.0.1 too) may send requests; it gets nothing.
  const origin = header(request, "origin")
  if (origin !== undefined && !originAllowed(origin, policy)) {
    return { status: 403, reason: "requests from another origin are refused" }
  }
  const site = header(request, "sec-fetch-site")
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return { status: 403, reason: "requests from another site or origin are refused" }
  }
  const fromHeader = header(request, tokenHeader)
  if (method === "POST") {
    // A write: the token in the header (a form or a link cannot set one) and an Origin that is ours.
    if (!sameToken(fromHeader, policy.token)) return { status: 401, reason: "a valid token header is required" }
    if (origin === undefined) return { status: 403, reason: "a write must come from the console's own page" }
    return undefined
  }
  if (!sameToken(fromHeader ?? url.searchParams.get("token") ?? undefined, policy.token)) {
    return { status: 401, reason: "a valid token is required: open the URL the console printed" }
  }
  return undefined
}

/** Headers on every answer: nothing cached, no framing, no referrer (the token is in the URL). */
export const baseHeaders = (nonce?: string): Record<string, string> => ({
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "content-security-policy": nonce === undefined
    ? "default-src 'none'; frame-ancestors 'none'"
    : `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
})

/** A URL with its secrets replaced by `***`: the password, and query parameters that look like secrets. */
export const scrubUrl = (text: string): string =>
  text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, "$1:***@")
    .replace(/([?&](?:password|pass|pwd|token|secret|key|auth|authorization|sslkey|apikey|api_key)=)[^&#]*/gi, "$1***")
