/**
 * The terminal bridge: `terminal-connect`, `terminal-input`, `terminal-resize`
 * and `terminal-disconnect`, pushing `terminal-output` and `terminal-closed`.
 * Sessions belong to the socket that opened them and end with it; several may
 * be open per VM and per socket (terminal tabs), up to the core's per-socket cap.
 */
import { randomUUID } from 'node:crypto'
import {
  ApiError,
  type Bridge,
  type BridgeContext,
  type ClientConnection,
  type HandlerContext,
  type MessageHandler,
  type VmDirectory,
} from '../server/bridge.js'
import type { ClientMessageData } from '../../shared/protocol.js'
import type { CloseInfo, TerminalBackend } from './backend.js'
import { connectFailed, TerminalError } from './errors.js'
import { HostKeyStore } from './hostkeys.js'
import { SerialBackend } from './serial.js'
import { REASONS, TerminalSession } from './session.js'
import { openSsh } from './ssh.js'
import { resolveSshTarget } from './target.js'

export { REASONS } from './session.js'
export { HostKeyStore, KNOWN_HOSTS_FILE, sha256Fingerprint } from './hostkeys.js'

export interface TerminalBridgeOptions {
  /**
   * Close a session after this long without input or output (ms; 0 = never).
   * Default: VOIDVM_TERMINAL_IDLE_TIMEOUT (seconds) or 30 minutes.
   */
  idleTimeoutMs?: number
  /** Pause a session's output once the client socket has this many bytes queued. Default 1 MiB. */
  highWaterBytes?: number
  /** SSH handshake + authentication deadline (ms). Default 15 s. */
  connectTimeoutMs?: number
}

export const DEFAULT_COLS = 80
export const DEFAULT_ROWS = 24

function defaultIdleMs(): number {
  const env = process.env.VOIDVM_TERMINAL_IDLE_TIMEOUT
  const s = env === undefined || env === '' ? NaN : Number(env)
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 30 * 60_000
}

interface ConnState {
  sessions: Map<string, TerminalSession>
  closed: boolean
}

type Data<T extends 'terminal-connect' | 'terminal-input' | 'terminal-resize' | 'terminal-disconnect'> =
  ClientMessageData<T>

export function createTerminalBridge(
  ctx: BridgeContext,
  directory: VmDirectory,
  options: TerminalBridgeOptions = {},
): Bridge {
  const idleTimeoutMs = options.idleTimeoutMs ?? defaultIdleMs()
  const highWaterBytes = options.highWaterBytes ?? 1 << 20
  const connectTimeoutMs = options.connectTimeoutMs ?? 15_000
  const hostKeys = new HostKeyStore(ctx.dataDir)
  const conns = new Map<ClientConnection, ConnState>()

  const stateOf = (conn: ClientConnection): ConnState => {
    let st = conns.get(conn)
    if (!st) {
      const created: ConnState = { sessions: new Map(), closed: false }
      st = created
      conns.set(conn, created)
      conn.onClose(() => {
        created.closed = true
        conns.delete(conn)
        for (const s of [...created.sessions.values()]) s.close(REASONS.socketClosed)
      })
    }
    return st
  }

  const stopVmGone = directory.onVmGone(vmName => {
    // A stopped VM's serial console is gone; SSH sessions end on their own
    // (and a metadata endpoint may outlive the VM, e.g. a port forward).
    for (const st of conns.values())
      for (const s of st.sessions.values()) if (s.vmName === vmName && s.type === 'serial') s.close(REASONS.vmStopped)
  })

  const sameVm = (s: TerminalSession, ref: string) => s.vmName === ref || s.vmUuid.toLowerCase() === ref.toLowerCase()

  /** Finds the session a message addresses (see the module comment on sessionId). */
  async function findSession(conn: ClientConnection, vmRef: string, sessionId?: string): Promise<TerminalSession> {
    const st = conns.get(conn)
    const open = st ? [...st.sessions.values()] : []
    if (sessionId !== undefined) {
      const s = st?.sessions.get(sessionId)
      if (s && sameVm(s, vmRef)) return s
      if (s) {
        // The ref may be another spelling (e.g. an upper-case UUID) of the same VM.
        const vm = await directory.resolve(vmRef)
        if (vm.name === s.vmName) return s
      }
      throw new TerminalError(
        'SESSION_NOT_FOUND',
        `no terminal session "${sessionId}" for VM "${vmRef}" on this connection`,
        {
          vmId: vmRef,
        },
      )
    }
    let matches = open.filter(s => sameVm(s, vmRef))
    if (matches.length === 0 && open.length > 0) {
      const vm = await directory.resolve(vmRef)
      matches = open.filter(s => s.vmName === vm.name)
    }
    if (matches.length === 1 && matches[0]) return matches[0]
    if (matches.length === 0) {
      await directory.resolve(vmRef) // VM_NOT_FOUND for an unknown VM
      throw new TerminalError('SESSION_NOT_FOUND', `no terminal session is open for VM "${vmRef}" on this connection`, {
        vmId: vmRef,
      })
    }
    throw new TerminalError(
      'INVALID_MESSAGE',
      `data.sessionId: ${matches.length} terminal sessions are open for VM "${vmRef}"; say which one with sessionId`,
      { field: 'data.sessionId', vmId: vmRef },
    )
  }

  async function openBackend(
    data: Data<'terminal-connect'>,
    vm: { name: string; uuid: string; status: string },
    cols: number,
    rows: number,
  ): Promise<{ backend: TerminalBackend; hostKey?: string; detail: string }> {
    if (data.type === 'serial') {
      if (vm.status !== 'running' && vm.status !== 'paused')
        throw connectFailed(
          'vm-not-running',
          `VM "${vm.name}" is ${vm.status}: its serial console needs it running`,
          vm.name,
        )
      let stream
      try {
        stream = await directory.openConsole(vm.name)
      } catch (e) {
        const code = e instanceof ApiError ? e.code : undefined
        if (e instanceof ApiError && (code === 'VM_NOT_FOUND' || code === 'HYPERVISOR_UNAVAILABLE')) throw e
        const msg = (e as Error).message
        // Safe mode: libvirt refuses while another client holds the console, and we never force it off.
        if (/active console session/i.test(msg))
          throw connectFailed(
            'console-busy',
            `the serial console of "${vm.name}" is in use by another client: ${msg}`,
            vm.name,
          )
        throw connectFailed('closed', `cannot open the serial console of "${vm.name}": ${msg}`, vm.name)
      }
      return { backend: new SerialBackend(stream), detail: 'serial' }
    }
    const creds = data.credentials
    if (!creds)
      throw new TerminalError(
        'INVALID_MESSAGE',
        'data.credentials: an SSH terminal needs {username, password} or {username, privateKey}',
        {
          field: 'data.credentials',
        },
      )
    const target = await resolveSshTarget(
      { xml: n => directory.xml(n), interfaceAddresses: n => directory.interfaceAddresses(n) },
      vm.name,
      data.port,
    )
    const pin = HostKeyStore.pinKey(vm.uuid, target.port)
    const where = `${target.host}:${target.port}`
    const opened = await openSsh({
      host: target.host,
      port: target.port,
      credentials: creds,
      cols,
      rows,
      readyTimeoutMs: connectTimeoutMs,
      verifyHostKey: async blob => {
        const r = await hostKeys.check(pin, blob, { host: target.host, vmName: vm.name })
        if (r.status === 'mismatch')
          throw new TerminalError(
            'HOST_KEY_MISMATCH',
            `the SSH host key of "${vm.name}" (${where}) is ${r.fingerprint}, but ${r.pinned} was pinned on first use; ` +
              `if the change is expected, remove the entry "${pin}" from the server's known-hosts file`,
            { vmId: vm.name, details: r.fingerprint },
          )
        if (r.status === 'pinned')
          ctx.log.info('terminal: pinned SSH host key', { vm: vm.name, host: where, fingerprint: r.fingerprint })
        return r.fingerprint
      },
    })
    return { backend: opened.backend, hostKey: opened.hostKey, detail: `ssh ${creds.username}@${where}` }
  }

  const connect: MessageHandler<'terminal-connect'> = {
    type: 'terminal-connect',
    permission: 'console',
    vmIdOf: d => d.vmId,
    async handle(data, hctx) {
      const { conn, principal } = hctx
      const vm = await directory.resolve(data.vmId)
      if (!principal.canAccessVm(vm.name)) {
        throw new TerminalError('FORBIDDEN', `you have no grant for VM "${vm.name}"`, { vmId: vm.name })
      }
      const st = stateOf(conn)
      const release = conn.acquireSession('terminal')
      const cols = data.cols ?? DEFAULT_COLS
      const rows = data.rows ?? DEFAULT_ROWS
      let opened: Awaited<ReturnType<typeof openBackend>>
      try {
        opened = await openBackend(data, vm, cols, rows)
      } catch (e) {
        release()
        if (e instanceof ApiError && e.extra.vmId === undefined) e.extra.vmId = vm.name
        const code = (e as { code?: string }).code ?? 'INTERNAL_ERROR'
        hctx.audit({
          action: 'terminal-open',
          vmId: vm.name,
          result: 'error',
          detail: `${data.type} ${code}${(e as { extra?: { details?: string } }).extra?.details ? ` ${(e as { extra: { details: string } }).extra.details}` : ''}`,
        })
        throw e
      }
      const sessionId = randomUUID()
      const session = new TerminalSession(
        sessionId,
        vm.name,
        vm.uuid,
        opened.backend,
        {
          output: output => void conn.push('terminal-output', { vmId: vm.name, sessionId, output }),
          bufferedAmount: () => conn.bufferedAmount,
          onDrain: cb => conn.onDrain(cb),
        },
        { idleTimeoutMs, highWaterBytes },
      )
      if (st.closed) {
        // The socket went away while we were connecting.
        session.close(REASONS.socketClosed)
        release()
        throw new TerminalError('SESSION_NOT_FOUND', 'the connection closed while the terminal was opening')
      }
      st.sessions.set(sessionId, session)
      session.onClose((info: CloseInfo) => {
        st.sessions.delete(sessionId)
        release()
        if (!st.closed) {
          const closed = {
            vmId: vm.name,
            sessionId,
            reason: info.reason,
            ...(info.exitCode !== undefined ? { exitCode: info.exitCode } : {}),
            ...(info.signal !== undefined ? { signal: info.signal } : {}),
          }
          // After the reply of a terminal-disconnect that caused it.
          setImmediate(() => conn.push('terminal-closed', closed))
        }
        ctx.audit({
          action: 'terminal-close',
          vmId: vm.name,
          result: 'ok',
          userId: principal.userId,
          username: principal.username,
          detail: `${session.type} session ${sessionId}: ${info.reason}`,
        })
        ctx.log.info('terminal session closed', { sessionId, vm: vm.name, type: session.type, reason: info.reason })
      })
      // The core audits terminal-connect itself (who, VM, outcome); this line adds the session and target.
      hctx.audit({
        action: 'terminal-open',
        vmId: vm.name,
        result: 'ok',
        detail: `${opened.detail} session ${sessionId}`,
      })
      ctx.log.info('terminal session opened', {
        sessionId,
        vm: vm.name,
        type: data.type,
        user: principal.username,
        target: opened.detail,
      })
      // The reply is sent when this handler returns; output starts after it.
      setImmediate(() => session.start())
      return {
        vmId: vm.name,
        sessionId,
        type: data.type,
        ...(opened.hostKey ? { hostKey: opened.hostKey } : {}),
      }
    },
  }

  const input: MessageHandler<'terminal-input'> = {
    type: 'terminal-input',
    permission: 'console',
    vmIdOf: d => d.vmId,
    async handle(data, hctx: HandlerContext) {
      const s = await findSession(hctx.conn, data.vmId, data.sessionId)
      s.write(data.input)
      return { vmId: s.vmName, sessionId: s.id }
    },
  }

  const resize: MessageHandler<'terminal-resize'> = {
    type: 'terminal-resize',
    permission: 'console',
    vmIdOf: d => d.vmId,
    async handle(data, hctx) {
      const s = await findSession(hctx.conn, data.vmId, data.sessionId)
      // Serial: accepted and ignored (a serial line has no window size).
      s.resize(data.cols, data.rows)
      return { vmId: s.vmName, sessionId: s.id, cols: data.cols, rows: data.rows }
    },
  }

  const disconnect: MessageHandler<'terminal-disconnect'> = {
    type: 'terminal-disconnect',
    permission: 'console',
    vmIdOf: d => d.vmId,
    async handle(data, hctx) {
      const s = await findSession(hctx.conn, data.vmId, data.sessionId)
      s.close(REASONS.clientDisconnect)
      return { vmId: s.vmName, sessionId: s.id }
    },
  }

  return {
    name: 'terminal',
    handlers: [connect, input, resize, disconnect] as unknown as readonly MessageHandler[],
    close() {
      stopVmGone()
      for (const st of conns.values()) for (const s of [...st.sessions.values()]) s.close(REASONS.serverShutdown)
      conns.clear()
    },
  }
}
