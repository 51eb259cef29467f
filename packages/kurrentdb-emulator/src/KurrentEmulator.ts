/**
 * An in-process gRPC server that speaks KurrentDB's client protocol, for tests: the real
 * `@kurrent/kurrentdb-client` (grpc-js for writes and subscriptions, the Rust bridge for reads) connects
 * to it with an ordinary `kurrentdb://127.0.0.1:<port>?tls=false` connection string.
 *
 * Served: ServerFeatures/GetSupportedMethods, Streams Read (stream and $all, forwards and backwards,
 * filters, catch-up subscriptions with confirmation, caught-up and checkpoint messages), Append,
 * Delete, Tombstone, and the v2 StreamsService/AppendSession (multi-stream append). Not served:
 * BatchAppend (not advertised, so the client falls back to Append), persistent subscriptions,
 * projections, users, gossip, AppendRecords. See the package README for what is emulated how.
 *
 * @example
 * ```ts
 * const emulator = await KurrentEmulator.start()
 * const client = KurrentDBClient.connectionString(emulator.connectionString)
 * // ...
 * await emulator.stop()
 * ```
 *
 * @since 0.1.0
 */
import * as grpc from "@grpc/grpc-js"
import { Database, deletedStream, ExpectedVersion, type Proposed, type Recorded } from "./Database.ts"
import * as P from "./protocol.ts"

type ReadReq = InstanceType<typeof P.streams.ReadReq>
type ReadResp = InstanceType<typeof P.streams.ReadResp>

/**
 * Options of {@link start}.
 *
 * @category models
 * @since 0.1.0
 */
export interface EmulatorOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** The version ServerFeatures reports. Default "25.1.0" (the first with multi-stream appends). */
  readonly serverVersion?: string | undefined
  /** Whether the v2 AppendSession is served and advertised. Default true; false emulates a server before 25.1. */
  readonly multiStreamAppend?: boolean | undefined
}

/**
 * A running emulator.
 *
 * @category models
 * @since 0.1.0
 */
export interface KurrentEmulator {
  readonly port: number
  /** `kurrentdb://127.0.0.1:<port>?tls=false` */
  readonly connectionString: string
  readonly database: Database
  /** Refuses every call with UNAVAILABLE while true, like a node that went away. */
  unavailable: boolean
  readonly stop: () => Promise<void>
}

const metadata = (entries: Record<string, string>): grpc.Metadata => {
  const m = new grpc.Metadata()
  for (const [key, value] of Object.entries(entries)) m.set(key, value)
  return m
}

/** `RpcExceptions.StreamDeleted`. */
const streamDeleted = (stream: string): grpc.ServiceError =>
  Object.assign(new Error(`Event stream '${stream}' is deleted.`), {
    code: grpc.status.FAILED_PRECONDITION,
    details: `Event stream '${stream}' is deleted.`,
    metadata: metadata({ exception: "stream-deleted", "stream-name": stream })
  })

/** `RpcExceptions.WrongExpectedVersion`: `actual-version` is empty when the stream has no events. */
const wrongExpectedVersion = (
  operation: string,
  stream: string,
  expected: bigint,
  actual: bigint
): grpc.ServiceError => {
  const details =
    `${operation} failed due to WrongExpectedVersion. Stream: ${stream}, Expected version: ${expected}, Actual version: ${
      actual < 0n ? "" : actual
    }`
  return Object.assign(new Error(details), {
    code: grpc.status.FAILED_PRECONDITION,
    details,
    metadata: metadata({
      exception: "wrong-expected-version",
      "stream-name": stream,
      "expected-version": expected.toString(),
      "actual-version": actual < 0n ? "" : actual.toString()
    })
  })
}

const unavailable = (): grpc.ServiceError =>
  Object.assign(new Error("Server Is Not Ready"), {
    code: grpc.status.UNAVAILABLE,
    details: "Server Is Not Ready",
    metadata: new grpc.Metadata()
  })

/** A v2 error: the code, and a google.rpc.Status with one detail in `grpc-status-details-bin` (`RpcExceptions.FromError`). */
const richError = (
  code: grpc.status,
  message: string,
  typeName: string,
  detail: { serializeBinary(): Uint8Array }
): grpc.ServiceError => {
  const any = new P.any.Any()
  any.setTypeUrl(`type.googleapis.com/${typeName}`)
  any.setValue(detail.serializeBinary())
  const status = new P.status.Status()
  status.setCode(code as number as Parameters<typeof status.setCode>[0])
  status.setMessage(message)
  status.setDetails(any)
  const m = new grpc.Metadata()
  m.set("grpc-status-details-bin", Buffer.from(status.serializeBinary()))
  return Object.assign(new Error(message), { code, details: message, metadata: m })
}

const streamName = (identifier: InstanceType<typeof P.shared.StreamIdentifier> | undefined): string =>
  Buffer.from(identifier?.getStreamName_asU8() ?? new Uint8Array()).toString("utf8")

const identifierOf = (stream: string) => {
  const id = new P.shared.StreamIdentifier()
  id.setStreamName(Buffer.from(stream, "utf8"))
  return id
}

const uuidString = (uuid: InstanceType<typeof P.shared.UUID> | undefined): string | undefined => {
  if (uuid === undefined) return undefined
  if (uuid.hasString()) return uuid.getString()
  const structured = uuid.getStructured()
  if (structured === undefined) return undefined
  const hex = (v: string) => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, "0")
  const ms = hex(structured.getMostSignificantBits())
  const ls = hex(structured.getLeastSignificantBits())
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-${ms.slice(12)}-${ls.slice(0, 4)}-${ls.slice(4)}`
}

const uuidMessage = (id: string, structured: boolean) => {
  const uuid = new P.shared.UUID()
  if (!structured) {
    uuid.setString(id)
    return uuid
  }
  const hex = id.replace(/-/g, "")
  const s = new P.shared.UUID.Structured()
  s.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
  s.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString())
  uuid.setStructured(s)
  return uuid
}

/** The index of the first record whose position is at least `position` (binary search). */
const firstAtOrAfter = (log: ReadonlyArray<Recorded>, position: bigint): number => {
  let low = 0
  let high = log.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (log[mid].position < position) low = mid + 1
    else high = mid
  }
  return low
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Lower-cased, as .NET's `Guid.ToString()` writes it. */
const parseGuid = (id: string | undefined): string | undefined =>
  id !== undefined && uuidPattern.test(id) ? id.toLowerCase() : undefined

const readEvent = (event: Recorded, structured: boolean): ReadResp => {
  const recorded = new P.streams.ReadResp.ReadEvent.RecordedEvent()
  recorded.setId(uuidMessage(event.id, structured))
  recorded.setStreamIdentifier(identifierOf(event.stream))
  recorded.setStreamRevision(event.revision.toString())
  recorded.setPreparePosition(event.position.toString())
  recorded.setCommitPosition(event.position.toString())
  const map = recorded.getMetadataMap()
  map.set("type", event.type)
  map.set("content-type", event.contentType)
  map.set("created", event.created.toString())
  recorded.setCustomMetadata(event.metadata)
  recorded.setData(event.data)
  const read = new P.streams.ReadResp.ReadEvent()
  read.setEvent(recorded)
  read.setCommitPosition(event.position.toString())
  const resp = new P.streams.ReadResp()
  resp.setEvent(read)
  return resp
}

/** The $all filter of a read: stream-name or event-type, regex or prefixes (`EventFilter.Get`). */
const filterOf = (
  options: InstanceType<typeof P.streams.ReadReq.Options>
): ((event: Recorded) => boolean) | undefined => {
  if (!options.hasFilter()) return undefined
  const filter = options.getFilter()!
  const onStream = filter.hasStreamIdentifier()
  const expression = onStream ? filter.getStreamIdentifier() : filter.getEventType()
  if (expression === undefined) return undefined
  const prefixes = expression.getPrefixList()
  const regex = expression.getRegex() === "" ? undefined : new RegExp(expression.getRegex())
  return (event) => {
    const value = onStream ? event.stream : event.type
    return prefixes.length > 0 ? prefixes.some((prefix) => value.startsWith(prefix)) : regex?.test(value) ?? true
  }
}

const expectedOfAppend = (options: {
  hasRevision(): boolean
  getRevision(): string
  hasNoStream(): boolean
  hasStreamExists(): boolean
}): bigint =>
  options.hasRevision()
    ? BigInt(options.getRevision())
    : options.hasNoStream()
    ? ExpectedVersion.noStream
    : options.hasStreamExists()
    ? ExpectedVersion.streamExists
    : ExpectedVersion.any

const positionOf = <T extends { setCommitPosition(v: string): T; setPreparePosition(v: string): T }>(
  make: new() => T,
  position: bigint
): T => new make().setCommitPosition(position.toString()).setPreparePosition(position.toString())

/**
 * Starts an emulator on 127.0.0.1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (options: EmulatorOptions = {}): Promise<KurrentEmulator> => {
  const database = new Database()
  const server = new grpc.Server()
  const multiStream = options.multiStreamAppend ?? true
  const state = { unavailable: false }
  const live = new Set<() => void>()

  server.addService(P.featuresGrpc.ServerFeaturesService, {
    getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      const methods = new P.features.SupportedMethods()
      methods.setEventStoreServerVersion(options.serverVersion ?? "25.1.0")
      const add = (service: string, method: string) => {
        const m = new P.features.SupportedMethod()
        m.setServiceName(service)
        m.setMethodName(method)
        methods.addMethods(m)
      }
      for (const method of ["read", "append", "delete", "tombstone"]) add("event_store.client.streams.Streams", method)
      if (multiStream) add("kurrentdb.protocol.v2.streams.StreamsService", "appendsession")
      callback(null, methods)
    }
  })

  const handleRead = (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => {
    if (state.unavailable) return call.emit("error", unavailable())
    const options = call.request.getOptions()!
    const backwards = options.getReadDirection() === P.streams.ReadReq.Options.ReadDirection.BACKWARDS
    const structured = options.getUuidOption()?.hasStructured() ?? false
    const subscription = options.hasSubscription()
    const send = (resp: ReadResp) => call.write(resp)
    // Errors on server-streaming calls go through emit("error"): destroy() leaves the Rust reader waiting.
    const fail = (error: grpc.ServiceError) => call.emit("error", error)

    if (options.hasStream()) {
      const stream = streamName(options.getStream()!.getStreamIdentifier())
      if (database.isTombstoned(stream)) return fail(streamDeleted(stream))
      const revisionOption = options.getStream()!
      if (!subscription) {
        const count = BigInt(options.getCount())
        const visible = database.visible(stream)
        if (visible === undefined) {
          const resp = new P.streams.ReadResp()
          resp.setStreamNotFound(new P.streams.ReadResp.StreamNotFound().setStreamIdentifier(identifierOf(stream)))
          send(resp)
          return call.end()
        }
        const from = revisionOption.hasRevision()
          ? BigInt(revisionOption.getRevision())
          : revisionOption.hasEnd()
          ? deletedStream
          : backwards
          ? deletedStream
          : 0n
        const selected = backwards
          ? visible.filter((event) => event.revision <= from).reverse()
          : visible.filter((event) => event.revision >= from)
        for (const event of selected.slice(0, Number(count > 1_000_000_000n ? 1_000_000_000n : count))) {
          send(readEvent(event, structured))
        }
        return call.end()
      }
      // Subscription: confirmation, catch-up through the stream reader (retention applies), caught-up, live.
      send(new P.streams.ReadResp().setConfirmation(
        new P.streams.ReadResp.SubscriptionConfirmation().setSubscriptionId(crypto.randomUUID())
      ))
      let after = revisionOption.hasRevision()
        ? BigInt(revisionOption.getRevision())
        : revisionOption.hasEnd()
        ? database.lastEventNumber(stream)
        : -1n
      let caughtUp = false
      const pump = () => {
        if (database.isTombstoned(stream)) {
          cleanup()
          return fail(streamDeleted(stream))
        }
        for (const event of database.visible(stream) ?? []) {
          if (event.revision <= after) continue
          send(readEvent(event, structured))
          after = event.revision
        }
        if (!caughtUp) {
          caughtUp = true
          const message = new P.streams.ReadResp.CaughtUp()
          message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
          if (after >= 0n) message.setStreamRevision(after.toString())
          send(new P.streams.ReadResp().setCaughtUp(message))
        }
      }
      const cleanup = () => {
        database.events.off("commit", pump)
        live.delete(drop)
      }
      const drop = () => {
        cleanup()
        fail(unavailable())
      }
      database.events.on("commit", pump)
      live.add(drop)
      call.on("cancelled", cleanup)
      call.on("close", cleanup)
      return pump()
    }

    // $all
    const all = options.getAll()!
    const filter = filterOf(options)
    if (!subscription) {
      const count = Number(BigInt(options.getCount()) > 1_000_000_000n ? 1_000_000_000n : BigInt(options.getCount()))
      const from = all.hasPosition() ? BigInt(all.getPosition()!.getCommitPosition()) : undefined
      const log = database.log
      let sent = 0
      // The log is in position order: seek to the first record at or after `from`, as the index does.
      const seek = from === undefined ? undefined : firstAtOrAfter(log, from)
      if (backwards) {
        // Backwards from a position returns the records before it.
        const startAt = all.hasStart() ? -1 : seek === undefined ? log.length - 1 : seek - 1
        for (let i = startAt; i >= 0 && sent < count; i--) {
          const event = log[i]
          if (filter !== undefined && !filter(event)) continue
          send(readEvent(event, structured))
          sent++
        }
      } else {
        const startAt = all.hasEnd() ? log.length : seek ?? 0
        for (let i = startAt; i < log.length && sent < count; i++) {
          const event = log[i]
          if (filter !== undefined && !filter(event)) continue
          send(readEvent(event, structured))
          sent++
        }
      }
      return call.end()
    }
    send(new P.streams.ReadResp().setConfirmation(
      new P.streams.ReadResp.SubscriptionConfirmation().setSubscriptionId(crypto.randomUUID())
    ))
    // Subscriptions start after the given position; checkpoints every window x multiplier scanned events.
    const filterOptions = options.hasFilter() ? options.getFilter()! : undefined
    const window = filterOptions === undefined
      ? 0
      : (filterOptions.hasMax() ? filterOptions.getMax() : 32) *
        Math.max(1, filterOptions.getCheckpointintervalmultiplier())
    let index = 0
    if (all.hasEnd()) index = database.log.length
    else if (all.hasPosition()) {
      const after = BigInt(all.getPosition()!.getCommitPosition())
      index = firstAtOrAfter(database.log, after + 1n)
    }
    let caughtUp = false
    let scanned = 0
    const checkpoint = (event: Recorded) => {
      const message = new P.streams.ReadResp.Checkpoint()
      message.setCommitPosition(event.position.toString())
      message.setPreparePosition(event.position.toString())
      message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
      send(new P.streams.ReadResp().setCheckpoint(message))
    }
    const pump = () => {
      const log = database.log
      while (index < log.length) {
        const event = log[index++]
        if (filter === undefined || filter(event)) send(readEvent(event, structured))
        if (window > 0 && ++scanned % window === 0) checkpoint(event)
      }
      if (!caughtUp) {
        caughtUp = true
        if (window > 0 && log.length > 0) checkpoint(log[log.length - 1])
        const message = new P.streams.ReadResp.CaughtUp()
        message.setTimestamp(P.timestamp.Timestamp.fromDate(new Date()))
        if (index > 0) {
          message.setPosition(positionOf(P.streams.ReadResp.Position, log[index - 1].position))
        }
        send(new P.streams.ReadResp().setCaughtUp(message))
      }
    }
    const cleanup = () => {
      database.events.off("commit", pump)
      live.delete(drop)
    }
    const drop = () => {
      cleanup()
      call.emit("error", unavailable())
    }
    database.events.on("commit", pump)
    live.add(drop)
    call.on("cancelled", cleanup)
    call.on("close", cleanup)
    pump()
  }

  const appendResponse = (
    stream: string,
    expected: bigint,
    result: ReturnType<Database["write"]>
  ): InstanceType<typeof P.streams.AppendResp> | grpc.ServiceError => {
    if (!Array.isArray(result)) {
      const failure = result as Exclude<ReturnType<Database["write"]>, ReadonlyArray<unknown>>
      if (failure.decision._tag === "StreamDeleted") return streamDeleted(stream)
      const wrong = new P.streams.AppendResp.WrongExpectedVersion()
      const current = failure.decision.current
      if (current >= 0n) {
        wrong.setCurrentRevision(current.toString())
        wrong.setCurrentRevision2060(Number(current))
      } else {
        wrong.setCurrentNoStream(new P.shared.Empty())
        wrong.setNoStream2060(new P.shared.Empty())
      }
      if (expected >= 0n) wrong.setExpectedRevision(expected.toString())
      else if (expected === ExpectedVersion.noStream) wrong.setExpectedNoStream(new P.shared.Empty())
      else if (expected === ExpectedVersion.streamExists) wrong.setExpectedStreamExists(new P.shared.Empty())
      else wrong.setExpectedAny(new P.shared.Empty())
      return new P.streams.AppendResp().setWrongExpectedVersion(wrong)
    }
    const [written] = result as ReadonlyArray<{ last: bigint; position: bigint }>
    const success = new P.streams.AppendResp.Success()
    success.setCurrentRevision(written.last.toString())
    success.setPosition(positionOf(P.streams.AppendResp.Position, written.position))
    return new P.streams.AppendResp().setSuccess(success)
  }

  server.addService(P.streamsGrpc.StreamsService, {
    read: (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => {
      try {
        handleRead(call)
      } catch (error) {
        if (process.env.KURRENT_EMULATOR_DEBUG) console.error("emulator Read failed", error)
        call.emit("error", { code: grpc.status.INTERNAL, details: String(error), metadata: new grpc.Metadata() })
      }
    },
    append: (
      call: grpc.ServerReadableStream<InstanceType<typeof P.streams.AppendReq>, unknown>,
      callback: grpc.sendUnaryData<unknown>
    ) => {
      const messages: Array<InstanceType<typeof P.streams.AppendReq>> = []
      call.on("data", (message) => messages.push(message))
      call.on("error", () => {})
      call.on("end", () => {
        if (state.unavailable) return callback(unavailable())
        const header = messages[0]?.getOptions()
        if (header === undefined) {
          return callback(Object.assign(new Error("Options Expected"), {
            code: grpc.status.INVALID_ARGUMENT,
            details: "Options Expected",
            metadata: new grpc.Metadata()
          }))
        }
        const stream = streamName(header.getStreamIdentifier())
        const expected = expectedOfAppend(header)
        const events: Array<Proposed> = []
        for (const message of messages.slice(1)) {
          const proposed = message.getProposedMessage()!
          const id = parseGuid(uuidString(proposed.getId()))
          if (id === undefined) {
            // Uuid.FromDto fails on a malformed id before anything is written.
            return callback(Object.assign(new Error("Invalid event id"), {
              code: grpc.status.INVALID_ARGUMENT,
              details: "Invalid event id",
              metadata: new grpc.Metadata()
            }))
          }
          const map = proposed.getMetadataMap()
          events.push({
            id,
            type: map.get("type") ?? "",
            contentType: map.get("content-type") ?? "application/octet-stream",
            data: proposed.getData_asU8(),
            metadata: proposed.getCustomMetadata_asU8()
          })
        }
        const response = appendResponse(stream, expected, database.write([{ stream, expected, events }]))
        if (response instanceof Error) callback(response)
        else callback(null, response)
      })
    },
    delete: (
      call: grpc.ServerUnaryCall<InstanceType<typeof P.streams.DeleteReq>, unknown>,
      callback: grpc.sendUnaryData<unknown>
    ) => {
      if (state.unavailable) return callback(unavailable())
      const options = call.request.getOptions()!
      const stream = streamName(options.getStreamIdentifier())
      const expected = expectedOfAppend(options)
      const result = database.softDelete(stream, expected)
      if ("_tag" in result) {
        return callback(
          result._tag === "StreamDeleted"
            ? streamDeleted(stream)
            : wrongExpectedVersion("Delete", stream, expected, result.current)
        )
      }
      callback(null, new P.streams.DeleteResp().setPosition(positionOf(P.streams.DeleteResp.Position, result.position)))
    },
    tombstone: (
      call: grpc.ServerUnaryCall<InstanceType<typeof P.streams.TombstoneReq>, unknown>,
      callback: grpc.sendUnaryData<unknown>
    ) => {
      if (state.unavailable) return callback(unavailable())
      const options = call.request.getOptions()!
      const stream = streamName(options.getStreamIdentifier())
      const expected = expectedOfAppend(options)
      const result = database.tombstone(stream, expected)
      if ("_tag" in result) {
        return callback(
          result._tag === "StreamDeleted"
            ? streamDeleted(stream)
            : wrongExpectedVersion("Delete", stream, expected, result.current)
        )
      }
      callback(
        null,
        new P.streams.TombstoneResp().setPosition(positionOf(P.streams.TombstoneResp.Position, result.position))
      )
    },
    batchAppend: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "BatchAppend is not emulated" })
    }
  })

  if (multiStream) {
    server.addService(P.streamsV2Grpc.StreamsServiceService, {
      appendSession: (
        call: grpc.ServerReadableStream<InstanceType<typeof P.streamsV2.AppendRequest>, unknown>,
        callback: grpc.sendUnaryData<unknown>
      ) => {
        const requests: Array<InstanceType<typeof P.streamsV2.AppendRequest>> = []
        call.on("data", (message) => requests.push(message))
        call.on("error", () => {})
        call.on("end", () => {
          if (state.unavailable) return callback(unavailable())
          if (requests.length === 0) {
            return callback(Object.assign(new Error("Append session started, but no append requests were sent"), {
              code: grpc.status.INVALID_ARGUMENT,
              details: "Append session started, but no append requests were sent before ending the session.",
              metadata: new grpc.Metadata()
            }))
          }
          const seen = new Set<string>()
          const parts: Array<{ stream: string; expected: bigint; events: Array<Proposed> }> = []
          for (const request of requests) {
            const stream = request.getStream()
            // Streams are compared case-insensitively here (AppendRequestComparer), unlike everywhere else.
            if (seen.has(stream.toLowerCase())) {
              return callback(richError(
                grpc.status.ABORTED,
                `Stream '${stream}' already has a different group of messages in this session.`,
                "kurrentdb.protocol.v2.streams.errors.StreamAlreadyInAppendSessionErrorDetails",
                new P.errorsV2.StreamAlreadyInAppendSessionErrorDetails().setStream(stream)
              ))
            }
            seen.add(stream.toLowerCase())
            const expected = request.hasExpectedRevision()
              ? BigInt(request.getExpectedRevision() ?? "-2")
              : ExpectedVersion.any
            const events: Array<Proposed> = []
            for (const record of request.getRecordsList()) {
              const id = record.hasRecordId() ? parseGuid(record.getRecordId()) : crypto.randomUUID()
              if (id === undefined) {
                return callback(Object.assign(new Error("Invalid record id"), {
                  code: grpc.status.INVALID_ARGUMENT,
                  details: `Record id '${record.getRecordId()}' is not a valid UUID`,
                  metadata: new grpc.Metadata()
                }))
              }
              const schema = record.getSchema()
              const json = schema?.getFormat() === 1
              // Properties become the event metadata, rendered as JSON with the schema name and format
              // (EventRecord.SynthesizeMetadataFromProperties).
              const properties: Record<string, unknown> = {}
              for (const [key, value] of record.getPropertiesMap().entries()) properties[key] = value.toJavaScript()
              properties["$schema.name"] = schema?.getName() ?? ""
              properties["$schema.format"] = json ? "Json" : String(schema?.getFormat() ?? "Bytes")
              events.push({
                id,
                type: schema?.getName() ?? "",
                contentType: json ? "application/json" : "application/octet-stream",
                data: record.getData_asU8(),
                metadata: Buffer.from(JSON.stringify(properties), "utf8")
              })
            }
            parts.push({ stream: request.getStream(), expected, events })
          }
          const result = database.write(parts)
          if (!Array.isArray(result)) {
            const failure = result as Exclude<ReturnType<Database["write"]>, ReadonlyArray<unknown>>
            if (failure.decision._tag === "StreamDeleted") {
              // The v2 API reports every StreamDeleted result as a tombstone (StreamsService.MapToError).
              return callback(richError(
                grpc.status.FAILED_PRECONDITION,
                `Stream '${failure.stream}' has been tombstoned.`,
                "kurrentdb.protocol.v2.streams.errors.StreamTombstonedErrorDetails",
                new P.errorsV2.StreamTombstonedErrorDetails().setStream(failure.stream)
              ))
            }
            return callback(richError(
              grpc.status.FAILED_PRECONDITION,
              `Append failed due to a revision conflict on stream '${failure.stream}'.`,
              "kurrentdb.protocol.v2.streams.errors.StreamRevisionConflictErrorDetails",
              new P.errorsV2.StreamRevisionConflictErrorDetails()
                .setStream(failure.stream)
                .setExpectedRevision(failure.expected.toString())
                .setActualRevision(failure.decision.current.toString())
            ))
          }
          const response = new P.streamsV2.AppendSessionResponse()
          let position = -1n
          for (const written of result as ReadonlyArray<{ stream: string; last: bigint; position: bigint }>) {
            response.addOutput(
              new P.streamsV2.AppendResponse().setStream(written.stream).setStreamRevision(written.last.toString())
            )
            if (written.position > position) position = written.position
          }
          response.setPosition(position.toString())
          callback(null, response)
        })
      }
    })
  }

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${options.port ?? 0}`,
      grpc.ServerCredentials.createInsecure(),
      (error, port) => error === null ? resolve(port) : reject(error)
    )
  )

  const emulator: KurrentEmulator = {
    port,
    connectionString: `kurrentdb://127.0.0.1:${port}?tls=false`,
    database,
    get unavailable() {
      return state.unavailable
    },
    set unavailable(value: boolean) {
      state.unavailable = value
      // Going away drops every live subscription, as a node restart would.
      if (value) { for (const drop of [...live]) drop() }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const drop of [...live]) drop()
        server.tryShutdown(() => resolve())
        setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, 1_000).unref()
      })
  }
  return emulator
}
