/**
 * The VNC bridge: `vnc-connect`, `vnc-data`, `vnc-input`, `vnc-disconnect`,
 * the `vnc-data` / `vnc-closed` pushes, and the binary fast path at
 * `/ws/vnc?ticket=…` (a single-use, 30-second ticket bound to the user, the
 * VM and the session, handed out by `vnc-connect {transport:"websocket"}`).
 *
 * Sessions belong to the JSON socket that opened them and end with it. A
 * message without `sessionId` addresses the only session this socket has
 * open for that VM.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { ENDPOINTS } from '../../shared/protocol.js'
import type { ClientMessageData } from '../../shared/protocol.js'
import {
  ApiError,
  type Bridge,
  type BridgeContext,
  type ClientConnection,
  type MessageHandler,
  type VmDirectory,
} from '../server/bridge.js'
import { vncTargetFromXml, type VncTarget } from './endpoint.js'
import { keyToKeysym, textToKeyPresses } from './keysym.js'
import { keyEvent, pointerEvent } from './rfb.js'
import { ScreenSize } from './screen-size.js'
import { VncSession, type ViewerTransport } from './session.js'
import { connectUpstream, READ_CHUNK } from './upstream.js'

export interface VncBridgeOptions {
  /** Ticket lifetime for the binary fast path (ms). */
  ticketTtlMs?: number
  /** Upstream connect + handshake deadline (ms). */
  connectTimeoutMs?: number
  /** Viewer backlog past which reading from QEMU pauses (bytes). */
  highWater?: number
  /** Pace of typed text (ms between characters). */
  typingDelayMs?: number
  /** Least time between two re-reads of a session's screen size (ms). */
  sizeRefreshMs?: number
}

interface Entry {
  session: VncSession
  /** The guest's current screen size as far as known, for vnc-input bounds. */
  screen: ScreenSize
  vmName: string
  vmUuid: string
  conn: ClientConnection
  transport: 'json' | 'websocket'
  ws?: WebSocket
  release: () => void
}

interface Ticket {
  sessionId: string
  userId: string
  vmName: string
  expires: number
}

/** `vnc-closed` reasons for endings the server initiates. */
export const VNC_CLOSE_REASONS = {
  clientDisconnect: 'closed by the client',
  socketClosed: 'the client connection closed',
  vmStopped: 'the VM stopped',
  viewerClosed: 'the viewer closed the WebSocket',
  serverShutdown: 'the server is shutting down',
} as const

const WS_LOW_WATER = 256 * 1024

export function createVncBridge(ctx: BridgeContext, directory: VmDirectory, options: VncBridgeOptions = {}): Bridge {
  const ticketTtlMs = options.ticketTtlMs ?? 30_000
  const sessions = new Map<string, Entry>()
  const tickets = new Map<string, Ticket>()
  const watchedConns = new WeakSet<ClientConnection>()
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 8 << 20,
    perMessageDeflate: false,
    // noVNC may offer the historical "binary" subprotocol; accept it, require none.
    handleProtocols: protocols => (protocols.has('binary') ? 'binary' : false),
  })

  const stopVmGone = directory.onVmGone(vmName => {
    for (const e of [...sessions.values()]) if (e.vmName === vmName) e.session.close(VNC_CLOSE_REASONS.vmStopped)
  })

  const watchConn = (conn: ClientConnection): void => {
    if (watchedConns.has(conn)) return
    watchedConns.add(conn)
    conn.onClose(() => {
      for (const e of [...sessions.values()]) if (e.conn === conn) e.session.close(VNC_CLOSE_REASONS.socketClosed)
    })
  }

  const sameVm = (e: Entry, ref: string): boolean => e.vmName === ref || e.vmUuid.toLowerCase() === ref.toLowerCase()

  /** The session a vnc-data / vnc-input / vnc-disconnect addresses on this socket. */
  async function findSession(conn: ClientConnection, vmRef: string, sessionId?: string): Promise<Entry> {
    const own = [...sessions.values()].filter(e => e.conn === conn)
    if (sessionId !== undefined) {
      const e = sessions.get(sessionId)
      if (e && e.conn === conn && (sameVm(e, vmRef) || (await directory.resolve(vmRef)).name === e.vmName)) return e
      throw new ApiError('SESSION_NOT_FOUND', `no VNC session "${sessionId}" for VM "${vmRef}" on this connection`, {
        vmId: vmRef,
      })
    }
    let matches = own.filter(e => sameVm(e, vmRef))
    if (matches.length === 0) {
      const vm = await directory.resolve(vmRef) // VM_NOT_FOUND for an unknown VM
      matches = own.filter(e => e.vmName === vm.name)
    }
    if (matches.length === 1) return matches[0]!
    if (matches.length === 0)
      throw new ApiError(
        'SESSION_NOT_FOUND',
        `no VNC session is open for VM "${vmRef}" on this connection; send vnc-connect first`,
        { vmId: vmRef },
      )
    throw new ApiError(
      'INVALID_MESSAGE',
      `data.sessionId: ${matches.length} VNC sessions are open for VM "${vmRef}"; say which one with sessionId`,
      { field: 'data.sessionId', vmId: vmRef },
    )
  }

  function jsonViewer(conn: ClientConnection, vmName: string, sessionId: string): ViewerTransport {
    return {
      send: (b, release) => {
        conn.pushBase64('vnc-data', { vmId: vmName, sessionId }, 'data', b) // encodes b at once
        release?.()
      },
      get buffered() {
        return conn.bufferedAmount
      },
      onDrain: cb => conn.onDrain(cb),
    }
  }

  function wsViewer(ws: WebSocket): ViewerTransport {
    let outstanding = 0
    const waiters: (() => void)[] = []
    return {
      send: (b, release) => {
        outstanding += b.length
        ws.send(b, { binary: true }, () => {
          release?.()
          outstanding -= b.length
          if (outstanding < WS_LOW_WATER) for (const w of waiters.splice(0)) w()
        })
      },
      get buffered() {
        return outstanding
      },
      onDrain: cb => (outstanding < WS_LOW_WATER ? setImmediate(cb) : waiters.push(cb)),
    }
  }

  async function connect(data: ClientMessageData<'vnc-connect'>, conn: ClientConnection): Promise<object> {
    const principal = conn.principal
    const vm = await directory.resolve(data.vmId)
    if (!principal.canAccessVm(vm.name))
      throw new ApiError('FORBIDDEN', `user '${principal.username}' has no grant for VM '${data.vmId}'`, {
        vmId: data.vmId,
      })
    if (vm.status !== 'running' && vm.status !== 'paused')
      throw new ApiError('VNC_UNAVAILABLE', `VM "${vm.name}" is not running (status: ${vm.status})`, { vmId: vm.name })
    const release = conn.acquireSession('vnc')
    let registered = false
    try {
      const target = vncTargetFromXml(await directory.xml(vm.name, { secure: true }))
      if (typeof target === 'string')
        throw new ApiError('VNC_UNAVAILABLE', `VM "${vm.name}": ${target}`, { vmId: vm.name })
      const transport = data.transport ?? 'json'
      let up
      try {
        up = await connectUpstream(target.endpoint, {
          password: target.password,
          timeoutMs: options.connectTimeoutMs,
          readChunkBytes: READ_CHUNK[transport],
        })
      } catch (e) {
        // Handshake errors never carry the password: they describe the exchange only.
        const why = e instanceof Error ? e.message : String(e)
        throw new ApiError('VNC_CONNECT_FAILED', `could not open the VNC console of "${vm.name}": ${why}`, {
          vmId: vm.name,
          details: why,
        })
      }
      const vncTarget: VncTarget = target
      const entry: Entry = {
        screen: new ScreenSize(
          up.serverInit,
          () => readScreenSize(vncTarget, vm.name, () => entry.session.id),
          options.sizeRefreshMs ?? 1000,
        ),
        session: new VncSession(up, {
          highWater: options.highWater,
          typingDelayMs: options.typingDelayMs,
          onClose: (reason, error) => {
            sessions.delete(entry.session.id)
            entry.release()
            for (const [t, tk] of tickets) if (tk.sessionId === entry.session.id) tickets.delete(t)
            if (entry.ws && entry.ws.readyState <= 1) entry.ws.close(error ? 1011 : 1000, reason.slice(0, 120))
            conn.push('vnc-closed', { vmId: entry.vmName, sessionId: entry.session.id, reason })
            ctx.log[error ? 'warn' : 'info']('VNC session ended', {
              vm: entry.vmName,
              session: entry.session.id,
              user: principal.username,
              reason,
            })
            ctx.audit({
              action: 'vnc-closed',
              vmId: entry.vmName,
              result: error ? 'error' : 'ok',
              detail: reason,
              userId: principal.userId,
              username: principal.username,
            })
          },
        }),
        vmName: vm.name,
        vmUuid: vm.uuid,
        conn,
        transport,
        release,
      }
      const { session } = entry
      sessions.set(session.id, entry)
      registered = true
      watchConn(conn)
      ctx.log.info('VNC session opened', { vm: vm.name, session: session.id, user: principal.username, transport })
      const reply: Record<string, unknown> = {
        vmId: vm.name,
        sessionId: session.id,
        width: session.width,
        height: session.height,
        name: session.name,
      }
      if (transport === 'json') {
        // The RFB greeting goes out after the reply, so the viewer knows the sessionId first.
        setImmediate(() => {
          if (!session.isClosed) session.attachViewer(jsonViewer(conn, vm.name, session.id))
        })
      } else {
        const ticket = randomBytes(24).toString('base64url')
        tickets.set(ticket, {
          sessionId: session.id,
          userId: principal.userId,
          vmName: vm.name,
          expires: Date.now() + ticketTtlMs,
        })
        setTimeout(() => tickets.delete(ticket), ticketTtlMs).unref()
        reply.url = `${ENDPOINTS.vncWs}?ticket=${ticket}`
      }
      return reply
    } finally {
      if (!registered) release()
    }
  }

  /**
   * The current framebuffer size from a fresh ServerInit: a short shared
   * connection to the same VNC server, closed at once (the proxy does not
   * parse QEMU's pixel stream, so a resize there goes unseen).
   */
  async function readScreenSize(
    target: VncTarget,
    vmName: string,
    sessionId: () => string,
  ): Promise<{ width: number; height: number }> {
    const up = await connectUpstream(target.endpoint, {
      password: target.password,
      timeoutMs: Math.min(options.connectTimeoutMs ?? 10_000, 5000),
    })
    up.socket.destroy()
    const { width, height } = up.serverInit
    ctx.log.debug('VNC screen size re-read', { vm: vmName, session: sessionId(), width, height })
    return { width, height }
  }

  function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
    const body = JSON.stringify({ error: { code, message } })
    const text = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Gone'
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
    setTimeout(() => socket.destroy(), 1000).unref()
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== ENDPOINTS.vncWs) return false
    const key = url.searchParams.get('ticket') ?? ''
    const ticket = tickets.get(key)
    tickets.delete(key) // single use, whatever happens next
    if (!ticket || ticket.expires < Date.now()) {
      rejectUpgrade(
        socket,
        401,
        'UNAUTHORIZED',
        'the VNC ticket is missing, expired or already used; send vnc-connect again',
      )
      return true
    }
    const entry = sessions.get(ticket.sessionId)
    if (
      !entry ||
      entry.session.isClosed ||
      entry.session.hasViewer ||
      entry.vmName !== ticket.vmName ||
      entry.conn.principal.userId !== ticket.userId
    ) {
      rejectUpgrade(socket, 401, 'UNAUTHORIZED', 'the VNC session for this ticket is gone; send vnc-connect again')
      return true
    }
    wss.handleUpgrade(req, socket, head, ws => {
      if (entry.session.isClosed) return ws.close(1000, 'the session ended')
      entry.ws = ws
      const { session } = entry
      ws.on('message', (raw, isBinary) => {
        const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw)
        if (!isBinary) {
          session.close('the viewer sent a text frame; the VNC WebSocket carries binary RFB frames', true)
          return
        }
        if (!session.fromViewer(buf)) {
          ws.pause()
          session.onUpstreamDrain(() => ws.resume())
        }
      })
      ws.on('close', () => session.close(VNC_CLOSE_REASONS.viewerClosed))
      ws.on('error', () => session.close(VNC_CLOSE_REASONS.viewerClosed))
      session.attachViewer(wsViewer(ws))
    })
    return true
  }

  function injectOrRefuse(s: VncSession, e: Entry, groups: Buffer[][]): void {
    if (!s.inject(groups))
      throw new ApiError('RATE_LIMITED', `${s.queuedInput} typed characters are still queued; wait for them`, {
        vmId: e.vmName,
      })
  }

  async function input(data: ClientMessageData<'vnc-input'>, e: Entry): Promise<void> {
    const s = e.session
    if (data.inputType === 'mouse') {
      // buttons is 0…127 by the shared schema (bit 7 is RFB's extended-pointer marker).
      // The guest may have changed its screen mode since vnc-connect: re-learn before refusing.
      if (!(await e.screen.contains(data.x, data.y))) {
        const { width, height, lastFailure } = e.screen
        const field = data.x >= width ? 'data.x' : 'data.y'
        const why = lastFailure ? ` (the current size could not be re-read: ${lastFailure})` : ''
        throw new ApiError(
          'INVALID_MESSAGE',
          `${field}: ${field === 'data.x' ? data.x : data.y} is outside the ${width}×${height} screen${why}`,
          { field, vmId: e.vmName },
        )
      }
      injectOrRefuse(s, e, [[pointerEvent(data.x, data.y, data.buttons)]])
    } else if (data.inputType === 'keyboard') {
      const keysym = keyToKeysym(data.key)
      if (keysym === undefined)
        throw new ApiError(
          'INVALID_MESSAGE',
          `data.key: unknown key "${data.key}"; use a KeyboardEvent.key value such as "Enter", "a", "ArrowLeft" or "F5"`,
          { field: 'data.key', vmId: e.vmName },
        )
      injectOrRefuse(s, e, [[keyEvent(keysym, data.down)]])
    } else {
      let presses
      try {
        presses = textToKeyPresses(data.text)
      } catch (err) {
        throw new ApiError('INVALID_MESSAGE', `data.text: ${(err as Error).message}`, {
          field: 'data.text',
          vmId: e.vmName,
        })
      }
      // One group per typed character (Shift, key down, key up, Shift up): paced, never interleaved.
      const groups: Buffer[][] = []
      let cur: Buffer[] = []
      let shift = false
      for (const p of presses) {
        cur.push(keyEvent(p.keysym, p.down))
        if (p.keysym === 0xffe1) shift = p.down
        if (!p.down && !shift) {
          groups.push(cur)
          cur = []
        }
      }
      if (cur.length) groups.push(cur)
      if (!s.typeText(groups))
        throw new ApiError(
          'RATE_LIMITED',
          `data.text: ${s.queuedInput} characters are still being typed; wait for them before sending more`,
          { field: 'data.text', vmId: e.vmName },
        )
    }
  }

  const connectHandler: MessageHandler<'vnc-connect'> = {
    type: 'vnc-connect',
    permission: 'console',
    vmIdOf: d => d.vmId,
    handle: (d, hctx) => connect(d, hctx.conn),
  }
  const dataHandler: MessageHandler<'vnc-data'> = {
    type: 'vnc-data',
    permission: 'console',
    vmIdOf: d => d.vmId,
    handle: async (d, hctx) => {
      const e = await findSession(hctx.conn, d.vmId, d.sessionId)
      if (e.transport !== 'json')
        throw new ApiError(
          'INVALID_MESSAGE',
          'data.sessionId: this session uses the binary WebSocket transport; send its RFB bytes there',
          { field: 'data.sessionId', vmId: e.vmName },
        )
      e.session.fromViewer(Buffer.from(d.data, 'base64'))
      if (e.session.isClosed)
        throw new ApiError(
          'INVALID_MESSAGE',
          'data.data: the RFB stream could not be followed; the session was closed',
          {
            field: 'data.data',
            vmId: e.vmName,
          },
        )
      return { vmId: e.vmName, sessionId: e.session.id }
    },
  }
  const inputHandler: MessageHandler<'vnc-input'> = {
    type: 'vnc-input',
    permission: 'console',
    vmIdOf: d => d.vmId,
    handle: async (d, hctx) => {
      const e = await findSession(hctx.conn, d.vmId, d.sessionId)
      await input(d, e)
      return { vmId: e.vmName, sessionId: e.session.id }
    },
  }
  const disconnectHandler: MessageHandler<'vnc-disconnect'> = {
    type: 'vnc-disconnect',
    permission: 'console',
    vmIdOf: d => d.vmId,
    handle: async (d, hctx) => {
      const e = await findSession(hctx.conn, d.vmId, d.sessionId)
      e.session.close(VNC_CLOSE_REASONS.clientDisconnect)
      return { vmId: e.vmName, sessionId: e.session.id }
    },
  }

  return {
    name: 'vnc',
    handlers: [connectHandler, dataHandler, inputHandler, disconnectHandler] as unknown as readonly MessageHandler[],
    upgrade,
    close: () => {
      stopVmGone()
      for (const e of [...sessions.values()]) e.session.close(VNC_CLOSE_REASONS.serverShutdown)
      tickets.clear()
      wss.close()
    },
  }
}
