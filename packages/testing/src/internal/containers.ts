// Whether a container runtime answers, and loading a @testcontainers/* module by name. Nothing here
// installs or starts anything: a runtime that does not answer, or a module that is not installed,
// is a setup error that says what to do.
import * as Fs from "node:fs"
import * as Http from "node:http"

/** A setup failure: what was tried and what to do. TestStore turns it into `TestStoreSetupError`. */
export class SetupError extends Error {
  override readonly name = "TestStoreSetupError"
}

/** Where a Docker-compatible runtime would answer, in the order testcontainers looks. */
export const candidates = (env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> => {
  const found: Array<string> = []
  if (env["DOCKER_HOST"] !== undefined && env["DOCKER_HOST"] !== "") found.push(env["DOCKER_HOST"])
  found.push("unix:///var/run/docker.sock")
  const runtimeDir = env["XDG_RUNTIME_DIR"]
  if (runtimeDir !== undefined && runtimeDir !== "") {
    found.push(`unix://${runtimeDir}/podman/podman.sock`, `unix://${runtimeDir}/docker.sock`)
  }
  if (env["HOME"] !== undefined) found.push(`unix://${env["HOME"]}/.docker/run/docker.sock`)
  return found
}

// One `GET /_ping` (the Docker API's health check, which Podman answers too) within `timeoutMs`.
const ping = (endpoint: string, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    let options: Http.RequestOptions
    if (endpoint.startsWith("unix://")) {
      const socketPath = endpoint.slice("unix://".length)
      if (!Fs.existsSync(socketPath)) return resolve(false)
      options = { socketPath, path: "/_ping" }
    } else if (endpoint.startsWith("tcp://") || endpoint.startsWith("http://")) {
      const url = new URL(endpoint.replace(/^tcp:/, "http:"))
      options = { host: url.hostname, port: url.port === "" ? 2375 : Number(url.port), path: "/_ping" }
    } else {
      return resolve(false)
    }
    const request = Http.get({ ...options, timeout: timeoutMs }, (response) => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.on("timeout", () => request.destroy())
    request.on("error", () => resolve(false))
  })

/** The first endpoint whose runtime answers, or undefined with the endpoints tried. */
export const findRuntime = async (
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 1_000
): Promise<{ readonly endpoint: string | undefined; readonly tried: ReadonlyArray<string> }> => {
  const tried = candidates(env)
  for (const endpoint of tried) {
    if (await ping(endpoint, timeoutMs)) return { endpoint, tried }
  }
  return { endpoint: undefined, tried }
}

/** Imports an optional module by name; undefined when it is not installed. */
export const importOptional = async <A>(name: string): Promise<A | undefined> => {
  try {
    return await import(name) as A
  } catch (cause) {
    const code = (cause as { readonly code?: unknown }).code
    // Only the module itself missing, not one of its own imports.
    const message = cause instanceof Error ? cause.message : ""
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(`'${name}'`)) {
      return undefined
    }
    throw cause
  }
}
