/**
 * The session with one server: creates the client, wires its pushes into the
 * stores, keeps the connection state for the UI, and runs VM actions.
 */
import { create } from 'zustand'
import type { AuthResponseData } from '../../../shared/protocol'
import { VoidVmClient, type ConnectionSnapshot } from '../api/client'
import { RequestError, type SocketFactory } from '../api/types'
import { workerSocketFactory } from '../api/workerSocket'
import { ACTION_REQUEST, type UiAction } from '../lib/permissions'
import { load, save } from '../lib/storage'
import { i18n, describeActor, describeEvent, describeServerError } from '../i18n'
import { clearPending, ingestVmStatus, removeVm, resetVms, setPending } from './vms'
import { ingestHost, setHostInterval, useHostStore } from './host'
import { addEvent, pushToast } from './events'
import { attachTerminalPushes, closeAllTerminals } from './terminals'

export interface ServerTarget {
  url: string
  name: string
  /** Saved Electron profile, when the session came from one. */
  profileId?: string
  local?: boolean
}

export interface SessionState {
  server: ServerTarget | null
  conn: ConnectionSnapshot
  user: AuthResponseData | null
}

export const useSessionStore = create<SessionState>(() => ({
  server: null,
  conn: { state: 'idle', attempt: 0 },
  user: null,
}))

let client: VoidVmClient | null = null
let detach: (() => void)[] = []

export function getClient(): VoidVmClient | null {
  return client
}

export interface StartOptions {
  socketFactory?: SocketFactory
}

export function startSession(server: ServerTarget, token: string, o: StartOptions = {}): VoidVmClient {
  endSession()
  const perf = (globalThis as { __VOIDVM_PERF__?: { worker?: boolean } }).__VOIDVM_PERF__
  const socketFactory = o.socketFactory ?? (perf?.worker === false ? undefined : workerSocketFactory())
  const c = new VoidVmClient({ baseUrl: server.url, token, socketFactory })
  client = c
  useSessionStore.setState({ server, user: null })
  detach = [
    c.onState(s => useSessionStore.setState({ conn: s, user: s.user ?? null })),
    c.on('vm-status', (d, ts) => ingestVmStatus(d, ts)),
    c.on('system-monitor', (d, ts) => ingestHost(d, ts)),
    c.on('system-event', (d, ts) => {
      addEvent(d, ts)
      if (d.event === 'vm-deleted' && d.vmId) removeVm(d.vmId)
      if (d.level !== 'info') {
        const actor = describeActor(d, useSessionStore.getState().user)
        const body = actor === undefined ? undefined : i18n.t('events.by', { user: actor })
        pushToast({ level: d.level, title: describeEvent(d), body, code: d.event })
      }
    }),
    c.on('error', d =>
      pushToast({ level: 'error', ...describeServerError(d.code, d.message, d.vmId, d.details), code: d.code }),
    ),
    attachTerminalPushes(c),
  ]
  c.connect()
  c.subscribe({ topic: 'vm-status-all' }).catch(err => reportError(err))
  c.subscribe({ topic: 'system-monitor', interval: useHostStore.getState().intervalMs }).catch(err => reportError(err))
  return c
}

export function endSession(): void {
  for (const d of detach) d()
  detach = []
  closeAllTerminals()
  client?.close()
  client = null
  resetVms()
  useSessionStore.setState({ server: null, user: null, conn: { state: 'idle', attempt: 0 } })
}

export function reportError(err: unknown, vmId?: string): void {
  if (err instanceof RequestError) {
    if (err.code === 'DISCONNECTED') return // the connection banner already says so
    pushToast({
      level: 'error',
      ...describeServerError(err.code, err.message, vmId ?? err.vmId, err.details),
      code: err.code,
    })
  } else pushToast({ level: 'error', title: err instanceof Error ? err.message : String(err) })
}

/** Runs a VM action: pending until the VM's status changes, toast on failure. */
export async function runAction(vmId: string, action: UiAction): Promise<boolean> {
  const c = client
  if (!c) return false
  setPending(vmId, action)
  try {
    const req = ACTION_REQUEST[action]
    await c.request('vm-control', { vmId, action: req.action, ...(req.force ? { force: true } : {}) })
    if (action === 'reboot' || action === 'reset') clearPending(vmId)
    pushToast({ level: 'success', title: i18n.t(`actionDone.${action}`, { vm: vmId }) }, 3000)
    // A guest that ignores ACPI never reaches the target state: stop the spinner eventually.
    setTimeout(() => clearPending(vmId), 120_000)
    return true
  } catch (err) {
    clearPending(vmId)
    reportError(err, vmId)
    return false
  }
}

export async function changeHostInterval(ms: number): Promise<void> {
  setHostInterval(ms)
  const c = client
  if (!c) return
  await c.unsubscribe({ topic: 'system-monitor' })
  await c.subscribe({ topic: 'system-monitor', interval: ms }).catch(err => reportError(err))
}

// ------------------------------------------------------------- remembered browser login

export interface RememberedLogin {
  url: string
  token: string
  expiresAt: string
  username: string
}

const REMEMBER_KEY = 'voidvm.login'

export function rememberedLogin(): RememberedLogin | null {
  const r = load<RememberedLogin | null>(REMEMBER_KEY, null)
  if (!r || typeof r.token !== 'string') return null
  if (Date.parse(r.expiresAt) <= Date.now()) {
    save(REMEMBER_KEY, null)
    return null
  }
  return r
}

export function rememberLogin(r: RememberedLogin | null): void {
  save(REMEMBER_KEY, r)
}
