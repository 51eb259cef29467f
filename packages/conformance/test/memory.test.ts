import { jobQueueSuite, suite } from "@strata/conformance"
import { JobQueue, MemoryStore } from "@strata/core"
import * as Layer from "effect/Layer"

// Every memory append wakes its subscribers in-process; its 5 s poll can find nothing a wake-up did
// not, so "nothing more is delivered" checks need not wait for it.
suite("memory", (projections) => MemoryStore.layer({ projections }), { pollInterval: "50 millis" })
// Job queues kept by the memory store (JobQueue.layerStore) join its units of work: the outbox.
jobQueueSuite("memory", Layer.provideMerge(JobQueue.layerStore, MemoryStore.layer()), { outbox: true })
// A standalone memory job store shares no unit of work with the memory event store: refused.
jobQueueSuite("memory, standalone queue", Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))
