/**
 * The contract between the server core and the bridges (hypervisor, VNC,
 * terminal, host monitor). The core owns sockets, auth, validation, limits,
 * auditing and the reply rule; a bridge only declares the message types and
 * topics it serves and handles already-validated, already-authorised data.
 */
import type { ErrorCode } from '../../shared/errors.js'
import type { ClientMessageData, ClientMessageType, Role, ServerPushes, Topic } from '../../shared/protocol.js'

/** Thrown by handlers; the core turns it into an `error` reply with the request's id. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { vmId?: string; details?: string; field?: string } = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Who sent a message, and what they may touch. */
export interface Principal {
  readonly userId: string
  readonly username: string
  readonly role: Role
  /** True when the user's grants match this VM name (glob patterns; '*' = all). */
  canAccessVm(vmName: string): boolean
}

/**
 * What a message needs: `view` (viewer+), `control` (operator+: vm-control),
 * `console` (operator+: VNC and terminals), `admin`.
 */
export type Permission = 'view' | 'control' | 'console' | 'admin'

/** One authenticated client socket, as the bridges see it. */
export interface ClientConnection {
  readonly id: string
  readonly principal: Principal
  /**
   * Sends a push (no id). Returns false when the socket is closed. One data
   * object pushed to many sockets in one synchronous run is serialised once
   * (timestamp included), so do not mutate it between those pushes.
   */
  push<T extends keyof ServerPushes>(type: T, data: ServerPushes[T]): boolean
  /**
   * Sends the push `{...data, [field]: bytes as base64}` (field last), the same
   * frame push would send, without running the large base64 string through
   * JSON.stringify (vnc-data). Returns false when the socket is closed.
   */
  pushBase64<T extends keyof ServerPushes, K extends keyof ServerPushes[T] & string>(
    type: T,
    data: Omit<ServerPushes[T], K>,
    field: K,
    bytes: Uint8Array,
  ): boolean
  /**
   * Sends a push that may be dropped and replaced: when the socket is backed up,
   * only the newest push per `key` is kept (latest-wins status updates).
   */
  pushLatest<T extends keyof ServerPushes>(key: string, type: T, data: ServerPushes[T]): void
  /** Bytes queued on the socket and not yet written to the network. */
  readonly bufferedAmount: number
  /** Calls back once bufferedAmount has fallen below the low-water mark. */
  onDrain(cb: () => void): void
  /** Calls back when the socket closes (sessions end with their socket). */
  onClose(cb: () => void): void
  /** Counts an open session against the per-socket cap; throws SESSION_LIMIT when full. Returns the release function. */
  acquireSession(kind: 'vnc' | 'terminal'): () => void
}

export interface AuditEntry {
  action: string
  vmId?: string
  result: 'ok' | 'denied' | 'error'
  detail?: string
}

export interface HandlerContext {
  readonly conn: ClientConnection
  readonly principal: Principal
  /** The request's id, when the client sent one. */
  readonly requestId?: string | number
  /** Writes one audit-log line (who is filled in). Never pass secrets. */
  audit(entry: AuditEntry): void
}

export interface MessageHandler<T extends ClientMessageType = ClientMessageType> {
  type: T
  permission: Permission
  /** The VM the message targets, for the grant check (a name or UUID; the core resolves it through `resolveVm`). */
  vmIdOf?(data: ClientMessageData<T>): string | undefined
  /** Returns the reply's data, sent as `<type>-response` with the request's id. */
  handle(data: ClientMessageData<T>, ctx: HandlerContext): Promise<object> | object
}

/**
 * Types a handler for one message type and widens it for `Bridge.handlers`
 * (the handler's parameter types make a plain assignment fail to type-check).
 */
export function defineHandler<T extends ClientMessageType>(handler: MessageHandler<T>): MessageHandler {
  return handler as unknown as MessageHandler
}

export interface Subscription {
  /** The subscribe-response data (`topic`, `vmId?`, `interval?`). */
  response: { topic: Topic; vmId?: string; interval?: number }
  /** Stops the pushes; called on unsubscribe and when the socket closes. */
  close(): void
}

export interface TopicProvider {
  topic: Topic
  permission: Permission
  subscribe(
    data: { topic: Topic; vmId?: string; interval?: number },
    ctx: HandlerContext,
  ): Promise<Subscription> | Subscription
}

/** A bridge plugs message handlers and topics into the server. */
export interface Bridge {
  readonly name: string
  handlers?: readonly MessageHandler[]
  topics?: readonly TopicProvider[]
  /**
   * Optional HTTP upgrade routes (e.g. the VNC fast path `/ws/vnc`): return
   * true when the bridge took the socket.
   */
  upgrade?(req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): boolean
  /** Maps a VM reference (name or UUID) to its name, for grant checks; undefined if unknown. */
  resolveVm?(vmRef: string): Promise<string | undefined> | string | undefined
  /** Health details (the hypervisor bridge reports its libvirt connection). */
  health?(): { connected: boolean; uri: string }
  close?(): Promise<void> | void
}

/** Reaches every authenticated socket allowed to see the VM (or all, when vmId is absent). */
export type Broadcast = <T extends keyof ServerPushes>(type: T, data: ServerPushes[T], vmName?: string) => void

/** What the server hands a bridge factory. */
export interface BridgeContext {
  broadcast: Broadcast
  /** The server's data dir (secrets, users, pinned host keys, audit log). */
  dataDir: string
  locale: 'en' | 'zh-CN'
  /** Writes an audit line not tied to a request (e.g. a session ended). */
  audit(entry: AuditEntry & { userId?: string; username?: string }): void
  log: Logger
}

/** A leveled logger; implementations must never print secrets. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/**
 * What the VNC and terminal bridges need from the hypervisor bridge, so that
 * one libvirt connection serves them all. Implemented in src/main/hypervisor.
 */
export interface VmDirectory {
  /** Resolves a name or UUID; throws ApiError VM_NOT_FOUND or HYPERVISOR_UNAVAILABLE. */
  resolve(
    vmRef: string,
  ): Promise<{ name: string; uuid: string; status: import('../../shared/protocol.js').VmStatusValue }>
  /** The live domain XML; `secure` includes secrets such as the VNC password. */
  xml(vmName: string, opts?: { secure?: boolean }): Promise<string>
  /** The guest's IP addresses from libvirt (DHCP lease first, then ARP), IPv4 first. */
  interfaceAddresses(vmName: string): Promise<string[]>
  /** The VM's serial console as a byte stream (safe mode: never forces other users off). */
  openConsole(vmName: string): Promise<import('node:stream').Duplex>
  /** Calls back when a VM stops, crashes or is undefined; returns an unsubscribe function. */
  onVmGone(cb: (vmName: string) => void): () => void
}
