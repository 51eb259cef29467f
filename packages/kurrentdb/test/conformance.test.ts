import { suite } from "@strata/conformance"
import { storeLayer } from "./utils.ts"

// The whole conformance suite through the real @kurrent/kurrentdb-client, on the in-repo emulator
// (or on the server named by KURRENTDB_URL). Each exception is a SuiteOptions flag, explained in the README.
suite(process.env.KURRENTDB_URL ? "kurrentdb (KURRENTDB_URL)" : "kurrentdb (emulator)", storeLayer(), {})
