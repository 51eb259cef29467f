// DCB races on the memory backend (see @strata/conformance dcbRaceSuite): units of work run under its
// writer lock, so each round's transactions serialise there. STRATA_DCB_ROUNDS sets the rounds (100).
import { layer } from "@effect/vitest"
import { dcbRaceSuite } from "@strata/conformance"
import { MemoryStore } from "@strata/core"

layer(MemoryStore.layer(), { excludeTestServices: true })(
  "memory",
  (it) => dcbRaceSuite(it, { rounds: Number(process.env.STRATA_DCB_ROUNDS ?? 100) })
)
