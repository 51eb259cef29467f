/**
 * `npm run publish:check`: `npm publish --dry-run` for every published package (after `npm run build`),
 * and what a registry page and a user's tools need from its manifest. Fails, naming the package and
 * what is missing, when:
 * - a manifest lacks a description, keywords, license, repository (with its directory), homepage,
 *   bugs, engines, `types`, `sideEffects`, `files`, or an `exports["."]` with `types` and `import`;
 * - the dry run fails, or its file list lacks package.json, README.md, dist/index.js or dist/index.d.ts,
 *   or ships tests or build info.
 * CI runs it after the build. Nothing is published: a dry run only packs and reports.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")
const packages = fs.readdirSync(path.join(root, "packages"))
  .filter((dir) => fs.existsSync(path.join(root, "packages", dir, "package.json")))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(fs.readFileSync(path.join(root, "packages", dir, "package.json"), "utf8"))
  }))
  .filter(({ manifest }) => manifest.private !== true)

const problems: Array<string> = []
for (const { dir, manifest } of packages) {
  const missing = (what: string) => problems.push(`${manifest.name}: ${what}`)
  if (typeof manifest.description !== "string" || manifest.description === "") missing("no description")
  if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) missing("no keywords")
  if (typeof manifest.license !== "string") missing("no license")
  if (manifest.repository?.url === undefined || manifest.repository?.directory !== `packages/${dir}`) {
    missing(`repository must have url and directory "packages/${dir}"`)
  }
  if (typeof manifest.homepage !== "string") missing("no homepage")
  if (manifest.bugs?.url === undefined) missing("no bugs.url")
  if (manifest.engines?.node === undefined) missing("no engines.node")
  if (typeof manifest.types !== "string") missing("no types")
  if (manifest.sideEffects === undefined) missing("no sideEffects")
  if (!Array.isArray(manifest.files) || !manifest.files.includes("dist")) missing("files must list dist")
  const main = manifest.exports?.["."]
  if (main?.types === undefined || main?.import === undefined) missing(`exports["."] needs types and import`)

  let output: string
  try {
    output = execFileSync("npm", ["publish", "--dry-run", "--json", "--workspace", `packages/${dir}`], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"]
    })
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string }
    problems.push(`${manifest.name}: npm publish --dry-run failed:\n${e.stderr ?? ""}${e.stdout ?? ""}`)
    continue
  }
  const report = JSON.parse(output)[manifest.name] as { files: ReadonlyArray<{ path: string }>; size: number }
  const files = report.files.map((file) => file.path)
  for (const required of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts"]) {
    if (!files.includes(required)) missing(`the package would not contain ${required} (run npm run build first)`)
  }
  if (files.some((file) => file.includes("test/") || file.endsWith(".tsbuildinfo"))) {
    missing("the package would ship tests or build info")
  }
  console.log(
    `${manifest.name}: npm publish --dry-run ok (${files.length} files, ${(report.size / 1024).toFixed(0)} kB)`
  )
}
if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join("\n")}`)
  process.exit(1)
}
console.log(`${packages.length} packages ready to publish`)
