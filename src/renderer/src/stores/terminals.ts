/**
 * Terminal tabs: SSH and serial sessions, several per VM and across VMs. The
 * sessions live here, not in components, so tabs survive switching views;
 * output is written to the tab's sink (its xterm) or buffered until one
 * attaches.
 */
import { create } from 'zustand'
import type { VoidVmClient } from '../api/client'
import { RequestError, type ClientMessageData } from '../api/types'
import { load, save } from '../lib/storage'
import { describeError, i18n } from '../i18n'

export type TermKind = 'ssh' | 'serial'
export type Credentials = NonNullable<ClientMessageData<'terminal-connect'>['credentials']>

export interface TermTab {
  key: string
  vmId: string
  kind: TermKind
  title: string
  sessionId?: string
  state: 'connecting' | 'open' | 'closed' | 'error'
  errorCode?: string
  errorMessage?: string
  closedReason?: string
  hostKey?: string
  /** "new": first use, the fingerprint was just pinned; "known": matches the pin. */
  hostKeyStatus?: 'new' | 'known'
}

export interface TermState {
  tabs: TermTab[]
  active: string | null
}

export const useTermStore = create<TermState>(() => ({ tabs: [], active: null }))

type Sink = (data: string) => void
const sinks = new Map<string, Sink>()
const backlog = new Map<string, string[]>()
const creds = new Map<string, Credentials | undefined>()
let client: VoidVmClient | null = null
let seq = 1

function patch(key: string, p: Partial<TermTab>): void {
  useTermStore.setState(s => ({ tabs: s.tabs.map(t => (t.key === key ? { ...t, ...p } : t)) }))
}

function tabBySession(sessionId: string): TermTab | undefined {
  return useTermStore.getState().tabs.find(t => t.sessionId === sessionId)
}

function write(key: string, data: string): void {
  const sink = sinks.get(key)
  if (sink) sink(data)
  else {
    const b = backlog.get(key) ?? []
    b.push(data)
    backlog.set(key, b)
  }
}

/** Routes terminal pushes to their tabs; returns the detach function. */
export function attachTerminalPushes(c: VoidVmClient): () => void {
  client = c
  const offs = [
    c.on('terminal-output', d => {
      const tab = tabBySession(d.sessionId)
      if (tab) write(tab.key, d.output)
    }),
    c.on('terminal-closed', d => {
      const tab = tabBySession(d.sessionId)
      if (tab) patch(tab.key, { state: 'closed', closedReason: d.reason, sessionId: undefined })
    }),
  ]
  return () => {
    for (const o of offs) o()
    if (client === c) client = null
  }
}

/** The xterm of a tab registers here; buffered output is replayed first. */
export function attachSink(key: string, sink: Sink): () => void {
  sinks.set(key, sink)
  const b = backlog.get(key)
  if (b) {
    backlog.delete(key)
    for (const chunk of b) sink(chunk)
  }
  return () => {
    if (sinks.get(key) === sink) sinks.delete(key)
  }
}

/** Pinned host keys seen by this client, per server and VM: shows "first use" once. */
function knownKeyId(vmId: string): string {
  return `${client?.baseUrl ?? ''}|${vmId}`
}

export function openTerminal(
  vmId: string,
  kind: TermKind,
  credentials?: Credentials,
  size?: { cols: number; rows: number },
): string {
  const key = `t${seq++}`
  const n = useTermStore.getState().tabs.filter(t => t.vmId === vmId && t.kind === kind).length + 1
  const title = `${vmId} · ${kind === 'ssh' ? 'SSH' : 'serial'}${n > 1 ? ` ${n}` : ''}`
  creds.set(key, credentials)
  useTermStore.setState(s => ({ tabs: [...s.tabs, { key, vmId, kind, title, state: 'connecting' }], active: key }))
  void connectTab(key, size)
  return key
}

async function connectTab(key: string, size?: { cols: number; rows: number }): Promise<void> {
  const tab = useTermStore.getState().tabs.find(t => t.key === key)
  if (!tab) return
  const c = client
  if (!c) {
    patch(key, { state: 'error', errorCode: 'DISCONNECTED', errorMessage: i18n.t('error.DISCONNECTED') })
    return
  }
  patch(key, { state: 'connecting', errorCode: undefined, errorMessage: undefined, closedReason: undefined })
  try {
    const credentials = creds.get(key)
    const r = await c.request('terminal-connect', {
      vmId: tab.vmId,
      type: tab.kind,
      ...(credentials ? { credentials } : {}),
      ...(size ? { cols: size.cols, rows: size.rows } : {}),
    })
    let hostKeyStatus: TermTab['hostKeyStatus']
    if (r.hostKey) {
      const known = load<Record<string, string>>('voidvm.hostkeys', {})
      const id = knownKeyId(tab.vmId)
      hostKeyStatus = known[id] === r.hostKey ? 'known' : 'new'
      known[id] = r.hostKey
      save('voidvm.hostkeys', known)
    }
    if (!useTermStore.getState().tabs.some(t => t.key === key)) {
      // The tab was closed while connecting.
      void c.request('terminal-disconnect', { vmId: tab.vmId, sessionId: r.sessionId }).catch(() => undefined)
      return
    }
    patch(key, { state: 'open', sessionId: r.sessionId, hostKey: r.hostKey, hostKeyStatus })
  } catch (err) {
    const e = err instanceof RequestError ? err : new RequestError('INTERNAL_ERROR', String(err))
    patch(key, {
      state: 'error',
      errorCode: e.code,
      // Localised from the code; the server's own words (which name the host, port, …) follow.
      errorMessage: `${describeError(e.code, e.message)} ${[e.message, e.details].filter(Boolean).join(' — ')}`,
    })
  }
}

export function reconnectTerminal(key: string, credentials?: Credentials, size?: { cols: number; rows: number }): void {
  if (credentials) creds.set(key, credentials)
  void connectTab(key, size)
}

export function sendTerminalInput(key: string, input: string): void {
  const tab = useTermStore.getState().tabs.find(t => t.key === key)
  if (!tab?.sessionId || tab.state !== 'open' || !client) return
  client.request('terminal-input', { vmId: tab.vmId, sessionId: tab.sessionId, input }).catch(() => undefined)
}

export function resizeTerminal(key: string, cols: number, rows: number): void {
  const tab = useTermStore.getState().tabs.find(t => t.key === key)
  if (!tab?.sessionId || tab.state !== 'open' || !client) return
  client.request('terminal-resize', { vmId: tab.vmId, sessionId: tab.sessionId, cols, rows }).catch(() => undefined)
}

export function setActiveTerminal(key: string): void {
  useTermStore.setState({ active: key })
}

export function closeTerminal(key: string): void {
  const tab = useTermStore.getState().tabs.find(t => t.key === key)
  if (tab?.sessionId && tab.state === 'open' && client)
    client.request('terminal-disconnect', { vmId: tab.vmId, sessionId: tab.sessionId }).catch(() => undefined)
  sinks.delete(key)
  backlog.delete(key)
  creds.delete(key)
  useTermStore.setState(s => {
    const tabs = s.tabs.filter(t => t.key !== key)
    const active = s.active === key ? (tabs.at(-1)?.key ?? null) : s.active
    return { tabs, active }
  })
}

export function closeAllTerminals(): void {
  for (const t of useTermStore.getState().tabs) closeTerminal(t.key)
}
