/**
 * The KurrentDB client's own generated gRPC service definitions and protobuf messages, loaded once.
 * They are CommonJS (google-protobuf), so they are required, and typed from their `.d.ts` files.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const generated = "@kurrent/kurrentdb-client/generated/kurrentdb/protocols"

/** v1 Streams service (`event_store.client.streams.Streams`). */
export const streamsGrpc:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb.js") = require(
    `${generated}/v1/streams_grpc_pb.js`
  )
/** v1 Streams messages. */
export const streams: typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb.js") =
  require(`${generated}/v1/streams_pb.js`)
/** v1 shared messages (UUID, Empty, StreamIdentifier). */
export const shared: typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb.js") = require(
  `${generated}/v1/shared_pb.js`
)
/** google.rpc.Status as the client declares it. */
export const status: typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb.js") = require(
  `${generated}/v1/status_pb.js`
)
/** ServerFeatures service. */
export const featuresGrpc:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb.js") = require(
    `${generated}/v1/serverfeatures_grpc_pb.js`
  )
/** ServerFeatures messages. */
export const features:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb.js") = require(
    `${generated}/v1/serverfeatures_pb.js`
  )
/** v2 StreamsService (`kurrentdb.protocol.v2.streams.StreamsService`). */
export const streamsV2Grpc:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v2/streams/streams_grpc_pb.js") = require(
    `${generated}/v2/streams/streams_grpc_pb.js`
  )
/** v2 Streams messages. */
export const streamsV2:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v2/streams/streams_pb.js") = require(
    `${generated}/v2/streams/streams_pb.js`
  )
/** v2 Streams error details. */
export const errorsV2:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v2/streams/errors_pb.js") = require(
    `${generated}/v2/streams/errors_pb.js`
  )
/** google.protobuf.Any. */
export const any: typeof import("google-protobuf/google/protobuf/any_pb.js") = require(
  "google-protobuf/google/protobuf/any_pb.js"
)
/** google.protobuf.Timestamp. */
export const timestamp: typeof import("google-protobuf/google/protobuf/timestamp_pb.js") = require(
  "google-protobuf/google/protobuf/timestamp_pb.js"
)
/** google.protobuf.Empty. */
export const empty: typeof import("google-protobuf/google/protobuf/empty_pb.js") = require(
  "google-protobuf/google/protobuf/empty_pb.js"
)
/** google.protobuf.Duration. */
export const duration: typeof import("google-protobuf/google/protobuf/duration_pb.js") = require(
  "google-protobuf/google/protobuf/duration_pb.js"
)
/** google-protobuf's binary writer, for a detail message the client's generated code does not declare. */
export const jspb: typeof import("google-protobuf") = require("google-protobuf")
/** v1 PersistentSubscriptions service (`event_store.client.persistent_subscriptions.PersistentSubscriptions`). */
export const persistentGrpc:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/persistentsubscriptions_grpc_pb.js") =
    require(`${generated}/v1/persistentsubscriptions_grpc_pb.js`)
/** v1 PersistentSubscriptions messages. */
export const persistent:
  typeof import("@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/persistentsubscriptions_pb.js") = require(
    `${generated}/v1/persistentsubscriptions_pb.js`
  )
