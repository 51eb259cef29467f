import { suite } from "@strata/conformance"
import { MemoryStore } from "@strata/core"

// Every memory append wakes its subscribers in-process; its 5 s poll can find nothing a wake-up did
// not, so "nothing more is delivered" checks need not wait for it.
suite("memory", (projections) => MemoryStore.layer({ projections }), { pollInterval: "50 millis" })
