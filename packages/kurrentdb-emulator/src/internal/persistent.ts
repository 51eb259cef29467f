/**
 * v1 PersistentSubscriptions (`event_store.client.persistent_subscriptions.PersistentSubscriptions`):
 * competing consumers kept by the server. A group reads one stream or `$all` (optionally filtered)
 * from its start point or its last checkpoint, and hands each event to one connected member at a
 * time, chosen by the group's consumer strategy, until it is acknowledged:
 *
 * - strategies: `RoundRobin` (the next member with free buffer slots), `DispatchToSingle` (the first
 *   member with free slots), `Pinned` / `PinnedByCorrelation` (a hash of the event's stream, or of
 *   its `$correlationId`, picks the member, so one stream stays with one member);
 * - `ack` settles an event; `nack` retries it (retry count + 1), skips it, parks it, or stops the
 *   member; an event not settled within `messageTimeout` is retried; one retried more than
 *   `maxRetryCount` times is parked; a member that leaves gives its events back, to be retried;
 * - parked events are `$>` links in `$persistentsubscription-<source>::<group>-parked`;
 *   `ReplayParked` sends them again (up to `stopAt`) and truncates the parked stream past them;
 * - the checkpoint (every event before it settled) is written to
 *   `$persistentsubscription-<source>::<group>-checkpoint` as `$SubscriptionCheckpoint` once
 *   `checkPointLowerBound` events were settled and `checkPointAfter` passed, or at once after
 *   `checkPointUpperBound`; a restarted group resumes after it, so delivery is at least once.
 *
 * Transcribed from src/KurrentDB.Core/Services/PersistentSubscription/ (PersistentSubscription.cs,
 * the consumer strategies, PersistentSubscriptionMessageParker.cs, PersistentSubscriptionCheckpointWriter.cs)
 * and the gRPC surface in src/KurrentDB.Core/Services/Transport/Grpc/PersistentSubscriptions.*.cs,
 * RpcExceptions.cs. Group definitions are kept in memory (the server keeps them in
 * `$persistentSubscriptionConfig`); live and history buffers are not modelled.
 */
import * as grpc from "@grpc/grpc-js"
import type { Recorded } from "../Database.ts"
import * as P from "../protocol.ts"
import { filterFrom, identifierOf, streamName, uuidMessage, uuidString } from "./codec.ts"
import type { HandlerContext } from "./context.ts"
import { unavailable } from "./errors.ts"
import { linkTo, notALink, resolveLink } from "./reads.ts"

type PS = typeof P.persistent
type ReadReq = InstanceType<PS["ReadReq"]>
type ReadResp = InstanceType<PS["ReadResp"]>
type CreateSettings = InstanceType<PS["CreateReq"]["Settings"]>
type UpdateSettings = InstanceType<PS["UpdateReq"]["Settings"]>

/** Where a group starts when it has no checkpoint. */
type StartFrom = { readonly _tag: "Start" } | { readonly _tag: "End" } | { readonly _tag: "At"; readonly at: bigint }

interface Settings {
  readonly resolveLinks: boolean
  readonly extraStatistics: boolean
  readonly maxRetryCount: number
  readonly minCheckpointCount: number
  readonly maxCheckpointCount: number
  /** 0 is unbounded. */
  readonly maxSubscriberCount: number
  readonly liveBufferSize: number
  readonly readBatchSize: number
  readonly historyBufferSize: number
  readonly messageTimeoutMs: number
  readonly checkpointAfterMs: number
  readonly strategy: string
}

/** One event handed to a member and not settled yet. */
interface InFlight {
  readonly record: Recorded
  /** Its place in the source: the stream revision, or the index in the log for `$all`. */
  readonly seq: number
  retryCount: number
  member: Member | undefined
  due: number
  sentAt: number
}

interface Member {
  readonly call: grpc.ServerDuplexStream<ReadReq, ReadResp>
  readonly bufferSize: number
  readonly from: string
  readonly username: string
  readonly connectionName: string
  readonly structured: boolean
  inFlight: number
  totalItems: number
  /** Milliseconds from sending to acknowledging, for the extra statistics. */
  readonly latencies: Array<number>
}

interface Group {
  readonly source: string
  readonly name: string
  settings: Settings
  startFrom: StartFrom
  readonly filter: ((event: Recorded) => boolean) | undefined
  /** The next place in the source to read. */
  cursor: number
  readonly inFlight: Map<string, InFlight>
  readonly retries: Array<InFlight>
  readonly members: Array<Member>
  roundRobin: number
  settledSinceCheckpoint: number
  lastCheckpointAt: number
  lastCheckpoint: string | undefined
  totalItems: number
  timer: ReturnType<typeof setInterval> | undefined
}

const all = "$all"
const keyOf = (source: string, group: string) => `${source}::${group}`
const parkedStreamOf = (group: Group) => `$persistentsubscription-${keyOf(group.source, group.name)}-parked`
const checkpointStreamOf = (group: Group) => `$persistentsubscription-${keyOf(group.source, group.name)}-checkpoint`

const exception = (code: grpc.status, details: string, entries: Record<string, string>): grpc.ServiceError => {
  const metadata = new grpc.Metadata()
  for (const [key, value] of Object.entries(entries)) metadata.set(key, value)
  return Object.assign(new Error(details), { code, details, metadata })
}

/** `RpcExceptions.PersistentSubscriptionDoesNotExist`. */
const doesNotExist = (source: string, group: string) =>
  exception(grpc.status.NOT_FOUND, `Subscription group ${group} on stream ${source} does not exist.`, {
    exception: "persistent-subscription-does-not-exist",
    "stream-name": source,
    "group-name": group
  })

/** `RpcExceptions.PersistentSubscriptionExists`. */
const exists = (source: string, group: string) =>
  exception(grpc.status.ALREADY_EXISTS, `Subscription group ${group} on stream ${source} exists.`, {
    exception: "persistent-subscription-exists",
    "stream-name": source,
    "group-name": group
  })

/** `RpcExceptions.PersistentSubscriptionMaximumSubscribersReached`. */
const maximumSubscribers = (source: string, group: string) =>
  exception(
    grpc.status.FAILED_PRECONDITION,
    `Maximum subscriptions reached for subscription group ${group} on stream ${source}.`,
    { exception: "maximum-subscribers-reached", "stream-name": source, "group-name": group }
  )

/** `RpcExceptions.PersistentSubscriptionDropped`. */
const dropped = (source: string, group: string) =>
  exception(grpc.status.CANCELLED, `Subscription group ${group} on stream ${source} was dropped.`, {
    exception: "persistent-subscription-dropped",
    "stream-name": source,
    "group-name": group
  })

const strategyNames = ["DispatchToSingle", "RoundRobin", "Pinned"] as const

const settingsOf = (settings: CreateSettings | UpdateSettings | undefined): Settings => {
  const named = settings === undefined
    ? "RoundRobin"
    : strategyNames[settings.getNamedConsumerStrategy()] ?? "RoundRobin"
  const custom = settings !== undefined && "getConsumerStrategy" in settings ? settings.getConsumerStrategy() : ""
  return {
    resolveLinks: settings?.getResolveLinks() ?? false,
    extraStatistics: settings?.getExtraStatistics() ?? false,
    maxRetryCount: settings?.getMaxRetryCount() ?? 10,
    minCheckpointCount: settings?.getMinCheckpointCount() ?? 10,
    maxCheckpointCount: settings?.getMaxCheckpointCount() ?? 1000,
    maxSubscriberCount: settings?.getMaxSubscriberCount() ?? 0,
    liveBufferSize: settings?.getLiveBufferSize() ?? 500,
    readBatchSize: settings?.getReadBatchSize() ?? 20,
    historyBufferSize: settings?.getHistoryBufferSize() ?? 500,
    messageTimeoutMs: settings?.hasMessageTimeoutMs()
      ? settings.getMessageTimeoutMs()
      : Number(BigInt(settings?.getMessageTimeoutTicks() ?? "300000000") / 10_000n),
    checkpointAfterMs: settings?.hasCheckpointAfterMs()
      ? settings.getCheckpointAfterMs()
      : Number(BigInt(settings?.getCheckpointAfterTicks() ?? "20000000") / 10_000n),
    strategy: custom !== "" ? custom : named
  }
}

/** The deprecated `settings.revision` the client always sends for streams: 0 start, 2^64-1 end. */
const streamStartOf = (revision: string): StartFrom =>
  revision === "0" ? { _tag: "Start" } : revision === "18446744073709551615" ? { _tag: "End" } : {
    _tag: "At",
    at: BigInt(revision)
  }

const allStartOf = (options: {
  hasPosition(): boolean
  getPosition(): { getCommitPosition(): string } | undefined
  hasStart(): boolean
}): StartFrom =>
  options.hasPosition()
    ? { _tag: "At", at: BigInt(options.getPosition()!.getCommitPosition()) }
    : options.hasStart()
    ? { _tag: "Start" }
    : { _tag: "End" }

/** The start point as GetInfo's `start_from` string (what the client parses back). */
const startString = (group: Group): string => {
  const start = group.startFrom
  if (group.source === all) {
    return start._tag === "Start" ? "C:0/P:0" : start._tag === "End" ? "C:-1/P:-1" : `C:${start.at}/P:${start.at}`
  }
  return start._tag === "Start" ? "0" : start._tag === "End" ? "-1" : start.at.toString()
}

/** A cheap stable hash (FNV-1a) for the pinned strategies. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * Who a member is: the Basic user when credentials came with the call, else `system`, as an insecure
 * node authenticates everyone (`PassthroughAuthenticationProvider` -> `SystemAccounts.System`). The
 * client never sends credentials over an insecure channel, so against the emulator it is `system`.
 */
const userOf = (metadata: grpc.Metadata): string => {
  const header = metadata.get("authorization")[0]
  if (typeof header !== "string" || !header.startsWith("Basic ")) return "system"
  return Buffer.from(header.slice(6), "base64").toString("utf8").split(":")[0] ?? "system"
}

/** The service, and `stop` to clear the groups' timers with the emulator. */
export const persistentService = (context: HandlerContext) => {
  const { database } = context
  const groups = new Map<string, Group>()

  /** The source's records from the cursor on: a stream as a stream read sees it, or the log. */
  const sourceAt = (group: Group, seq: number): Recorded | undefined => {
    if (group.source === all) return database.log[seq]
    return database.visible(group.source)?.find((event) => event.revision === BigInt(seq))
  }
  const sourceEnd = (group: Group): number =>
    group.source === all ? database.log.length : Number(database.lastEventNumber(group.source) + 1n)

  /** The first place a group reads, from its checkpoint or its start point. */
  const initialCursor = (group: Group): number => {
    const checkpoint = database.streams.get(checkpointStreamOf(group))?.events.at(-1)
    if (checkpoint !== undefined) {
      const value: unknown = JSON.parse(Buffer.from(checkpoint.data).toString("utf8"))
      group.lastCheckpoint = String(value)
      if (group.source !== all) return Number(value) + 1
      const commit = BigInt(/^C:(\d+)/.exec(String(value))?.[1] ?? "0")
      return database.log.findIndex((record) => record.position > commit) >>> 0
    }
    const start = group.startFrom
    if (start._tag === "Start") return 0
    if (start._tag === "End") return sourceEnd(group)
    if (group.source !== all) return Number(start.at)
    const index = database.log.findIndex((record) => record.position >= start.at)
    return index < 0 ? database.log.length : index
  }

  const checkpointValue = (group: Group, seq: number): string => {
    if (group.source !== all) return String(seq)
    const position = database.log[seq]!.position
    return `C:${position}/P:${position}`
  }

  /** Every event before the oldest unsettled one is settled: that is the checkpoint. */
  const writeCheckpoint = (group: Group) => {
    let oldest = group.cursor
    for (const item of group.inFlight.values()) oldest = Math.min(oldest, item.seq)
    for (const item of group.retries) oldest = Math.min(oldest, item.seq)
    if (oldest <= 0) return
    const value = checkpointValue(group, oldest - 1)
    group.settledSinceCheckpoint = 0
    group.lastCheckpointAt = Date.now()
    if (value === group.lastCheckpoint) return
    group.lastCheckpoint = value
    database.write([{
      stream: checkpointStreamOf(group),
      expected: -2n,
      events: [{
        id: crypto.randomUUID(),
        type: "$SubscriptionCheckpoint",
        contentType: "application/json",
        data: Buffer.from(JSON.stringify(group.source === all ? value : Number(value)), "utf8"),
        metadata: new Uint8Array()
      }]
    }])
  }

  const settled = (group: Group) => {
    group.settledSinceCheckpoint++
    if (group.settledSinceCheckpoint >= group.settings.maxCheckpointCount) writeCheckpoint(group)
  }

  /** `PersistentSubscriptionMessageParker`: a link to the event, with why, in the parked stream. */
  const park = (group: Group, item: InFlight, reason: string) => {
    const record = item.record
    database.write([{
      stream: parkedStreamOf(group),
      expected: -2n,
      events: [{
        id: crypto.randomUUID(),
        type: linkTo,
        contentType: "application/octet-stream",
        data: Buffer.from(`${record.revision}@${record.stream}`, "utf8"),
        metadata: Buffer.from(
          JSON.stringify({ Added: new Date().toISOString(), Reason: reason, SubscriptionEventNumber: item.seq }),
          "utf8"
        )
      }]
    }])
    settled(group)
  }

  const retry = (group: Group, item: InFlight, reason: string) => {
    item.retryCount++
    item.member = undefined
    if (item.retryCount > group.settings.maxRetryCount) park(group, item, reason)
    else group.retries.push(item)
  }

  const send = (group: Group, member: Member, item: InFlight) => {
    const record = item.record
    const event = new P.persistent.ReadResp.ReadEvent()
    const target = group.settings.resolveLinks && record.type === linkTo ? resolveLink(context, record) : notALink
    if (target === notALink) event.setEvent(recordedEvent(record, member.structured))
    else {
      if (target !== undefined) event.setEvent(recordedEvent(target, member.structured))
      event.setLink(recordedEvent(record, member.structured))
    }
    event.setCommitPosition(record.position.toString())
    event.setRetryCount(item.retryCount)
    member.inFlight++
    item.member = member
    item.sentAt = Date.now()
    item.due = item.sentAt + group.settings.messageTimeoutMs
    group.inFlight.set(record.id, item)
    member.call.write(new P.persistent.ReadResp().setEvent(event))
  }

  /** The member a record goes to under the group's strategy, if one has a free slot. */
  const choose = (group: Group, record: Recorded): Member | undefined => {
    const members = group.members
    if (members.length === 0) return undefined
    const free = (member: Member) => member.inFlight < member.bufferSize
    const strategy = group.settings.strategy
    if (strategy === "Pinned" || strategy === "PinnedByCorrelation") {
      let key = record.stream
      if (strategy === "PinnedByCorrelation") {
        try {
          const correlation = JSON.parse(Buffer.from(record.metadata).toString("utf8"))?.$correlationId
          if (typeof correlation === "string") key = correlation
        } catch {
          // not JSON: pinned by stream
        }
      }
      const member = members[hash(key) % members.length]
      return free(member) ? member : undefined
    }
    if (strategy === "DispatchToSingle") return members.find(free)
    for (let i = 0; i < members.length; i++) {
      const member = members[(group.roundRobin + i) % members.length]
      if (free(member)) {
        group.roundRobin = (group.roundRobin + i + 1) % members.length
        return member
      }
    }
    return undefined
  }

  /** Hands out retries first, then new events from the source, while members have room. */
  const pump = (group: Group) => {
    if (group.members.length === 0) return
    while (group.retries.length > 0) {
      const item = group.retries[0]
      const member = choose(group, item.record)
      if (member === undefined) return
      group.retries.shift()
      send(group, member, item)
    }
    const end = sourceEnd(group)
    while (group.cursor < end) {
      const record = sourceAt(group, group.cursor)
      if (record === undefined || (group.filter !== undefined && !group.filter(record))) {
        group.cursor++
        continue
      }
      if (group.inFlight.has(record.id)) {
        group.cursor++
        continue
      }
      const member = choose(group, record)
      if (member === undefined) return
      group.cursor++
      group.totalItems++
      send(group, member, { record, seq: group.cursor - 1, retryCount: 0, member, due: 0, sentAt: 0 })
    }
  }

  const tick = (group: Group) => {
    const now = Date.now()
    for (const item of [...group.inFlight.values()]) {
      if (item.due > now || item.member === undefined) continue
      item.member.inFlight--
      group.inFlight.delete(item.record.id)
      retry(group, item, "Max retry count exceeded after message timeout")
    }
    if (
      group.settledSinceCheckpoint >= Math.max(1, group.settings.minCheckpointCount) &&
      now - group.lastCheckpointAt >= group.settings.checkpointAfterMs
    ) writeCheckpoint(group)
    pump(group)
  }

  const load = (group: Group) => {
    group.cursor = initialCursor(group)
    group.timer = setInterval(() => tick(group), 100)
    group.timer.unref()
  }

  const unload = (group: Group, error: grpc.ServiceError) => {
    if (group.timer !== undefined) clearInterval(group.timer)
    for (const member of group.members.splice(0)) member.call.emit("error", error)
    group.inFlight.clear()
    group.retries.length = 0
  }

  /**
   * `SaveConfiguration`: every change of the groups writes the whole configuration as one
   * `$PersistentConfig` event to `$persistentSubscriptionConfig` (kept with `$maxCount: 2`), after
   * the group is loaded, so a group on `$all` from its end sees that record.
   */
  const saveConfiguration = (username: string) => {
    const stream = "$persistentSubscriptionConfig"
    const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8")
    const parts = []
    if (database.metadata(stream) === undefined) {
      parts.push({
        stream: `$$${stream}`,
        expected: -2n,
        events: [{
          id: crypto.randomUUID(),
          type: "$metadata",
          contentType: "application/json",
          data: json({ $maxCount: 2 }),
          metadata: new Uint8Array()
        }]
      })
    }
    const entries = [...groups.values()].map((group) => ({
      Stream: group.source,
      Group: group.name,
      ResolveLinkTos: group.settings.resolveLinks,
      CheckPointAfter: group.settings.checkpointAfterMs,
      ExtraStatistics: group.settings.extraStatistics,
      HistoryBufferSize: group.settings.historyBufferSize,
      LiveBufferSize: group.settings.liveBufferSize,
      MaxCheckPointCount: group.settings.maxCheckpointCount,
      MinCheckPointCount: group.settings.minCheckpointCount,
      MaxRetryCount: group.settings.maxRetryCount,
      ReadBatchSize: group.settings.readBatchSize,
      MaxSubscriberCount: group.settings.maxSubscriberCount,
      MessageTimeout: group.settings.messageTimeoutMs,
      NamedConsumerStrategy: group.settings.strategy,
      StartPosition: startString(group)
    }))
    parts.push({
      stream,
      expected: -2n,
      events: [{
        id: crypto.randomUUID(),
        type: "$PersistentConfig",
        contentType: "application/json",
        data: json({ Version: "2", Updated: new Date().toISOString(), UpdatedBy: username, Entries: entries }),
        metadata: new Uint8Array()
      }]
    })
    database.write(parts)
  }

  const onCommit = () => {
    for (const group of groups.values()) pump(group)
  }
  database.events.on("commit", onCommit)

  const leave = (group: Group, member: Member) => {
    const index = group.members.indexOf(member)
    if (index < 0) return
    group.members.splice(index, 1)
    // Its unsettled events go back to be retried by the others.
    for (const item of [...group.inFlight.values()]) {
      if (item.member !== member) continue
      group.inFlight.delete(item.record.id)
      retry(group, item, "Client disconnected")
    }
    pump(group)
  }

  const settle = (group: Group, member: Member, ids: ReadonlyArray<string>, action: "ack" | number, reason: string) => {
    const Action = P.persistent.ReadReq.Nack.Action
    for (const id of ids) {
      const item = group.inFlight.get(id)
      if (item === undefined || item.member !== member) continue
      group.inFlight.delete(id)
      member.inFlight--
      if (action === "ack") {
        member.totalItems++
        member.latencies.push(Date.now() - item.sentAt)
        if (member.latencies.length > 1000) member.latencies.shift()
        settled(group)
      } else if (action === Action.PARK) park(group, item, reason)
      else if (action === Action.SKIP) settled(group)
      else if (action === Action.STOP) {
        retry(group, item, reason)
        leave(group, member)
        member.call.end()
        return
      } else retry(group, item, reason)
    }
    pump(group)
  }

  const refuse = (callback: grpc.sendUnaryData<unknown>, error: grpc.ServiceError) => callback(error)
  const guard = <Req, Res>(
    handler: (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void
  ) =>
  (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) =>
    context.faults.unavailable
      ? refuse(callback as grpc.sendUnaryData<unknown>, unavailable())
      : handler(call, callback)

  const info = (group: Group) => {
    const message = new P.persistent.SubscriptionInfo()
    const s = group.settings
    message.setEventSource(group.source)
    message.setGroupName(group.name)
    message.setStatus(group.cursor >= sourceEnd(group) ? "Live" : "Behind")
    message.setAveragePerSecond(0)
    message.setTotalItems(String(group.totalItems))
    message.setCountSinceLastMeasurement("0")
    message.setLastCheckpointedEventPosition(group.lastCheckpoint ?? "")
    const end = sourceEnd(group)
    message.setLastKnownEventPosition(end > 0 && group.cursor > 0 ? checkpointValue(group, end - 1) : "")
    message.setResolveLinkTos(s.resolveLinks)
    message.setStartFrom(startString(group))
    message.setMessageTimeoutMilliseconds(s.messageTimeoutMs)
    message.setExtraStatistics(s.extraStatistics)
    message.setMaxRetryCount(s.maxRetryCount)
    message.setLiveBufferSize(s.liveBufferSize)
    message.setBufferSize(s.historyBufferSize)
    message.setReadBatchSize(s.readBatchSize)
    message.setCheckPointAfterMilliseconds(s.checkpointAfterMs)
    message.setMinCheckPointCount(s.minCheckpointCount)
    message.setMaxCheckPointCount(s.maxCheckpointCount)
    message.setReadBufferCount(0)
    message.setLiveBufferCount("0")
    message.setRetryBufferCount(group.retries.length)
    message.setTotalInFlightMessages(group.inFlight.size)
    message.setOutstandingMessagesCount(group.inFlight.size)
    message.setNamedConsumerStrategy(s.strategy)
    message.setMaxSubscriberCount(s.maxSubscriberCount)
    message.setParkedMessageCount(String(database.visible(parkedStreamOf(group))?.length ?? 0))
    for (const member of group.members) {
      const connection = new P.persistent.SubscriptionInfo.ConnectionInfo()
      connection.setFrom(member.from)
      connection.setUsername(member.username)
      connection.setAverageItemsPerSecond(0)
      connection.setTotalItems(String(member.totalItems))
      connection.setCountSinceLastMeasurement("0")
      connection.setAvailableSlots(member.bufferSize - member.inFlight)
      connection.setInFlightMessages(member.inFlight)
      connection.setConnectionName(member.connectionName)
      if (s.extraStatistics) {
        // The latency measurements PersistentSubscriptionConnectionStats reports with extra statistics.
        const sorted = [...member.latencies].sort((a, b) => a - b)
        const at = (q: number) =>
          String(sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))])
        const measurements: Array<[string, string]> = [
          ["Mean", String(sorted.length === 0 ? 0 : Math.round(sorted.reduce((a, b) => a + b, 0) / sorted.length))],
          ["Median", at(0.5)],
          ["Fastest", at(0)],
          ...[1, 2, 3, 4, 5].map((q): [string, string] => [`Quintile ${q}`, at(q / 5 - 0.0001)]),
          ["90", at(0.9)],
          ["95", at(0.95)],
          ["99", at(0.99)],
          ["99.5", at(0.995)],
          ["99.9", at(0.999)],
          ["Highest", at(1)]
        ]
        for (const [key, value] of measurements) {
          connection.addObservedMeasurements(
            new P.persistent.SubscriptionInfo.Measurement().setKey(key).setValue(value)
          )
        }
      }
      message.addConnections(connection)
    }
    return message
  }

  const sourceOfOptions = (
    options: { hasAll?(): boolean; getStreamIdentifier(): InstanceType<typeof P.shared.StreamIdentifier> | undefined }
  ) => options.hasAll?.() === true ? all : streamName(options.getStreamIdentifier())

  return {
    stop: () => {
      database.events.off("commit", onCommit)
      for (const group of groups.values()) if (group.timer !== undefined) clearInterval(group.timer)
    },
    service: {
      create: guard<InstanceType<PS["CreateReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()!
        const allOptions = options.getAll()
        const source = allOptions !== undefined
          ? all
          : streamName(options.getStreamIdentifier() ?? options.getStream()?.getStreamIdentifier())
        const name = options.getGroupName()
        if (groups.has(keyOf(source, name))) return callback(exists(source, name))
        const filterOptions = allOptions?.getFilter()
        const group: Group = {
          source,
          name,
          settings: settingsOf(options.getSettings()),
          startFrom: allOptions !== undefined
            ? allStartOf(allOptions)
            : streamStartOf(options.getSettings()?.getRevision() ?? "18446744073709551615"),
          filter: filterOptions === undefined ? undefined : filterFrom(filterOptions),
          cursor: 0,
          inFlight: new Map(),
          retries: [],
          members: [],
          roundRobin: 0,
          settledSinceCheckpoint: 0,
          lastCheckpointAt: Date.now(),
          lastCheckpoint: undefined,
          totalItems: 0,
          timer: undefined
        }
        groups.set(keyOf(source, name), group)
        load(group)
        saveConfiguration(userOf(call.metadata))
        callback(null, new P.persistent.CreateResp())
      }),
      update: guard<InstanceType<PS["UpdateReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()!
        const allOptions = options.getAll()
        const source = allOptions !== undefined
          ? all
          : streamName(options.getStreamIdentifier() ?? options.getStream()?.getStreamIdentifier())
        const name = options.getGroupName()
        const group = groups.get(keyOf(source, name))
        if (group === undefined) return callback(doesNotExist(source, name))
        // An update restarts the group with the new settings: its members are dropped and reconnect.
        unload(group, dropped(source, name))
        group.settings = settingsOf(options.getSettings())
        group.startFrom = allOptions !== undefined
          ? allStartOf(allOptions)
          : streamStartOf(options.getSettings()?.getRevision() ?? "18446744073709551615")
        load(group)
        saveConfiguration(userOf(call.metadata))
        callback(null, new P.persistent.UpdateResp())
      }),
      delete: guard<InstanceType<PS["DeleteReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()!
        const source = sourceOfOptions(options)
        const name = options.getGroupName()
        const group = groups.get(keyOf(source, name))
        if (group === undefined) return callback(doesNotExist(source, name))
        groups.delete(keyOf(source, name))
        unload(group, dropped(source, name))
        saveConfiguration(userOf(call.metadata))
        callback(null, new P.persistent.DeleteResp())
      }),
      getInfo: guard<InstanceType<PS["GetInfoReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()!
        const source = sourceOfOptions(options)
        const name = options.getGroupName()
        const group = groups.get(keyOf(source, name))
        if (group === undefined) return callback(doesNotExist(source, name))
        callback(null, new P.persistent.GetInfoResp().setSubscriptionInfo(info(group)))
      }),
      list: guard<InstanceType<PS["ListReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()
        const forStream = options?.getListForStream()
        const source = forStream === undefined
          ? undefined
          : forStream.hasAll()
          ? all
          : streamName(forStream.getStream())
        const listed = [...groups.values()].filter((group) => source === undefined || group.source === source)
        // The server answers a stream with no groups as "does not exist" (PersistentSubscriptions.List.cs).
        if (source !== undefined && listed.length === 0) return callback(doesNotExist(source, ""))
        const response = new P.persistent.ListResp()
        for (const group of listed) response.addSubscriptions(info(group))
        callback(null, response)
      }),
      replayParked: guard<InstanceType<PS["ReplayParkedReq"]>, unknown>((call, callback) => {
        const options = call.request.getOptions()!
        const source = sourceOfOptions(options)
        const name = options.getGroupName()
        const group = groups.get(keyOf(source, name))
        if (group === undefined) return callback(doesNotExist(source, name))
        const parked = database.visible(parkedStreamOf(group)) ?? []
        const limit = options.hasStopAt() ? Number(options.getStopAt()) : parked.length
        const replayed = parked.slice(0, limit)
        for (const link of replayed) {
          const target = resolveLink(context, link)
          if (target === notALink || target === undefined) continue
          const seq = group.source === all ? database.log.indexOf(target) : Number(target.revision)
          group.retries.push({
            record: target,
            seq: seq < 0 ? group.cursor : seq,
            retryCount: 0,
            member: undefined,
            due: 0,
            sentAt: 0
          })
        }
        if (replayed.length > 0) {
          // Replayed entries leave the parked stream: its $tb moves past them.
          const metadata = { ...database.metadata(parkedStreamOf(group)), $tb: Number(replayed.at(-1)!.revision + 1n) }
          database.write([{
            stream: `$$${parkedStreamOf(group)}`,
            expected: -2n,
            events: [{
              id: crypto.randomUUID(),
              type: "$metadata",
              contentType: "application/json",
              data: Buffer.from(JSON.stringify(metadata), "utf8"),
              metadata: new Uint8Array()
            }]
          }])
        }
        pump(group)
        callback(null, new P.persistent.ReplayParkedResp())
      }),
      restartSubsystem: guard<unknown, unknown>((_call, callback) => {
        for (const group of groups.values()) {
          unload(group, dropped(group.source, group.name))
          load(group)
        }
        callback(null, new P.shared.Empty())
      }),
      read: (call: grpc.ServerDuplexStream<ReadReq, ReadResp>) => {
        let joined: { group: Group; member: Member } | undefined
        const drop = () => {
          context.live.delete(drop)
          if (joined !== undefined) leave(joined.group, joined.member)
          call.emit("error", unavailable())
        }
        const close = () => {
          context.live.delete(drop)
          if (joined !== undefined) leave(joined.group, joined.member)
          joined = undefined
        }
        call.on("error", close)
        call.on("cancelled", close)
        call.on("end", () => {
          close()
          call.end()
        })
        if (context.faults.unavailable) return call.emit("error", unavailable())
        context.live.add(drop)
        call.on("data", (request: ReadReq) => {
          if (request.hasOptions()) {
            const options = request.getOptions()!
            const source = options.hasAll() ? all : streamName(options.getStreamIdentifier())
            const name = options.getGroupName()
            const group = groups.get(keyOf(source, name))
            if (group === undefined) return call.emit("error", doesNotExist(source, name))
            if (group.settings.maxSubscriberCount > 0 && group.members.length >= group.settings.maxSubscriberCount) {
              return call.emit("error", maximumSubscribers(source, name))
            }
            const peer = call.getPeer()
            const member: Member = {
              call,
              bufferSize: Math.max(1, options.getBufferSize()),
              from: peer,
              username: userOf(call.metadata),
              connectionName: String(call.metadata.get("connection-name")[0] ?? ""),
              structured: options.getUuidOption()?.hasStructured() ?? false,
              inFlight: 0,
              totalItems: 0,
              latencies: []
            }
            joined = { group, member }
            group.members.push(member)
            call.write(
              new P.persistent.ReadResp().setSubscriptionConfirmation(
                new P.persistent.ReadResp.SubscriptionConfirmation().setSubscriptionId(keyOf(source, name))
              )
            )
            return pump(group)
          }
          if (joined === undefined) return
          const { group, member } = joined
          if (request.hasAck()) {
            const ids = request.getAck()!.getIdsList().map((id) => (uuidString(id) ?? "").toLowerCase())
            return settle(group, member, ids, "ack", "")
          }
          if (request.hasNack()) {
            const nack = request.getNack()!
            const ids = nack.getIdsList().map((id) => (uuidString(id) ?? "").toLowerCase())
            return settle(group, member, ids, nack.getAction(), nack.getReason())
          }
        })
      }
    }
  }
}

const recordedEvent = (event: Recorded, structured: boolean) => {
  const recorded = new P.persistent.ReadResp.ReadEvent.RecordedEvent()
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
  return recorded
}
