import { beforeEach, describe, expect, it } from 'vitest'
import { VoidVmClient } from '../api/client'
import { fakeFactory, manualTimers, type FakeSocket } from '../test/fakeSocket'
import {
  attachSink,
  attachTerminalPushes,
  closeAllTerminals,
  closeTerminal,
  openTerminal,
  sendTerminalInput,
  useTermStore,
} from './terminals'

const tick = () => new Promise(r => setTimeout(r, 0))
let socket: FakeSocket
let detach: () => void

function answer(type: string, data: object) {
  const req = socket.last(type)!
  socket.serverSends({ type: `${type}-response`, id: req.id, data })
}

beforeEach(() => {
  closeAllTerminals()
  detach?.()
  const { factory, sockets } = fakeFactory()
  const c = new VoidVmClient({ baseUrl: 'http://h:1', token: 't', socketFactory: factory, ...manualTimers() })
  detach = attachTerminalPushes(c)
  c.connect()
  socket = sockets[0]!
  socket.open()
  socket.acceptAuth()
  globalThis.localStorage?.clear()
})

describe('terminal tabs', () => {
  it('opens a tab, routes its output by session (buffered until a view attaches) and sends input', async () => {
    const key = openTerminal('web', 'serial', undefined, { cols: 120, rows: 40 })
    expect(useTermStore.getState().tabs[0]).toMatchObject({ key, vmId: 'web', kind: 'serial', state: 'connecting' })
    expect(socket.last('terminal-connect')!.data).toEqual({ vmId: 'web', type: 'serial', cols: 120, rows: 40 })
    answer('terminal-connect', { vmId: 'web', sessionId: 's1', type: 'serial' })
    await tick()
    expect(useTermStore.getState().tabs[0]!.state).toBe('open')
    socket.serverSends({ type: 'terminal-output', data: { vmId: 'web', sessionId: 's1', output: 'hello ' } })
    socket.serverSends({ type: 'terminal-output', data: { vmId: 'web', sessionId: 'other', output: 'not mine' } })
    const got: string[] = []
    attachSink(key, d => got.push(d))
    socket.serverSends({ type: 'terminal-output', data: { vmId: 'web', sessionId: 's1', output: 'world' } })
    expect(got.join('')).toBe('hello world')
    sendTerminalInput(key, 'ls\r')
    expect(socket.last('terminal-input')!.data).toEqual({ vmId: 'web', sessionId: 's1', input: 'ls\r' })
  })

  it('several tabs per VM get distinct titles; closing one disconnects its session', async () => {
    const a = openTerminal('web', 'ssh', { username: 'u', password: 'p' })
    answer('terminal-connect', { vmId: 'web', sessionId: 'sa', type: 'ssh', hostKey: 'SHA256:abc' })
    const b = openTerminal('web', 'ssh', { username: 'u', password: 'p' })
    answer('terminal-connect', { vmId: 'web', sessionId: 'sb', type: 'ssh', hostKey: 'SHA256:abc' })
    await tick()
    const tabs = useTermStore.getState().tabs
    expect(tabs.map(t => t.title)).toEqual(['web · SSH', 'web · SSH 2'])
    expect(useTermStore.getState().active).toBe(b)
    closeTerminal(a)
    expect(socket.last('terminal-disconnect')!.data).toEqual({ vmId: 'web', sessionId: 'sa' })
    expect(useTermStore.getState().tabs.map(t => t.key)).toEqual([b])
  })

  it('shows a host key as new on first use, then as known', async () => {
    openTerminal('web', 'ssh', { username: 'u', password: 'p' })
    answer('terminal-connect', { vmId: 'web', sessionId: 's1', type: 'ssh', hostKey: 'SHA256:abc' })
    await tick()
    const first = useTermStore.getState().tabs[0]!
    expect(first).toMatchObject({ hostKey: 'SHA256:abc' })
    // Without localStorage (node) every connection looks like a first use; in the browser the second is "known".
    expect(first.hostKeyStatus).toBe('new')
  })

  it('a changed host key puts the tab in a HOST_KEY_MISMATCH error', async () => {
    openTerminal('web', 'ssh', { username: 'u', password: 'p' })
    const req = socket.last('terminal-connect')!
    socket.serverSends({
      type: 'error',
      id: req.id,
      data: { code: 'HOST_KEY_MISMATCH', message: 'host key changed', vmId: 'web' },
    })
    await tick()
    expect(useTermStore.getState().tabs[0]).toMatchObject({ state: 'error', errorCode: 'HOST_KEY_MISMATCH' })
  })

  it('terminal-closed marks the tab closed with the reason', async () => {
    openTerminal('web', 'serial')
    answer('terminal-connect', { vmId: 'web', sessionId: 's9', type: 'serial' })
    await tick()
    socket.serverSends({ type: 'terminal-closed', data: { vmId: 'web', sessionId: 's9', reason: 'VM stopped' } })
    expect(useTermStore.getState().tabs[0]).toMatchObject({ state: 'closed', closedReason: 'VM stopped' })
  })
})
