/**
 * The VoidVM server: HTTP (health, login, the built renderer) and the
 * WebSocket API at /ws. It owns sockets, authentication, validation, limits,
 * permission checks, auditing and the reply rule; bridges (bridge.ts) supply
 * the message handlers and topics. Runs in-process in the Electron main as
 * well as headless, and never imports electron.
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import {
  CLIENT_MESSAGES,
  ENDPOINTS,
  clientEnvelope,
  type ClientMessageType,
  type Topic,
} from '../../shared/protocol.js'
import type { ErrorCode } from '../../shared/errors.js'
import {
  ApiError,
  type Bridge,
  type BridgeContext,
  type Broadcast,
  type HandlerContext,
  type Logger,
  type MessageHandler,
  type Permission,
  type TopicProvider,
} from './bridge.js'
import { AuditLog, type AuditLogOptions, type AuditRecord } from './audit.js'
import { DEFAULT_TOKEN_TTL_SECONDS, parseTtl, TokenError, TokenService, type VerifiedToken } from './auth.js'
import { createDefaultBridges, DEFAULT_LIBVIRT_URI } from './bridges.js'
import { Connection, roleAllows, StorePrincipal } from './connection.js'
import { ensureDataDir } from './datadir.js'
import { createHttpHandler, remoteAddress, type LoginOutcome } from './http.js'
import { AddressCounter, addressKey, DEFAULT_LIMITS, LoginThrottle, type Limits } from './limits.js'
import { createLogger, type LogLevel } from './log.js'
import { UserStore } from './users.js'

export { ApiError, defineHandler } from './bridge.js'
export type * from './bridge.js'
export { UserStore, UserStoreError, type PublicUser } from './users.js'
export { TokenService, parseTtl, loadOrCreateSecret, DEFAULT_TOKEN_TTL_SECONDS } from './auth.js'
export { defaultDataDir } from './datadir.js'
export { DEFAULT_LIMITS, type Limits } from './limits.js'
export { DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_BYTES, type AuditLogOptions } from './audit.js'
export { createLogger, type LogLevel } from './log.js'
export { CONTENT_SECURITY_POLICY } from './http.js'
export { createDefaultBridges, DEFAULT_LIBVIRT_URI, type BridgesConfig } from './bridges.js'

export interface ServerOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string
  /** Port (default 3000; 0 = an ephemeral port). */
  port?: number
  /** Users, token secret, audit log, pinned host keys. */
  dataDir: string
  /** libvirt URI handed to the default bridges (default qemu:///system). */
  libvirtUri?: string
  /** Serve HTTPS/WSS: PEM contents, or paths of PEM files. */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** Language of server-generated event messages. */
  locale?: 'en' | 'zh-CN'
  /** Extra browser origins allowed to connect (besides the server's own and DESKTOP_APP_ORIGIN). */
  allowOrigins?: string[]
  /** Folder of the built renderer; null serves no web UI. Default: out/renderer. */
  rendererDir?: string | null
  /** The bridges to run; default: createDefaultBridges (bridges.ts). */
  bridges?: Bridge[] | ((ctx: BridgeContext) => Promise<Bridge[]>)
  /** Overrides of the resource limits (limits.ts). */
  limits?: Partial<Limits>
  /** Audit log rotation: size limit and rotated files kept (audit.ts). */
  auditLog?: Pick<AuditLogOptions, 'maxBytes' | 'keep'>
  /** Logger (default: stderr at logLevel). */
  log?: Logger
  logLevel?: LogLevel
}

export interface RunningServer {
  /** http(s)://host:port */
  url: string
  /** ws(s)://host:port/ws */
  wsUrl: string
  port: number
  host: string
  dataDir: string
  /** The user store (shared with the CLI through the data dir). */
  users: UserStore
  bridges: readonly Bridge[]
  broadcast: Broadcast
  /** Mints a token for an existing user; ttl in seconds or as "12h" / "30m" / "7d". */
  issueToken(username: string, ttl?: number | string): Promise<string>
  /** Like issueToken, also giving the expiry the token carries (ISO 8601). */
  mintToken(username: string, ttl?: number | string): Promise<{ token: string; expiresAt: string }>
  /** Open API sockets (authenticated or not). */
  connectionCount(): number
  close(): Promise<void>
}

/** Which permission each protocol message needs (used when no bridge declares it). */
const DEFAULT_PERMISSIONS: Record<ClientMessageType, Permission> = {
  auth: 'view',
  subscribe: 'view',
  unsubscribe: 'view',
  'vm-control': 'control',
  'vm-info': 'view',
  'vm-autostart': 'control',
  'host-info': 'view',
  'vnc-connect': 'console',
  'vnc-data': 'console',
  'vnc-input': 'console',
  'vnc-disconnect': 'console',
  'terminal-connect': 'console',
  'terminal-input': 'console',
  'terminal-resize': 'console',
  'terminal-disconnect': 'console',
}

const MIN_ROLE: Record<Permission, string> = {
  view: 'viewer, operator or admin',
  control: 'operator or admin',
  console: 'operator or admin',
  admin: 'admin',
}

function defaultRendererDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  // Built: out/main/*.js → out/renderer. From source (tsx): src/main/server → out/renderer.
  const candidates = [resolve(here, '..', 'renderer'), resolve(here, '..', '..', '..', 'out', 'renderer')]
  return candidates.find(d => existsSync(resolve(d, 'index.html')))
}

async function pem(value: string | Buffer): Promise<string | Buffer> {
  if (Buffer.isBuffer(value) || value.includes('-----BEGIN')) return value
  return readFile(value)
}

/**
 * The VoidVM desktop app's page origin (its privileged `voidvm://` scheme),
 * allowed on every server by default: no web page can claim this origin, and
 * a non-browser client could send any Origin anyway, so admitting it opens
 * nothing to cross-site requests while letting the desktop app reach remote
 * servers (it still needs a token or a password).
 */
export const DESKTOP_APP_ORIGIN = 'voidvm://app'

function normalizeOrigin(origin: string): string {
  try {
    const o = new URL(origin).origin
    if (o !== 'null') return o.toLowerCase()
  } catch {
    // Not a URL (e.g. "null"): compare literally.
  }
  return origin.replace(/\/+$/, '').toLowerCase()
}

function rejectUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
  setTimeout(() => socket.destroy(), 1000).unref()
}

/** First issue of a zod error as a field path under `data`, and a message naming it. */
function describeIssue(issues: readonly { path: PropertyKey[]; message: string }[], prefix: string) {
  const issue = issues[0]
  const path = issue?.path.map(String).join('.') ?? ''
  const field = path ? `${prefix}.${path}` : prefix
  return { field, message: `${field}: ${issue?.message ?? 'invalid value'}` }
}

/** localhost, *.localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackName(name: string): boolean {
  const h = name.replace(/^\[|\]$/g, '').toLowerCase()
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === '::1' ||
    /^::ffff:127\./.test(h) ||
    /^::ffff:7f/.test(h)
  )
}

/** Thrown by a step that has already sent its own error reply. */
const ANSWERED = Symbol('answered')

function destroyOnError(this: Duplex): void {
  this.destroy()
}

/** The per-address slot an upgrading socket holds until it closes. */
const addressSlots = new WeakMap<Duplex, { counter: AddressCounter; key: string }>()

/** A module-level listener (no closure per socket): gives the socket's slot back. */
function releaseAddressSlot(this: Duplex): void {
  const slot = addressSlots.get(this)
  if (!slot) return
  addressSlots.delete(this)
  slot.counter.release(slot.key)
}

/** Numbers `terminal-connect` ordering chains, which must not share a key. */
let terminalConnectSeq = 0

function vmRefOf(data: unknown): string | undefined {
  const v = (data as { vmId?: unknown } | null)?.vmId
  return typeof v === 'string' ? v : undefined
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  if (!opts?.dataDir) throw new Error('startServer: dataDir is required')
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits }
  const log = opts.log ?? createLogger(opts.logLevel ?? 'info')
  const host = opts.host ?? '127.0.0.1'
  const dataDir = resolve(opts.dataDir)
  const libvirtUri = opts.libvirtUri ?? DEFAULT_LIBVIRT_URI
  const locale = opts.locale ?? 'en'
  const rendererDir = opts.rendererDir === null ? undefined : (opts.rendererDir ?? defaultRendererDir())
  const allowOrigins = new Set([DESKTOP_APP_ORIGIN, ...(opts.allowOrigins ?? [])].map(normalizeOrigin))

  await ensureDataDir(dataDir)
  const users = await UserStore.open(dataDir)
  const tokens = await TokenService.create(dataDir, users)
  const auditLog = AuditLog.forDataDir(dataDir, {
    ...opts.auditLog,
    onError: err => log.error('audit log write failed', { error: String(err) }),
  })
  const throttle = new LoginThrottle(limits)
  const perAddress = new AddressCounter(limits.maxConnectionsPerAddress)
  let lastCapWarning = 0
  const conns = new Set<Connection>()

  const audit = (rec: AuditRecord): void => {
    try {
      auditLog.write(rec)
    } catch (err) {
      log.error('audit log write failed', { error: String(err) })
    }
  }

  const broadcast: Broadcast = (type, data, vmName) => {
    for (const c of conns) {
      if (!c.auth || c.closed) continue
      if (vmName !== undefined && !c.auth.principal.canAccessVm(vmName)) continue
      c.push(type, data)
    }
  }

  const ctx: BridgeContext = {
    broadcast,
    dataDir,
    locale,
    audit: e => audit(e),
    log,
  }

  const bridges: Bridge[] =
    typeof opts.bridges === 'function'
      ? await opts.bridges(ctx)
      : (opts.bridges ?? (await createDefaultBridges(ctx, { libvirtUri, dataDir, locale })))

  const handlers = new Map<string, MessageHandler>()
  const topics = new Map<Topic, TopicProvider>()
  for (const b of bridges) {
    for (const h of b.handlers ?? []) {
      if (
        !Object.hasOwn(CLIENT_MESSAGES, h.type) ||
        h.type === 'auth' ||
        h.type === 'subscribe' ||
        h.type === 'unsubscribe'
      )
        throw new Error(`bridge ${b.name}: '${h.type}' is not a bridge-handled protocol message`)
      if (handlers.has(h.type)) throw new Error(`bridge ${b.name}: '${h.type}' is already handled by another bridge`)
      handlers.set(h.type, h)
    }
    for (const t of b.topics ?? []) {
      if (topics.has(t.topic)) throw new Error(`bridge ${b.name}: topic '${t.topic}' is already provided`)
      topics.set(t.topic, t)
    }
  }

  const health = (): { connected: boolean; uri: string } => {
    for (const b of bridges) {
      if (!b.health) continue
      try {
        return b.health()
      } catch {
        return { connected: false, uri: libvirtUri }
      }
    }
    return { connected: false, uri: libvirtUri }
  }

  const resolveVmName = async (ref: string): Promise<string | undefined> => {
    for (const b of bridges) {
      if (!b.resolveVm) continue
      try {
        const name = await b.resolveVm(ref)
        if (name) return name
      } catch {
        // The bridge cannot tell now (e.g. libvirt down); grants are checked on the reference itself.
      }
    }
    return undefined
  }

  // ------------------------------------------------------------------ origin

  let ownScheme = opts.tls ? 'https' : 'http'
  const originAllowed = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin
    // Non-browser clients send no Origin; they still need a token.
    if (origin === undefined) return true
    const o = normalizeOrigin(origin)
    if (allowOrigins.has(o)) return true
    const hostHeader = req.headers.host
    return !!hostHeader && o === normalizeOrigin(`${ownScheme}://${hostHeader}`)
  }

  // A server bound to loopback answers only to loopback host names: a web page
  // whose DNS name was re-pointed at 127.0.0.1 (DNS rebinding) is same-origin
  // with itself, so the Origin check alone would not stop it.
  const loopbackBind = isLoopbackName(host)
  const allowedHostnames = new Set<string>()
  for (const o of opts.allowOrigins ?? []) {
    try {
      allowedHostnames.add(new URL(o).hostname.toLowerCase())
    } catch {
      // Not a URL: only ever compared as an origin.
    }
  }
  const hostAllowed = (req: IncomingMessage): boolean => {
    if (!loopbackBind) return true
    const h = req.headers.host
    if (h === undefined) return true
    let hostname: string
    try {
      hostname = new URL(`http://${h}`).hostname.toLowerCase()
    } catch {
      return false
    }
    return isLoopbackName(hostname) || allowedHostnames.has(hostname)
  }

  // ------------------------------------------------------------------ login

  const login = async (username: string, password: string, address: string): Promise<LoginOutcome> => {
    const wait = throttle.retryAfter(address, username)
    if (wait > 0) {
      audit({ username, action: 'login', result: 'denied', detail: 'throttled', remote: address })
      return {
        ok: false,
        status: 429,
        code: 'RATE_LIMITED',
        message: `too many failed logins; retry in ${Math.ceil(wait / 1000)} s`,
        retryAfterMs: wait,
      }
    }
    const user = await users.verifyPassword(username, password)
    if (!user) {
      throttle.fail(address, username)
      audit({ username, action: 'login', result: 'denied', detail: 'wrong user name or password', remote: address })
      return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'wrong user name or password' }
    }
    throttle.succeed(address, username)
    const t = await tokens.issue(user)
    audit({ userId: user.id, username, action: 'login', result: 'ok', remote: address })
    return {
      ok: true,
      body: { token: t.token, expiresAt: t.expiresAt, user: { id: user.id, username: user.username, role: user.role } },
    }
  }

  // ------------------------------------------------------------------ WebSocket

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
  })

  const sendReply = (conn: Connection, type: string, data: object, id: string | number | undefined): void => {
    conn.sendFrame(
      JSON.stringify(
        id === undefined
          ? { type, data, timestamp: new Date().toISOString() }
          : { type, data, id, timestamp: new Date().toISOString() },
      ),
    )
  }

  const sendError = (
    conn: Connection,
    id: string | number | undefined,
    code: ErrorCode,
    message: string,
    extra: { vmId?: string; details?: string; field?: string } = {},
  ): void => {
    const data: Record<string, string> = { code, message }
    if (extra.vmId !== undefined) data.vmId = extra.vmId
    if (extra.details !== undefined) data.details = extra.details
    if (extra.field !== undefined) data.field = extra.field
    sendReply(conn, 'error', data, id)
  }

  const closeConn = (conn: Connection, code: number, reason: string): void => {
    if (conn.ws.readyState === conn.ws.OPEN || conn.ws.readyState === conn.ws.CONNECTING) conn.ws.close(code, reason)
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 5000).unref()
  }

  const authTimers = new WeakMap<Connection, NodeJS.Timeout>()
  /** Sockets connected without a token and not yet authenticated. */
  const unauthenticated = new Set<Connection>()

  const setAuth = (conn: Connection, v: VerifiedToken): void => {
    conn.auth = {
      principal: new StorePrincipal(users, v.user),
      tokenVersion: v.user.tokenVersion,
      expiresAt: v.expiresAt,
    }
    const t = authTimers.get(conn)
    if (t) clearTimeout(t)
    unauthenticated.delete(conn)
  }

  const authPending = new WeakMap<Connection, Promise<void>>()

  const handleAuth = async (conn: Connection, token: string, id: string | number | undefined): Promise<object> => {
    let v: VerifiedToken
    try {
      v = await tokens.verify(token)
    } catch (err) {
      const reason = err instanceof TokenError ? err.message : 'token is invalid'
      audit({ action: 'auth', result: 'denied', detail: reason, remote: conn.remote })
      sendError(conn, id, 'UNAUTHORIZED', reason)
      closeConn(conn, 1008, 'unauthorized')
      throw ANSWERED
    }
    if (conn.auth && conn.auth.principal.userId !== v.user.id)
      throw new ApiError(
        'UNAUTHORIZED',
        `this connection is authenticated as '${conn.auth.principal.username}'; open a new connection for another user`,
      )
    setAuth(conn, v)
    return { userId: v.user.id, username: v.user.username, role: v.user.role, expiresAt: v.expiresAt.toISOString() }
  }

  const handlerContext = (conn: Connection, id: string | number | undefined): HandlerContext => {
    const principal = conn.principal
    return {
      conn,
      principal,
      requestId: id,
      audit: e => audit({ userId: principal.userId, username: principal.username, remote: conn.remote, ...e }),
    }
  }

  const checkPermission = (conn: Connection, type: string, permission: Permission, vmId?: string): void => {
    const p = conn.principal
    if (!roleAllows(p.role, permission)) {
      audit({
        userId: p.userId,
        username: p.username,
        action: type,
        vmId,
        result: 'denied',
        detail: `role ${p.role}`,
        remote: conn.remote,
      })
      throw new ApiError(
        'FORBIDDEN',
        `role '${p.role}' may not send ${type}: it needs ${MIN_ROLE[permission]}`,
        vmId ? { vmId } : {},
      )
    }
  }

  const checkVm = async (conn: Connection, type: string, ref: string | undefined): Promise<void> => {
    if (ref === undefined) return
    const p = conn.principal
    const name = (await resolveVmName(ref)) ?? ref
    if (!p.canAccessVm(name)) {
      audit({
        userId: p.userId,
        username: p.username,
        action: type,
        vmId: name,
        result: 'denied',
        detail: 'no grant',
        remote: conn.remote,
      })
      throw new ApiError('FORBIDDEN', `user '${p.username}' has no grant for VM '${ref}'`, { vmId: ref })
    }
  }

  const subKey = (topic: string, vmId: string | undefined) => `${topic}\u0000${vmId ?? ''}`

  const handleSubscribe = async (
    conn: Connection,
    data: { topic: Topic; vmId?: string; interval?: number },
    id: string | number | undefined,
  ): Promise<object> => {
    const provider = topics.get(data.topic)
    checkPermission(conn, 'subscribe', provider?.permission ?? 'view', data.vmId)
    await checkVm(conn, 'subscribe', data.vmId)
    if (!provider) {
      if (data.topic === 'system-monitor')
        throw new ApiError('INTERNAL_ERROR', 'this server runs no host monitor, so system-monitor is not available')
      throw new ApiError(
        'HYPERVISOR_UNAVAILABLE',
        `this server runs no hypervisor bridge, so '${data.topic}' is not available`,
      )
    }
    const key = subKey(data.topic, data.vmId)
    if (!conn.subscriptions.has(key) && conn.subscriptions.size >= limits.subscriptionsPerSocket)
      throw new ApiError('SESSION_LIMIT', `at most ${limits.subscriptionsPerSocket} subscriptions per connection`)
    const sub = await provider.subscribe(data, handlerContext(conn, id))
    if (conn.closed) {
      sub.close()
      return sub.response
    }
    // Subscribing again to the same topic/VM replaces the old subscription (e.g. a new interval).
    conn.subscriptions.get(key)?.close()
    conn.subscriptions.set(key, sub)
    return sub.response
  }

  const handleUnsubscribe = (conn: Connection, data: { topic: Topic; vmId?: string }): object => {
    const key = subKey(data.topic, data.vmId)
    conn.subscriptions.get(key)?.close()
    conn.subscriptions.delete(key)
    return data.vmId === undefined ? { topic: data.topic } : { topic: data.topic, vmId: data.vmId }
  }

  /** Messages that change something or open a console are audited; input and status traffic is not. */
  const audited = (type: string, permission: Permission) =>
    permission === 'control' || permission === 'admin' || type.endsWith('-connect') || type.endsWith('-disconnect')

  const dispatch = async (
    conn: Connection,
    type: string,
    rawData: unknown,
    id: string | number | undefined,
  ): Promise<void> => {
    try {
      if (type !== 'auth') {
        await authPending.get(conn)
        if (!conn.auth)
          throw new ApiError('UNAUTHORIZED', 'authenticate first: connect with ?token=… or send an auth message')
      }
      if (!Object.hasOwn(CLIENT_MESSAGES, type))
        throw new ApiError('UNKNOWN_TYPE', `unknown message type '${type}'; see docs/protocol.md for the list`)
      const msgType = type as ClientMessageType
      const parsed = CLIENT_MESSAGES[msgType].safeParse(rawData === undefined ? {} : rawData)
      if (!parsed.success) {
        const { field, message } = describeIssue(parsed.error.issues, 'data')
        // A vmId that is not a VM reference at all (e.g. 1 MiB long) is not echoed back.
        const ref = vmRefOf(rawData)
        throw new ApiError('INVALID_MESSAGE', message, {
          field,
          vmId: ref !== undefined && ref.length <= 256 ? ref : undefined,
        })
      }
      const data = parsed.data
      let result: object
      if (msgType === 'auth') {
        result = await handleAuth(conn, (data as { token: string }).token, id)
      } else if (msgType === 'subscribe') {
        result = await handleSubscribe(conn, data as { topic: Topic; vmId?: string; interval?: number }, id)
      } else if (msgType === 'unsubscribe') {
        result = handleUnsubscribe(conn, data as { topic: Topic; vmId?: string })
      } else {
        const handler = handlers.get(msgType)
        const permission = handler?.permission ?? DEFAULT_PERMISSIONS[msgType]
        const ref = (handler?.vmIdOf?.(data as never) ?? vmRefOf(data)) || undefined
        checkPermission(conn, msgType, permission, ref)
        await checkVm(conn, msgType, ref)
        if (!handler) {
          if (
            msgType === 'vm-control' ||
            msgType === 'vm-info' ||
            msgType === 'vm-autostart' ||
            msgType === 'host-info'
          )
            throw new ApiError(
              'HYPERVISOR_UNAVAILABLE',
              `this server runs no hypervisor bridge, so ${msgType === 'vm-info' || msgType === 'host-info' ? 'hypervisor details are not available' : 'VMs cannot be controlled'}`,
              { vmId: ref },
            )
          const what = msgType.startsWith('vnc-') ? 'VNC console' : 'terminal'
          throw new ApiError('INTERNAL_ERROR', `this server runs no ${what} bridge, so ${msgType} is not available`, {
            vmId: ref,
          })
        }
        const hctx = handlerContext(conn, id)
        try {
          result = await handler.handle(data as never, hctx)
        } catch (err) {
          if (audited(msgType, permission))
            hctx.audit({
              action: msgType,
              vmId: ref,
              result: 'error',
              detail: err instanceof ApiError ? err.code : 'internal error',
            })
          throw err
        }
        if (audited(msgType, permission)) {
          // The audit line says what was done: vm-control:stop, vm-autostart:on …
          const { action, enabled } = data as { action?: unknown; enabled?: unknown }
          const what =
            typeof action === 'string' ? `:${action}` : typeof enabled === 'boolean' ? (enabled ? ':on' : ':off') : ''
          hctx.audit({ action: `${msgType}${what}`, vmId: ref, result: 'ok' })
        }
      }
      sendReply(conn, `${type}-response`, result, id)
    } catch (err) {
      if (err === ANSWERED) return
      if (err instanceof ApiError) {
        sendError(conn, id, err.code, err.message, err.extra)
        return
      }
      log.error('message handler failed', {
        type,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      })
      sendError(conn, id, 'INTERNAL_ERROR', 'the server failed to handle this message; see the server log')
    }
  }

  const orderingKey = (type: string, data: unknown): string => {
    // Console input for one VM must stay in order; unrelated messages need not wait for each other.
    const ref = vmRefOf(data) ?? ''
    if (type.startsWith('vnc-')) return `vnc:${ref}`
    if (type.startsWith('terminal-')) return `terminal:${ref}`
    if (type === 'subscribe' || type === 'unsubscribe') return 'sub'
    return `${type}:${ref}`
  }

  /**
   * The chain a message is filed under and the chains it waits for. Terminal
   * tabs on one VM must not wait for each other: a `terminal-connect` (which
   * can take a whole SSH handshake) gets a chain of its own, and a message
   * naming its `sessionId` waits only for earlier messages of that session.
   * A message without `sessionId` addresses "the only session" as of its turn,
   * so it keeps the VM-wide order: it waits for everything earlier on that VM
   * (connects included), and later messages on that VM wait for it.
   */
  const ordering = (conn: Connection, type: string, data: unknown): { key: string; after: Promise<void>[] } => {
    const key = orderingKey(type, data)
    const own = conn.chains.get(key)
    if (!type.startsWith('terminal-')) return { key, after: own ? [own] : [] }
    const sessionId = (data as { sessionId?: unknown } | null)?.sessionId
    const tabKey =
      type === 'terminal-connect'
        ? `${key}/connect:${++terminalConnectSeq}`
        : typeof sessionId === 'string'
          ? `${key}/session:${sessionId}`
          : undefined
    if (tabKey !== undefined) {
      const after = [own, conn.chains.get(tabKey)].filter((p): p is Promise<void> => p !== undefined)
      return { key: tabKey, after }
    }
    const after = own ? [own] : []
    for (const [k, p] of conn.chains) if (k.startsWith(`${key}/`)) after.push(p)
    return { key, after }
  }

  const onMessage = (conn: Connection, raw: RawData, isBinary: boolean): void => {
    if (conn.closed) return
    const allowed = conn.bucket.take()
    if (isBinary)
      return sendError(
        conn,
        undefined,
        'INVALID_MESSAGE',
        'binary frames are not accepted on /ws; send JSON text frames',
      )
    let msg: unknown
    try {
      msg = JSON.parse(raw.toString())
    } catch {
      return sendError(conn, undefined, 'INVALID_MESSAGE', 'the frame is not valid JSON')
    }
    const env = clientEnvelope.safeParse(msg)
    if (!env.success) {
      const rawId = (msg as { id?: unknown } | null)?.id
      const id = typeof rawId === 'string' || typeof rawId === 'number' ? rawId : undefined
      const isObject = typeof msg === 'object' && msg !== null && !Array.isArray(msg)
      const { field, message } = isObject
        ? describeIssue(env.error.issues, '')
        : { field: '', message: 'a message must be a JSON object with type, data and id' }
      return sendError(conn, id, 'INVALID_MESSAGE', message.replace(/^\./, '').replace(/^: /, 'message: '), {
        field: field.replace(/^\./, '') || undefined,
      })
    }
    const { type, data, id } = env.data
    if (!allowed || conn.inFlight >= limits.maxInFlight) {
      const now = Date.now()
      if (now - conn.rejectedWindowStart > 1000) {
        conn.rejectedWindowStart = now
        conn.rejected = 0
      }
      if (++conn.rejected > limits.floodCloseAfter) {
        log.warn('closing a flooding client', { conn: conn.id, remote: conn.remote })
        return closeConn(conn, 1008, 'message rate limit exceeded')
      }
      return sendError(
        conn,
        id,
        'RATE_LIMITED',
        allowed
          ? `too many requests in progress on this connection (max ${limits.maxInFlight})`
          : `too many messages (max ${limits.messagesPerSecond}/s, bursts of ${limits.messageBurst}); slow down`,
      )
    }
    const { key, after } = ordering(conn, type, data)
    conn.inFlight += 1
    const prev = after.length > 1 ? Promise.all(after) : after[0]
    const run: Promise<void> = (
      prev ? prev.then(() => dispatch(conn, type, data, id)) : dispatch(conn, type, data, id)
    ).finally(() => {
      conn.inFlight -= 1
      if (conn.chains.get(key) === run) conn.chains.delete(key)
    })
    conn.chains.set(key, run)
    if (type === 'auth') authPending.set(conn, run)
  }

  const onConnection = (
    ws: WebSocket,
    raw: Duplex,
    req: IncomingMessage,
    verified: VerifiedToken | undefined,
  ): void => {
    const conn = new Connection(ws, raw, remoteAddress(req), limits, c => {
      log.warn('dropping a stalled client (send queue over the limit)', { conn: c.id, remote: c.remote })
      c.ws.terminate()
    })
    conns.add(conn)
    if (verified) setAuth(conn, verified)
    else unauthenticated.add(conn)
    if (!verified)
      authTimers.set(
        conn,
        setTimeout(() => {
          if (!conn.auth && !conn.closed) {
            sendError(conn, undefined, 'UNAUTHORIZED', `not authenticated within ${limits.authTimeoutMs / 1000} s`)
            closeConn(conn, 1008, 'authentication timeout')
          }
        }, limits.authTimeoutMs),
      )
    ws.on('message', (data, isBinary) => onMessage(conn, data, isBinary))
    ws.on('pong', () => {
      conn.alive = true
    })
    ws.on('error', err => log.debug('socket error', { conn: conn.id, error: err.message }))
    ws.on('close', () => {
      conns.delete(conn)
      unauthenticated.delete(conn)
      const t = authTimers.get(conn)
      if (t) clearTimeout(t)
      conn.dispose()
    })
    log.debug('client connected', { conn: conn.id, remote: conn.remote, user: verified?.user.username })
  }

  let closing = false

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    // A module-level listener: a closure here would keep this upgrade's request alive with the socket.
    socket.on('error', destroyOnError)
    if (closing) return rejectUpgrade(socket, 503, 'INTERNAL_ERROR', 'the server is shutting down')
    if (!hostAllowed(req))
      return rejectUpgrade(
        socket,
        403,
        'FORBIDDEN',
        'this server answers only to its loopback names (Host not allowed)',
      )
    if (!originAllowed(req)) {
      log.warn('refused a cross-origin WebSocket upgrade', { origin: req.headers.origin, remote: remoteAddress(req) })
      return rejectUpgrade(
        socket,
        403,
        'FORBIDDEN',
        'Origin not allowed; start the server with --allow-origin to permit it',
      )
    }
    // Every WebSocket (API and bridge endpoints alike) holds a slot of its address until its socket closes.
    const addr = addressKey(remoteAddress(req))
    if (!perAddress.tryTake(addr)) {
      // Warned about at most every 10 s: a client hammering the cap must not flood the log.
      const now = Date.now()
      if (now - lastCapWarning > 10_000) {
        lastCapWarning = now
        log.warn('refused an upgrade: too many connections from one address', {
          remote: addr,
          max: limits.maxConnectionsPerAddress,
        })
      }
      return rejectUpgrade(
        socket,
        429,
        'RATE_LIMITED',
        `too many connections from ${addr} (at most ${limits.maxConnectionsPerAddress} per address); close some and retry`,
      )
    }
    addressSlots.set(socket, { counter: perAddress, key: addr })
    socket.once('close', releaseAddressSlot)
    if (socket.closed) releaseAddressSlot.call(socket)
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === ENDPOINTS.ws) {
      const token = url.searchParams.get('token')
      let verified: VerifiedToken | undefined
      if (token !== null) {
        try {
          verified = await tokens.verify(token)
        } catch (err) {
          const reason = err instanceof TokenError ? err.message : 'token is invalid'
          audit({ action: 'auth', result: 'denied', detail: reason, remote: remoteAddress(req) })
          return rejectUpgrade(socket, 401, 'UNAUTHORIZED', reason)
        }
      }
      if (!verified && unauthenticated.size >= limits.maxUnauthenticatedSockets)
        return rejectUpgrade(
          socket,
          503,
          'RATE_LIMITED',
          'too many connections waiting to authenticate; retry later or connect with ?token=',
        )
      if (socket.destroyed) return
      wss.handleUpgrade(req, socket, head, ws => onConnection(ws, socket, req, verified))
      return
    }
    for (const b of bridges) {
      try {
        if (b.upgrade?.(req, socket, head)) return
      } catch (err) {
        log.error(`bridge ${b.name} upgrade failed`, { error: String(err) })
        return rejectUpgrade(socket, 500, 'INTERNAL_ERROR', 'upgrade failed')
      }
    }
    rejectUpgrade(socket, 404, 'UNKNOWN_TYPE', `no WebSocket endpoint at ${url.pathname}`)
  }

  // ------------------------------------------------------------------ HTTP server

  const httpHandler = createHttpHandler({
    rendererDir,
    health,
    login,
    originAllowed,
    hostAllowed,
    onError: err => log.error('HTTP handler failed', { error: String(err) }),
  })
  const server: Server = opts.tls
    ? createHttpsServer({ cert: await pem(opts.tls.cert), key: await pem(opts.tls.key) }, httpHandler)
    : createHttpServer(httpHandler)
  ownScheme = opts.tls ? 'https' : 'http'
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch(err => {
      log.error('upgrade failed', { error: String(err) })
      socket.destroy()
    })
  })
  server.on('clientError', (_err, socket) => socket.destroy())

  // Heartbeats drop dead peers; the sweep applies revocation and expiry to open sockets.
  const heartbeat = setInterval(() => {
    for (const c of conns) {
      if (!c.alive) {
        log.debug('dropping a peer that missed a pong', { conn: c.id })
        c.ws.terminate()
        continue
      }
      c.alive = false
      try {
        c.ws.ping()
      } catch {
        c.ws.terminate()
      }
    }
  }, limits.heartbeatMs)
  heartbeat.unref()

  const sweep = setInterval(() => {
    void users.refresh().then(
      () => {
        const now = Date.now()
        for (const c of conns) {
          if (!c.auth || c.closed) continue
          const current = c.auth.principal.tokenVersion
          const revoked = current === undefined || current !== c.auth.tokenVersion
          if (revoked || c.auth.expiresAt.getTime() <= now) {
            sendError(
              c,
              undefined,
              'UNAUTHORIZED',
              revoked ? 'token was revoked' : 'token has expired; authenticate again',
            )
            closeConn(c, 1008, revoked ? 'token revoked' : 'token expired')
            c.auth = undefined
          }
        }
      },
      err => log.error('cannot re-read the users file', { error: String(err) }),
    )
  }, 2000)
  sweep.unref()

  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? 3000, host, () => {
      server.off('error', fail)
      ok()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  const url = `${ownScheme}://${urlHost}:${port}`
  const wsUrl = `${ownScheme === 'https' ? 'wss' : 'ws'}://${urlHost}:${port}${ENDPOINTS.ws}`
  log.info('VoidVM server started', { url, dataDir, bridges: bridges.map(b => b.name) })

  const mint = async (username: string, ttl?: number | string): Promise<{ token: string; expiresAt: string }> => {
    await users.refresh()
    const user = users.get(username)
    if (!user) throw new Error(`no user named '${username}'`)
    const seconds = ttl === undefined ? DEFAULT_TOKEN_TTL_SECONDS : typeof ttl === 'number' ? ttl : parseTtl(ttl)
    return tokens.issue(user, seconds)
  }

  return {
    url,
    wsUrl,
    port,
    host,
    dataDir,
    users,
    bridges,
    broadcast,
    issueToken: async (username: string, ttl?: number | string) => (await mint(username, ttl)).token,
    mintToken: mint,
    connectionCount: () => conns.size,
    async close(): Promise<void> {
      if (closing) return
      closing = true
      clearInterval(heartbeat)
      clearInterval(sweep)
      for (const c of conns) c.ws.close(1001, 'server shutting down')
      const closed = new Promise<void>(ok => server.close(() => ok()))
      server.closeIdleConnections()
      await Promise.race([
        (async () => {
          while (conns.size > 0) await new Promise(r => setTimeout(r, 20))
        })(),
        new Promise(r => setTimeout(r, 2000)),
      ])
      for (const c of conns) c.ws.terminate()
      for (const b of bridges) {
        try {
          await b.close?.()
        } catch (err) {
          log.error(`bridge ${b.name} failed to close`, { error: String(err) })
        }
      }
      server.closeAllConnections()
      await closed
      await auditLog.close()
    },
  }
}
