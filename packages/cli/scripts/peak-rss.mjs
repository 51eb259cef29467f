// Preloaded by roundtrip.ts into each strata process: prints the peak resident set size at exit.
process.on("exit", () => process.stderr.write(`peak-rss-kb ${process.resourceUsage().maxRSS}\n`))
