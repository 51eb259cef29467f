import { suite } from "@strata/conformance"
import { D1Store } from "@strata/d1"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { D1TestDatabase } from "./utils.ts"

// The whole conformance suite on a real workerd D1 database from Miniflare. D1 runs every append as a
// batch over an RPC hop, so the one-stream contention test uses fewer appends per writer.
suite(
  "d1 (Miniflare)",
  Layer.unwrap(Effect.map(D1TestDatabase, ({ db }) => D1Store.layer({ db }))).pipe(Layer.provide(D1TestDatabase.layer)),
  { appendsPerWriter: 8, maxInteger: BigInt(Number.MAX_SAFE_INTEGER) }
)
