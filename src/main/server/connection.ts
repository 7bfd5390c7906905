/**
 * One client socket: its principal, send path (with latest-wins pushes and a
 * hard cap on queued bytes), rate limiting, session caps and subscriptions.
 */
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import type { Role, ServerPushes } from '../../shared/protocol.js'
import { ApiError, type ClientConnection, type Permission, type Principal, type Subscription } from './bridge.js'
import type { Limits } from './limits.js'
import { TokenBucket } from './limits.js'
import { grantsMatch, type PublicUser, type UserStore } from './users.js'

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ['view'],
  operator: ['view', 'control', 'console'],
  admin: ['view', 'control', 'console', 'admin'],
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission)
}

/**
 * A principal backed by the live user store, so role and grant changes made
 * with the CLI apply to open sockets at once; a removed user can reach nothing.
 */
export class StorePrincipal implements Principal {
  // Only the id and name are kept per socket; everything else is read live from the store.
  readonly userId: string
  readonly username: string
  constructor(
    private readonly store: UserStore,
    user: PublicUser,
  ) {
    this.userId = user.id
    this.username = user.username
  }
  private get user() {
    return this.store.peek(this.userId)
  }
  get role(): Role {
    return this.user?.role ?? 'viewer'
  }
  /** The user's current token version; undefined once the user is removed. */
  get tokenVersion(): number | undefined {
    return this.user?.tokenVersion
  }
  canAccessVm(vmName: string): boolean {
    const u = this.user
    return !!u && grantsMatch(u.grants, vmName)
  }
}

export interface AuthState {
  principal: StorePrincipal
  tokenVersion: number
  expiresAt: Date
}

let nextId = 0

/**
 * Serialised push frames by data object, for one fan-out: when the same data
 * object is pushed to many sockets in one synchronous run (vm-status ticks,
 * broadcasts), it is stringified once and the frame, timestamp included, is
 * shared. The cache is dropped at the next microtask, so a later push of the
 * same object gets a fresh timestamp, and nothing outlives the fan-out.
 */
let frameCache = new WeakMap<object, { type: string; frame: string }>()
let frameCacheDropScheduled = false
const dropFrameCache = (): void => {
  frameCache = new WeakMap()
  frameCacheDropScheduled = false
}

/** The text of a push frame: `{"type":…,"data":…,"timestamp":…}`, shared within one fan-out. */
export function pushFrame(type: string, data: unknown): string {
  const cacheable = typeof data === 'object' && data !== null
  if (cacheable) {
    const hit = frameCache.get(data)
    if (hit !== undefined && hit.type === type) return hit.frame
  }
  const frame = JSON.stringify({ type, data, timestamp: new Date().toISOString() })
  if (cacheable) {
    frameCache.set(data, { type, frame })
    if (!frameCacheDropScheduled) {
      frameCacheDropScheduled = true
      queueMicrotask(dropFrameCache)
    }
  }
  return frame
}

/**
 * The UTF-8 bytes of `{"type":…,"data":{…data, [field]: base64(bytes)},"timestamp":…}`,
 * byte for byte what JSON.stringify gives, without running a large base64
 * string through it: base64 needs no JSON escaping, so it is written into the
 * frame as is. The field comes last in `data`.
 */
export function base64PushFrame(
  type: string,
  data: object,
  field: string,
  bytes: Uint8Array,
  alloc: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const rest = JSON.stringify(data)
  const head =
    `{"type":${JSON.stringify(type)},"data":${rest.slice(0, -1)}${rest.length > 2 ? ',' : ''}` +
    `${JSON.stringify(field)}:"`
  const tail = `"},"timestamp":"${new Date().toISOString()}"}`
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  const headLen = Buffer.byteLength(head)
  const out = alloc(headLen + b64.length + tail.length)
  out.write(head, 0)
  out.write(b64, headLen, 'latin1')
  out.write(tail, headLen + b64.length, 'latin1')
  return out
}

/**
 * Reused buffers for base64 push frames up to this size (an 80 KiB VNC read
 * is a ~107 KiB frame). A fresh buffer per frame made allocation and garbage
 * collection a large share of the JSON tunnel's CPU (bench/vnc.ts).
 */
const FRAME_POOL_SIZE = 112 * 1024
/** Free frame buffers kept (process-wide); more in flight are left to the GC. */
const FRAME_POOL_KEEP = 16
const framePool: Buffer[] = []

/** Bytes corked on one socket before they are flushed anyway (bounds memory within a burst). */
const CORK_FLUSH_BYTES = 64 * 1024

export class Connection implements ClientConnection {
  readonly id = `c${(++nextId).toString(36)}`
  auth: AuthState | undefined
  closed = false
  readonly subscriptions = new Map<string, Subscription>()
  readonly bucket: TokenBucket
  /** Per-ordering-key promise chains (messages for one VM's console stay in order). */
  readonly chains = new Map<string, Promise<void>>()
  inFlight = 0
  /** Rate-limited messages in the current one-second window (flood detection). */
  rejected = 0
  rejectedWindowStart = 0
  alive = true
  private sessions = { vnc: 0, terminal: 0 }
  private closeCbs: (() => void)[] = []
  private drainCbs: (() => void)[] = []
  private latest = new Map<string, string>()
  private drainTimer: NodeJS.Timeout | undefined
  /** Bytes written since the socket was corked for the current burst (not a backlog: they flush at the next tick). */
  private corkedBytes = 0
  private corked = false
  private readonly uncork = (): void => {
    if (!this.corked) return
    this.corked = false
    this.corkedBytes = 0
    this.raw.uncork()
  }

  constructor(
    readonly ws: WebSocket,
    private readonly raw: Duplex,
    readonly remote: string,
    private readonly limits: Limits,
    private readonly onStalled: (conn: Connection) => void,
  ) {
    this.bucket = new TokenBucket(limits.messagesPerSecond, limits.messageBurst)
    raw.on('drain', () => this.checkDrain())
  }

  get principal(): Principal {
    if (!this.auth) throw new ApiError('UNAUTHORIZED', 'not authenticated')
    return this.auth.principal
  }

  /** Bytes queued and not yet written to the network; the current burst's corked bytes do not count. */
  get bufferedAmount(): number {
    return Math.max(0, this.ws.bufferedAmount - this.corkedBytes)
  }

  /** Sends a serialized text frame, dropping a consumer that let too much pile up. */
  sendFrame(frame: string | Buffer, written?: () => void): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false
    if (this.bufferedAmount + frame.length > this.limits.maxBufferedBytes) {
      this.onStalled(this)
      return false
    }
    // A burst of sends (a status tick, a broadcast) goes out in one write per
    // socket instead of one per frame: cork now, uncork on the next tick.
    if (!this.corked) {
      this.corked = true
      this.raw.cork()
      process.nextTick(this.uncork)
    }
    const before = this.ws.bufferedAmount
    this.ws.send(frame, { binary: false }, written)
    this.corkedBytes += this.ws.bufferedAmount - before
    if (this.corkedBytes >= CORK_FLUSH_BYTES) {
      this.raw.uncork()
      this.corkedBytes = 0
      this.raw.cork()
    }
    return true
  }

  push<T extends keyof ServerPushes>(type: T, data: ServerPushes[T]): boolean {
    if (this.closed) return false
    if (!this.maySee(type, data)) return true
    return this.sendFrame(pushFrame(type, data))
  }

  pushBase64<T extends keyof ServerPushes, K extends keyof ServerPushes[T] & string>(
    type: T,
    data: Omit<ServerPushes[T], K>,
    field: K,
    bytes: Uint8Array,
  ): boolean {
    if (this.closed) return false
    if (!this.maySee(type, data)) return true
    let pooled: Buffer | undefined
    const frame = base64PushFrame(type, data, field, bytes, size => {
      if (size > FRAME_POOL_SIZE) return Buffer.allocUnsafe(size)
      pooled = framePool.pop() ?? Buffer.allocUnsafeSlow(FRAME_POOL_SIZE)
      return pooled.subarray(0, size)
    })
    if (!pooled) return this.sendFrame(frame)
    const buf = pooled
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      if (framePool.length < FRAME_POOL_KEEP) framePool.push(buf)
    }
    const sent = this.sendFrame(frame, release)
    if (!sent) release()
    return sent
  }

  pushLatest<T extends keyof ServerPushes>(key: string, type: T, data: ServerPushes[T]): void {
    if (this.closed || !this.maySee(type, data)) return
    const frame = pushFrame(type, data)
    if (this.latest.size === 0 && this.bufferedAmount < this.limits.latestWinsHighWater) {
      this.sendFrame(frame)
      return
    }
    // Backed up: keep only the newest frame per key; send them once the socket drains.
    this.latest.delete(key)
    this.latest.set(key, frame)
    this.watchDrain()
  }

  onDrain(cb: () => void): void {
    if (this.closed) return
    if (this.bufferedAmount < this.limits.drainLowWater) {
      setImmediate(cb)
      return
    }
    this.drainCbs.push(cb)
    this.watchDrain()
  }

  onClose(cb: () => void): void {
    if (this.closed) setImmediate(cb)
    else this.closeCbs.push(cb)
  }

  acquireSession(kind: 'vnc' | 'terminal'): () => void {
    const cap = kind === 'vnc' ? this.limits.vncSessionsPerSocket : this.limits.terminalSessionsPerSocket
    if (this.sessions[kind] >= cap)
      throw new ApiError(
        'SESSION_LIMIT',
        `at most ${cap} ${kind === 'vnc' ? 'VNC' : 'terminal'} sessions may be open on one connection; close one first`,
      )
    this.sessions[kind] += 1
    let released = false
    return () => {
      if (released) return
      released = true
      this.sessions[kind] -= 1
    }
  }

  /** vm-status pushes name their VM: never deliver one the user's grants do not cover. */
  private maySee(type: keyof ServerPushes, data: unknown): boolean {
    if (type !== 'vm-status' || !this.auth) return true
    const d = data as { name?: unknown; vmId?: unknown }
    const name = typeof d.name === 'string' ? d.name : typeof d.vmId === 'string' ? d.vmId : undefined
    return name === undefined || this.auth.principal.canAccessVm(name)
  }

  private watchDrain(): void {
    // The raw socket's 'drain' event is the main signal; a slow poll covers
    // data queued inside ws (not yet handed to the socket) that emits none.
    this.drainTimer ??= setInterval(() => this.checkDrain(), 50)
  }

  private checkDrain(): void {
    if (this.closed) return
    if (this.latest.size > 0 && this.bufferedAmount < this.limits.latestWinsHighWater) {
      const frames = [...this.latest.values()]
      this.latest.clear()
      for (const f of frames) this.sendFrame(f)
    }
    if (this.drainCbs.length > 0 && this.bufferedAmount < this.limits.drainLowWater) {
      const cbs = this.drainCbs
      this.drainCbs = []
      for (const cb of cbs) cb()
    }
    if (this.latest.size === 0 && this.drainCbs.length === 0 && this.drainTimer) {
      clearInterval(this.drainTimer)
      this.drainTimer = undefined
    }
  }

  /** Ends subscriptions and tells bridges the socket is gone; idempotent. */
  dispose(): void {
    if (this.closed) return
    this.closed = true
    if (this.drainTimer) clearInterval(this.drainTimer)
    this.latest.clear()
    this.drainCbs = []
    for (const sub of this.subscriptions.values()) {
      try {
        sub.close()
      } catch {
        // A bridge's failing close must not keep the others from running.
      }
    }
    this.subscriptions.clear()
    const cbs = this.closeCbs
    this.closeCbs = []
    for (const cb of cbs) {
      try {
        cb()
      } catch {
        // As above.
      }
    }
  }
}
