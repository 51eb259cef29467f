/**
 * The tarball test: what a user installs from npm, tried where a user would.
 *
 * 1. Builds every package and packs each published one (`npm pack`).
 * 2. Installs the tarballs into a fresh project in the system temp directory (outside the workspace,
 *    so nothing resolves through the workspace's node_modules or the `@strata/source` condition),
 *    with `effect` and the drivers from the registry at the versions the repository pins.
 * 3. Type-checks and runs the README's quick start there (the TypeScript block under "Quick start",
 *    extracted from README.md) on `memory:` and on a SQLite file, with the pinned Node 24 and with
 *    Node 22.19 (the minimum `engines` allows; installed by this folder's package.json).
 *    Then installs the tarballs a second time, into another fresh project, with the README's own
 *    install line (`npm install <tarballs> "effect@~4.1.5" @effect/platform-node`: whatever the
 *    registry's latest versions within the peer ranges are today) and runs the quick start there too.
 *    Runs a given / when / then scenario of @strata/testing on memory and SQLite there too.
 *    Then runs `npx strata --help`, `strata stats` and `strata copy` from the installed @strata/cli.
 * 4. Bundles examples/worker.ts against the installed packages for workerd, checks the bundle
 *    imports no `node:` built-in, and runs it in Miniflare with a D1 binding (worker.ts here).
 *
 * Run: `npm run test:tarball` (CI runs it after `npm test`). Exits non-zero on the first failure.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..", "..")
const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`
const step = (message: string) => console.log(`[tarball ${elapsed()}] ${message}`)

const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions = {}): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options }).toString()
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string }
    console.error(`[tarball] FAILED: ${command} ${args.join(" ")}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`)
    throw new Error(`${path.basename(command)} ${args.join(" ")} failed`)
  }
}

const nodes: ReadonlyArray<{ readonly name: string; readonly bin: string; readonly major: string }> = [
  { name: "Node 24 (pinned)", bin: path.join(root, "node_modules", "node", "bin", "node"), major: "v24." },
  { name: "Node 22.19", bin: path.join(import.meta.dirname, "node_modules", "node", "bin", "node"), major: "v22." }
]
for (const node of nodes) {
  if (!fs.existsSync(node.bin)) {
    throw new Error(`${node.name} is not installed at ${node.bin}: run npm ci at the repository root`)
  }
  const version = run(node.bin, ["--version"]).trim()
  if (!version.startsWith(node.major)) throw new Error(`${node.bin} is ${version}, expected ${node.major}x`)
  step(`${node.name}: ${version}`)
}

/** The versions of effect and @effect/* a project got, as one line. */
const installed = (dir: string): string =>
  ["effect", "@effect/platform-node", "@effect/platform-node-shared"]
    .map((name) => {
      const manifest = path.join(dir, "node_modules", name, "package.json")
      return `${name}@${fs.existsSync(manifest) ? JSON.parse(fs.readFileSync(manifest, "utf8")).version : "(none)"}`
    })
    .join(", ")

// ---- 1. build and pack ----
const work = fs.mkdtempSync(path.join(os.tmpdir(), "strata-tarball-"))
const keep = process.env["STRATA_TARBALL_KEEP"] === "1"
process.on(
  "exit",
  () => keep ? console.log(`[tarball] kept ${work}`) : fs.rmSync(work, { recursive: true, force: true })
)

run(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-b", "tsconfig.build.json"], {
  cwd: root
})
step("built dist/")

const published = fs.readdirSync(path.join(root, "packages"))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(fs.readFileSync(path.join(root, "packages", dir, "package.json"), "utf8"))
  }))
  .filter(({ manifest }) => manifest.private !== true)
const tarballs = path.join(work, "tarballs")
fs.mkdirSync(tarballs)
const packed = JSON.parse(
  run("npm", [
    "pack",
    "--json",
    "--pack-destination",
    tarballs,
    ...published.flatMap(({ dir }) => ["--workspace", `packages/${dir}`])
  ], { cwd: root })
) as ReadonlyArray<
  { name: string; filename: string; size: number; unpackedSize: number; files: ReadonlyArray<{ path: string }> }
>
for (const p of packed) {
  const paths = p.files.map((f) => f.path)
  for (const required of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/index.js.map"]) {
    if (!paths.includes(required)) throw new Error(`${p.name}'s tarball has no ${required}`)
  }
  const stray = paths.filter((f) => !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/|src\/)/.test(f))
  if (stray.length > 0) throw new Error(`${p.name}'s tarball ships files outside dist/ and src/: ${stray.join(", ")}`)
  if (paths.some((f) => f.includes("test/") || f.endsWith(".tsbuildinfo"))) {
    throw new Error(`${p.name}'s tarball ships tests or build info`)
  }
  step(`packed ${p.name}: ${(p.size / 1024).toFixed(0)} kB (${(p.unpackedSize / 1024).toFixed(0)} kB unpacked)`)
}

// ---- 2. a fresh project outside the workspace ----
const project = path.join(work, "app")
fs.mkdirSync(project)
const tarballOf = Object.fromEntries(packed.map((p) => [p.name, `file:${path.join(tarballs, p.filename)}`]))
const rootManifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
fs.writeFileSync(
  path.join(project, "package.json"),
  JSON.stringify(
    {
      name: "strata-tarball-app",
      private: true,
      type: "module",
      dependencies: {
        ...tarballOf,
        // From the registry, as a user would get them (the peer ranges our packages declare).
        // The exact versions the repository is tested with.
        effect: rootManifest.devDependencies["effect"],
        "@effect/platform-node": rootManifest.devDependencies["@effect/platform-node"],
        "@types/node": rootManifest.devDependencies["@types/node"],
        typescript: rootManifest.devDependencies["typescript"]
      },
      // Our packages depend on each other by version; the tarballs are the only source of those versions.
      overrides: tarballOf
    },
    null,
    2
  )
)
run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], { cwd: project })
step(`installed the tarballs, pinned: ${installed(project)}`)

// ---- 3. the README quick start, type-checked and run ----
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
const quickStart = /## Quick start[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
if (quickStart === undefined) throw new Error("README.md has no ```ts block under ## Quick start")
const example = fs.readFileSync(path.join(root, "examples", "quickstart.ts"), "utf8")
if (!example.includes(quickStart)) {
  throw new Error("README.md's quick start and examples/quickstart.ts differ: the README must show the tested file")
}
fs.writeFileSync(path.join(project, "quickstart.ts"), quickStart)
fs.writeFileSync(
  path.join(project, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      target: "ES2023",
      // effect's own .d.ts use WebCrypto and DOM types.
      lib: ["ES2023", "DOM"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      // Checking effect's own .d.ts costs 30 s; that ours resolve is checked from the file list below.
      skipLibCheck: true,
      types: ["node"]
    },
    include: ["quickstart.ts"]
  })
)
const program = run(nodes[0].bin, [
  path.join(project, "node_modules", "typescript", "bin", "tsc"),
  "-p",
  "tsconfig.json",
  "--listFiles"
], { cwd: project })
// A .d.ts import that does not resolve is silent under skipLibCheck: these must all be in the program.
for (
  const reached of [
    "strata/dist/index.d.ts",
    "strata/dist/Strata.d.ts",
    "core/dist/EventCodec.d.ts",
    "core/dist/StoreUrl.d.ts"
  ]
) {
  if (!program.includes(`node_modules/@strata/${reached}`)) {
    throw new Error(`the quick start's types did not reach @strata/${reached}:\n${program}`)
  }
}
step("the quick start type-checks against the installed .d.ts")

const expected = "{ balance: 75, delivered: [ 'Deposited', 'Withdrawn', 'Deposited' ] }"
const runQuickStart = (dir: string, how: string) => {
  for (const node of nodes) {
    for (const url of ["memory:", `sqlite:./quickstart-${node.major}db`]) {
      const output = run(node.bin, ["quickstart.ts"], {
        cwd: dir,
        env: { ...process.env, STRATA_URL: url, NODE_OPTIONS: "" }
      })
      if (!output.includes(expected)) {
        throw new Error(`${how}, ${node.name} on ${url}: expected ${expected}, got:\n${output}`)
      }
      step(`${how}, ${node.name}: the quick start on ${url} printed ${expected}`)
    }
  }
  if (!fs.existsSync(path.join(dir, "quickstart-v22.db"))) throw new Error("STRATA_URL=sqlite: made no file")
}
runQuickStart(project, "pinned")

// ---- 3a. the README's install line, as a user runs it: latest versions within the peer ranges ----
const installLine = /^npm install \.\.\/strata\/\.strata\/packages\/\*\.tgz (.+)$/m.exec(readme)?.[1]
if (installLine === undefined) {
  throw new Error("README.md has no `npm install ../strata/.strata/packages/*.tgz ...` line")
}
const readmeProject = path.join(work, "readme-app")
fs.mkdirSync(readmeProject)
fs.writeFileSync(
  path.join(readmeProject, "package.json"),
  JSON.stringify({ name: "strata-readme-app", private: true, type: "module" }, null, 2)
)
run("npm", [
  "install",
  "--no-audit",
  "--no-fund",
  "--loglevel=error",
  ...packed.map((p) => path.join(tarballs, p.filename)),
  // The line's arguments after the tarballs, unquoted as a shell would.
  ...installLine.trim().split(/\s+/).map((arg) => arg.replace(/^"(.*)"$/, "$1"))
], { cwd: readmeProject })
step(`installed the README's way (npm install <tarballs> ${installLine.trim()}): ${installed(readmeProject)}`)
fs.writeFileSync(path.join(readmeProject, "quickstart.ts"), quickStart)
runQuickStart(readmeProject, "README's install")

// The testing kit from its tarball: a passing and a failing scenario, on memory and on SQLite.
fs.writeFileSync(
  path.join(project, "testing-check.ts"),
  `import { Aggregate, EventCodec } from "@strata/core"
import { DeciderSpec, TestStore } from "@strata/testing"
import { Effect, Schema } from "effect"
const Added = EventCodec.type("Added", { schema: Schema.Struct({ n: Schema.Finite }) })
const Counter = Aggregate.make({
  category: "counter",
  codec: EventCodec.make([Added]),
  initial: 0,
  evolve: (total: number, event: { readonly n: number }) => total + event.n,
  decide: (n: number) => [Added.make({ n })]
})
for (const [name, store] of TestStore.all) {
  const spec = DeciderSpec.make(Counter, { store: store() })
  await Effect.runPromise(spec.given([Added.make({ n: 1 })]).when(2).then([Added.make({ n: 2 })]))
  const error = await Effect.runPromise(Effect.flip(spec.given().when(2).then([Added.make({ n: 3 })])))
  if (error._tag !== "ExpectationFailed") throw new Error("a wrong expectation passed on " + name)
}
console.log("testing kit: ok")
`
)
for (const node of nodes) {
  const output = run(node.bin, ["testing-check.ts"], { cwd: project, env: { ...process.env, NODE_OPTIONS: "" } })
  if (!output.includes("testing kit: ok")) throw new Error(`${node.name}: the testing kit check printed:\n${output}`)
  step(`${node.name}: @strata/testing ran a scenario on memory and SQLite`)
}

// ---- 3b. the `strata` command from @strata/cli, through npx, on what the quick start wrote ----
for (const node of nodes) {
  // The bin's `#!/usr/bin/env node` takes the first node on the PATH: make it this one.
  const env = {
    ...process.env,
    NODE_OPTIONS: "",
    PATH: `${path.dirname(node.bin)}${path.delimiter}${process.env.PATH}`
  }
  const help = run("npx", ["--no-install", "strata", "--help"], { cwd: project, env })
  for (const command of ["migrate", "tail", "stats", "export", "import", "copy"]) {
    if (!new RegExp(`^  ${command} `, "m").test(help)) {
      throw new Error(`npx strata --help lists no ${command}:\n${help}`)
    }
  }
  const stats = run("npx", ["--no-install", "strata", "stats", "--url", `sqlite:./quickstart-${node.major}db`], {
    cwd: project,
    env
  })
  if (!/^events {4}3$/m.test(stats)) throw new Error(`${node.name}: strata stats did not count 3 events:\n${stats}`)
  const copy = run("npx", [
    "--no-install",
    "strata",
    "copy",
    "--from",
    `sqlite:./quickstart-${node.major}db`,
    "--to",
    "memory:"
  ], { cwd: project, env })
  if (!copy.includes("verification: OK")) throw new Error(`${node.name}: strata copy did not verify:\n${copy}`)
  step(`${node.name}: npx strata --help, stats and copy work from the installed @strata/cli`)
}

// ---- 4. the D1 Worker, bundled from the installed packages, in Miniflare ----
fs.copyFileSync(path.join(root, "examples", "worker.ts"), path.join(project, "worker.ts"))
for (const node of nodes) {
  const output = run(node.bin, [path.join(import.meta.dirname, "worker.ts"), path.join(project, "worker.ts")], {
    cwd: project,
    env: { ...process.env, NODE_OPTIONS: "" }
  })
  step(`${node.name}: ${output.trim()}`)
}

step("passed")
