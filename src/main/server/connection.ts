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

  constructor(
    readonly ws: WebSocket,
    raw: Duplex,
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

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  /** Sends a serialized frame, dropping a consumer that let too much pile up. */
  sendFrame(frame: string | Buffer): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false
    if (this.ws.bufferedAmount + frame.length > this.limits.maxBufferedBytes) {
      this.onStalled(this)
      return false
    }
    this.ws.send(frame)
    return true
  }

  push<T extends keyof ServerPushes>(type: T, data: ServerPushes[T]): boolean {
    if (this.closed) return false
    if (!this.maySee(type, data)) return true
    return this.sendFrame(JSON.stringify({ type, data, timestamp: new Date().toISOString() }))
  }

  pushLatest<T extends keyof ServerPushes>(key: string, type: T, data: ServerPushes[T]): void {
    if (this.closed || !this.maySee(type, data)) return
    const frame = JSON.stringify({ type, data, timestamp: new Date().toISOString() })
    if (this.latest.size === 0 && this.ws.bufferedAmount < this.limits.latestWinsHighWater) {
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
    if (this.ws.bufferedAmount < this.limits.drainLowWater) {
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
    if (this.latest.size > 0 && this.ws.bufferedAmount < this.limits.latestWinsHighWater) {
      const frames = [...this.latest.values()]
      this.latest.clear()
      for (const f of frames) this.sendFrame(f)
    }
    if (this.drainCbs.length > 0 && this.ws.bufferedAmount < this.limits.drainLowWater) {
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
