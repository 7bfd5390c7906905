/**
 * The one typed client every view uses: request/reply matched by id, pushes
 * dispatched by type, authentication by an `auth` message (so the token never
 * sits in a URL or a proxy log), automatic reconnect with backoff, and topic
 * subscriptions restored after a reconnect.
 */
import { ENDPOINTS, type AuthResponseData, type ErrorData, type ServerMessage } from '../../../shared/protocol'
import { isErrorCode } from '../../../shared/errors'
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff'
import {
  RequestError,
  type ClientMessageData,
  type ClientMessageType,
  type ConnectionState,
  type RefusalReason,
  type ResponseOf,
  type ServerPushes,
  type SocketFactory,
  type SocketLike,
} from './types'

export interface ClientOptions {
  /** The server's base URL (http(s)://host:port); the socket goes to its /ws. */
  baseUrl: string
  token: string
  socketFactory?: SocketFactory
  backoff?: BackoffOptions
  requestTimeoutMs?: number
  /** Timer functions, replaceable in tests. */
  setTimeout?: (fn: () => void, ms: number) => unknown
  clearTimeout?: (handle: unknown) => void
}

export interface ConnectionSnapshot {
  state: ConnectionState
  reason?: RefusalReason
  message?: string
  user?: AuthResponseData
  attempt: number
  /** When the next reconnect attempt starts (ms since epoch). */
  retryAt?: number
}

type PushHandler<P extends keyof ServerPushes> = (data: ServerPushes[P], timestamp: string) => void

interface Pending {
  resolve(data: unknown): void
  reject(err: RequestError): void
  timer: unknown
  type: string
}

interface Outgoing {
  type: string
  data: unknown
  pending: Pending
  id: string
}

const OPEN = 1

export function wsUrl(baseUrl: string, path: string): string {
  const u = new URL(path, baseUrl)
  u.protocol = u.protocol === 'https:' ? 'wss:' : u.protocol === 'http:' ? 'ws:' : u.protocol
  return u.toString()
}

export class VoidVmClient {
  readonly baseUrl: string
  private token: string
  private readonly factory: SocketFactory
  private readonly backoff: BackoffOptions
  private readonly requestTimeoutMs: number
  private readonly setT: (fn: () => void, ms: number) => unknown
  private readonly clearT: (h: unknown) => void

  private socket: SocketLike | null = null
  private nextId = 1
  private readonly pending = new Map<string, Pending>()
  /** Requests made while not authenticated; sent once the socket is ready. */
  private queue: Outgoing[] = []
  private readonly handlers = new Map<string, Set<(data: never, ts: string) => void>>()
  private readonly stateListeners = new Set<(s: ConnectionSnapshot) => void>()
  /** topic|vmId → subscribe data, replayed after reconnect. */
  private readonly subscriptions = new Map<string, ClientMessageData<'subscribe'>>()
  private snapshot: ConnectionSnapshot = { state: 'idle', attempt: 0 }
  private retryTimer: unknown = null
  private stopped = false
  private everOpened = false

  constructor(o: ClientOptions) {
    this.baseUrl = o.baseUrl
    this.token = o.token
    this.factory =
      o.socketFactory ??
      ((url: string) => {
        const ws = new WebSocket(url)
        return ws as unknown as SocketLike
      })
    this.backoff = o.backoff ?? DEFAULT_BACKOFF
    this.requestTimeoutMs = o.requestTimeoutMs ?? 60_000
    this.setT = o.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms))
    this.clearT = o.clearTimeout ?? (h => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>))
  }

  get state(): ConnectionSnapshot {
    return this.snapshot
  }

  /** Opens the socket (idempotent). */
  connect(): void {
    this.stopped = false
    if (this.socket) return
    this.open()
  }

  /** Closes for good: no reconnect; pending requests fail with DISCONNECTED. */
  close(): void {
    this.stopped = true
    if (this.retryTimer !== null) this.clearT(this.retryTimer)
    this.retryTimer = null
    const s = this.socket
    this.socket = null
    if (s) {
      s.onclose = null
      s.onmessage = null
      s.onerror = null
      s.onopen = null
      try {
        s.close(1000, 'client closed')
      } catch {
        // already closed
      }
    }
    this.failAll('DISCONNECTED', 'The connection was closed.')
    for (const q of this.queue) q.pending.reject(new RequestError('DISCONNECTED', 'The connection was closed.'))
    this.queue = []
    this.setState({ state: 'closed', attempt: 0 })
  }

  /** Replaces the token (after a fresh login) and reconnects if refused. */
  setToken(token: string): void {
    this.token = token
    if (this.snapshot.state === 'refused') {
      this.socket = null
      this.connect()
    }
  }

  onState(listener: (s: ConnectionSnapshot) => void): () => void {
    this.stateListeners.add(listener)
    listener(this.snapshot)
    return () => this.stateListeners.delete(listener)
  }

  on<P extends keyof ServerPushes>(type: P, handler: PushHandler<P>): () => void {
    let set = this.handlers.get(type)
    if (!set) this.handlers.set(type, (set = new Set()))
    set.add(handler as (data: never, ts: string) => void)
    return () => set.delete(handler as (data: never, ts: string) => void)
  }

  request<T extends ClientMessageType>(type: T, data: ClientMessageData<T>): Promise<ResponseOf<T>> {
    return new Promise<ResponseOf<T>>((resolve, reject) => {
      const id = `r${this.nextId++}`
      const pending: Pending = {
        resolve: resolve as (d: unknown) => void,
        reject,
        timer: null,
        type,
      }
      const out: Outgoing = { type, data, pending, id }
      if (this.snapshot.state === 'open' && this.socket?.readyState === OPEN) this.transmit(out)
      else if (this.stopped || this.snapshot.state === 'closed')
        reject(new RequestError('DISCONNECTED', 'Not connected to the server.'))
      else this.queue.push(out)
    })
  }

  /** Subscribes and remembers the topic so a reconnect restores it. */
  async subscribe(data: ClientMessageData<'subscribe'>): Promise<ResponseOf<'subscribe'>> {
    this.subscriptions.set(`${data.topic}|${data.vmId ?? ''}`, data)
    return this.request('subscribe', data)
  }

  async unsubscribe(data: ClientMessageData<'unsubscribe'>): Promise<void> {
    this.subscriptions.delete(`${data.topic}|${data.vmId ?? ''}`)
    if (this.snapshot.state === 'open') await this.request('unsubscribe', data).catch(() => undefined)
  }

  // ------------------------------------------------------------------ internals

  private transmit(o: Outgoing): void {
    o.pending.timer = this.setT(() => {
      if (this.pending.delete(o.id))
        o.pending.reject(new RequestError('TIMEOUT', `The server did not answer ${o.type} in time.`))
    }, this.requestTimeoutMs)
    this.pending.set(o.id, o.pending)
    this.socket?.send(JSON.stringify({ type: o.type, data: o.data, id: o.id }))
  }

  private setState(patch: Partial<ConnectionSnapshot> & { state: ConnectionState }): void {
    const next: ConnectionSnapshot = { attempt: this.snapshot.attempt, user: this.snapshot.user, ...patch }
    if (patch.state !== 'refused' && patch.state !== 'reconnecting') {
      delete next.reason
      delete next.message
    }
    this.snapshot = next
    for (const l of this.stateListeners) l(next)
  }

  private open(): void {
    let socket: SocketLike
    this.setState({ state: this.everOpened ? 'reconnecting' : 'connecting', attempt: this.snapshot.attempt })
    try {
      socket = this.factory(wsUrl(this.baseUrl, ENDPOINTS.ws))
    } catch (e) {
      this.scheduleRetry('unreachable', e instanceof Error ? e.message : String(e))
      return
    }
    this.socket = socket
    let opened = false
    socket.onopen = () => {
      opened = true
      this.setState({ state: 'authenticating' })
      const id = `auth${this.nextId++}`
      this.pending.set(id, {
        type: 'auth',
        timer: null,
        resolve: d => this.onAuthenticated(d as AuthResponseData),
        reject: err => this.onAuthRefused(err),
      })
      socket.send(JSON.stringify({ type: 'auth', data: { token: this.token }, id }))
    }
    socket.onmessage = ev => this.onMessage(ev.data)
    socket.onerror = () => undefined
    socket.onclose = ev => {
      if (this.socket !== socket) return
      this.socket = null
      this.failAll('DISCONNECTED', 'The connection to the server was lost.')
      if (this.stopped || this.snapshot.state === 'refused') return
      // A close before the socket ever opened means the server was not reached
      // (or, over TLS, that the certificate was not accepted).
      const httpsBase = this.baseUrl.startsWith('https:')
      const reason: RefusalReason = opened ? 'unreachable' : httpsBase ? 'certificate' : 'unreachable'
      this.scheduleRetry(reason, ev.reason || undefined)
    }
  }

  private scheduleRetry(reason: RefusalReason, message?: string): void {
    if (this.stopped) return
    const attempt = this.snapshot.attempt
    const delay = backoffDelay(attempt, this.backoff)
    this.setState({ state: 'reconnecting', reason, message, attempt: attempt + 1, retryAt: Date.now() + delay })
    this.retryTimer = this.setT(() => {
      this.retryTimer = null
      if (!this.stopped) this.open()
    }, delay)
  }

  /** Skips the wait and reconnects now (the "Retry now" button). */
  retryNow(): void {
    if (this.snapshot.state !== 'reconnecting' || this.socket) return
    if (this.retryTimer !== null) this.clearT(this.retryTimer)
    this.retryTimer = null
    this.open()
  }

  private onAuthenticated(user: AuthResponseData): void {
    this.everOpened = true
    this.setState({ state: 'open', user, attempt: 0 })
    for (const sub of this.subscriptions.values())
      this.request('subscribe', sub).catch(() => undefined /* reported by the caller's own subscribe */)
    const queued = this.queue
    this.queue = []
    for (const q of queued) this.transmit(q)
  }

  private onAuthRefused(err: RequestError): void {
    const reason: RefusalReason =
      err.code === 'UNAUTHORIZED' ? 'unauthorized' : err.code === 'RATE_LIMITED' ? 'rate-limited' : 'server-error'
    this.setState({ state: 'refused', reason, message: err.message })
    for (const q of this.queue) q.pending.reject(new RequestError(err.code, err.message))
    this.queue = []
    const s = this.socket
    this.socket = null
    s?.close(1000, 'auth refused')
  }

  private failAll(code: 'DISCONNECTED', message: string): void {
    for (const [id, p] of this.pending) {
      this.clearT(p.timer)
      this.pending.delete(id)
      p.reject(new RequestError(code, message))
    }
  }

  private onMessage(raw: unknown): void {
    let msg: ServerMessage
    if (typeof raw === 'string') {
      try {
        msg = JSON.parse(raw) as ServerMessage
      } catch {
        return
      }
    } else if (raw && typeof raw === 'object') {
      // Already parsed (the socket worker parses off the main thread).
      msg = raw as ServerMessage
    } else return
    if (!msg || typeof msg.type !== 'string') return
    if (msg.id !== undefined && msg.id !== null) {
      const p = this.pending.get(String(msg.id))
      if (p) {
        this.pending.delete(String(msg.id))
        if (p.timer !== null) this.clearT(p.timer)
        if (msg.type === 'error') {
          const e = msg.data as ErrorData
          p.reject(
            new RequestError(isErrorCode(e?.code) ? e.code : 'INTERNAL_ERROR', e?.message ?? 'Request failed', {
              vmId: e?.vmId,
              details: e?.details,
              field: e?.field,
            }),
          )
        } else p.resolve(msg.data)
        return
      }
    }
    if (msg.type === 'error' && this.snapshot.state === 'authenticating') {
      // An unsolicited error before auth completes is the server refusing us.
      const e = msg.data as ErrorData
      this.onAuthRefused(new RequestError(isErrorCode(e?.code) ? e.code : 'UNAUTHORIZED', e?.message ?? 'Refused'))
      return
    }
    const set = this.handlers.get(msg.type)
    if (!set) return
    for (const h of set) {
      try {
        h(msg.data as never, msg.timestamp)
      } catch (err) {
        console.error(`handler for ${msg.type} failed`, err)
      }
    }
  }
}
