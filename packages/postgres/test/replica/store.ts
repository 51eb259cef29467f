// A Strata store whose writes go to the cluster's primary and whose reads go to its hot standbys
// (PgStore.layer with `replicas`), plus helpers the replica tests share: pausing a standby's replay
// and reading the settled row.
import { PgReplica, PgStore } from "@strata/postgres"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { ReplicaCluster } from "./cluster.ts"

export const storeLayer = (options: {
  readonly standbys: number
  readonly replicaTimeout?: Duration.Input | undefined
  readonly consistency?: PgReplica.Consistency | undefined
}) =>
  Layer.unwrap(Effect.map(Effect.service(ReplicaCluster), (cluster) =>
    PgStore.layer({
      url: Redacted.make(cluster.primaryUrl),
      replicas: cluster.standbyUrls.map((url) => Redacted.make(url)),
      replicaTimeout: options.replicaTimeout ?? "30 seconds",
      consistency: options.consistency
    }))).pipe(Layer.provideMerge(ReplicaCluster.layer(options.standbys)))

/** The i-th replica's client (a superuser connection to the standby). */
export const standby = (i = 0) => Effect.map(Effect.service(PgReplica.Replicas), (replicas) => replicas.replicas[i]!)

export const pause = (i = 0) =>
  Effect.flatMap(standby(i), (replica) => Effect.asVoid(replica.sql`SELECT pg_wal_replay_pause()`))

export const resume = (i = 0) =>
  Effect.flatMap(standby(i), (replica) => Effect.asVoid(replica.sql`SELECT pg_wal_replay_resume()`))

const settledOn = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ position: bigint | number }>`SELECT position FROM strata_settled`, ([row]) => BigInt(row!.position))

/** The settled row on the primary. */
export const primarySettled = Effect.flatMap(Effect.service(SqlClient.SqlClient), settledOn)

/** The settled row on the i-th standby. */
export const standbySettled = (i = 0) => Effect.flatMap(standby(i), (replica) => settledOn(replica.sql))
