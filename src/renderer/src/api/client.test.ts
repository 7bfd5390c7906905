import { describe, expect, it } from 'vitest'
import { VoidVmClient, wsUrl } from './client'
import { RequestError } from './types'
import { backoffDelay, DEFAULT_BACKOFF } from './backoff'
import { fakeFactory, manualTimers } from '../test/fakeSocket'

function setup() {
  const { factory, sockets } = fakeFactory()
  const timers = manualTimers()
  const client = new VoidVmClient({
    baseUrl: 'http://127.0.0.1:3000',
    token: 'tok-1',
    socketFactory: factory,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    requestTimeoutMs: 5000,
  })
  const states: string[] = []
  client.onState(s => states.push(s.state))
  return { client, sockets, timers, states }
}

describe('VoidVmClient', () => {
  it('maps http(s) base URLs to ws(s) socket URLs', () => {
    expect(wsUrl('http://h:3000', '/ws')).toBe('ws://h:3000/ws')
    expect(wsUrl('https://h', '/ws/vnc?ticket=abc')).toBe('wss://h/ws/vnc?ticket=abc')
  })

  it('authenticates with an auth message (not the URL), then sends queued requests and matches replies by id', async () => {
    const { client, sockets, states } = setup()
    client.connect()
    const s = sockets[0]!
    expect(s.url).toBe('ws://127.0.0.1:3000/ws')
    const reply = client.request('vm-control', { vmId: 'web', action: 'start' })
    s.open()
    expect(s.sent.map(m => m.type)).toEqual(['auth'])
    expect(s.sent[0]!.data).toEqual({ token: 'tok-1' })
    s.acceptAuth('operator')
    expect(client.state.state).toBe('open')
    expect(client.state.user?.role).toBe('operator')
    const ctl = s.last('vm-control')!
    expect(ctl.data).toEqual({ vmId: 'web', action: 'start' })
    s.serverSends({
      type: 'vm-control-response',
      id: ctl.id,
      data: { vmId: 'web', action: 'start', status: 'success' },
    })
    await expect(reply).resolves.toEqual({ vmId: 'web', action: 'start', status: 'success' })
    expect(states).toEqual(['idle', 'connecting', 'authenticating', 'open'])
  })

  it('rejects with the server error code, message and details', async () => {
    const { client, sockets } = setup()
    client.connect()
    const s = sockets[0]!
    s.open()
    s.acceptAuth()
    const p = client.request('vm-control', { vmId: 'web', action: 'resume' })
    const id = s.last('vm-control')!.id
    s.serverSends({
      type: 'error',
      id,
      data: { code: 'VM_NOT_PAUSED', message: 'resume needs a paused VM', vmId: 'web' },
    })
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RequestError)
    expect(err).toMatchObject({ code: 'VM_NOT_PAUSED', message: 'resume needs a paused VM', vmId: 'web' })
  })

  it('dispatches pushes to handlers by type and stops after unsubscribe', () => {
    const { client, sockets } = setup()
    const seen: string[] = []
    const off = client.on('vm-status', d => seen.push(`${d.vmId}:${d.status}`))
    client.connect()
    const s = sockets[0]!
    s.open()
    s.acceptAuth()
    s.serverSends({ type: 'vm-status', data: { vmId: 'a', status: 'running' } })
    s.serverSends({ type: 'system-event', data: { event: 'vm-started' } })
    off()
    s.serverSends({ type: 'vm-status', data: { vmId: 'b', status: 'paused' } })
    expect(seen).toEqual(['a:running'])
  })

  it('accepts messages the socket worker already parsed', () => {
    const { client, sockets } = setup()
    const seen: number[] = []
    client.on('vm-status', d => seen.push(d.cpu))
    client.connect()
    const s = sockets[0]!
    s.open()
    s.acceptAuth()
    s.onmessage?.({ data: { type: 'vm-status', data: { vmId: 'a', cpu: 42 }, timestamp: '' } })
    s.onmessage?.({ data: 17 })
    expect(seen).toEqual([42])
  })

  it('reconnects with backoff after a drop, says the server is unreachable, and restores subscriptions', async () => {
    const { client, sockets, timers } = setup()
    client.connect()
    const s1 = sockets[0]!
    s1.open()
    s1.acceptAuth()
    // The first subscribe replies never come: the drop rejects them (and the
    // client re-subscribes by itself after reconnecting).
    const firstSubs = [
      client.subscribe({ topic: 'vm-status-all' }),
      client.subscribe({ topic: 'system-monitor', interval: 2000 }),
    ]
    const pending = client.request('vm-control', { vmId: 'x', action: 'pause' })
    s1.drop()
    for (const sub of firstSubs) await expect(sub).rejects.toMatchObject({ code: 'DISCONNECTED' })
    expect(client.state.state).toBe('reconnecting')
    expect(client.state.reason).toBe('unreachable')
    expect(client.state.attempt).toBe(1)
    await expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' })
    // First retry within the first backoff step.
    expect(sockets).toHaveLength(1)
    timers.advance(DEFAULT_BACKOFF.minMs * (1 + DEFAULT_BACKOFF.jitter))
    expect(sockets).toHaveLength(2)
    const s2 = sockets[1]!
    s2.drop() // still down: the next wait is longer
    expect(client.state.attempt).toBe(2)
    const wait = timers.pending()[0]!
    expect(wait).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.minMs * 2 * (1 - DEFAULT_BACKOFF.jitter))
    timers.advance(wait)
    const s3 = sockets[2]!
    s3.open()
    s3.acceptAuth()
    expect(client.state.state).toBe('open')
    expect(client.state.attempt).toBe(0)
    const subs = s3.sent.filter(m => m.type === 'subscribe').map(m => m.data)
    expect(subs).toEqual([{ topic: 'vm-status-all' }, { topic: 'system-monitor', interval: 2000 }])
  })

  it('a refused token stops reconnecting and says why', async () => {
    const { client, sockets, timers } = setup()
    const queued = client.request('subscribe', { topic: 'vm-status-all' })
    client.connect()
    const s = sockets[0]!
    s.open()
    const auth = s.last('auth')!
    s.serverSends({ type: 'error', id: auth.id, data: { code: 'UNAUTHORIZED', message: 'token expired' } })
    expect(client.state).toMatchObject({ state: 'refused', reason: 'unauthorized', message: 'token expired' })
    await expect(queued).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    timers.advance(60_000)
    expect(sockets).toHaveLength(1)
    // A fresh token (after a new login) reconnects.
    client.setToken('tok-2')
    expect(sockets).toHaveLength(2)
    sockets[1]!.open()
    expect(sockets[1]!.last('auth')!.data).toEqual({ token: 'tok-2' })
  })

  it('over https, a socket that never opens points at the certificate', () => {
    const { factory, sockets } = fakeFactory()
    const timers = manualTimers()
    const c = new VoidVmClient({ baseUrl: 'https://hv.example:3000', token: 't', socketFactory: factory, ...timers })
    c.connect()
    sockets[0]!.drop()
    expect(c.state).toMatchObject({ state: 'reconnecting', reason: 'certificate' })
    expect(sockets[0]!.url).toBe('wss://hv.example:3000/ws')
  })

  it('times out a request the server never answers', async () => {
    const { client, sockets, timers } = setup()
    client.connect()
    sockets[0]!.open()
    sockets[0]!.acceptAuth()
    const p = client.request('vnc-connect', { vmId: 'a' })
    timers.advance(5001)
    await expect(p).rejects.toMatchObject({ code: 'TIMEOUT' })
  })

  it('close() ends the session: pending requests fail and no reconnect follows', async () => {
    const { client, sockets, timers } = setup()
    client.connect()
    sockets[0]!.open()
    sockets[0]!.acceptAuth()
    const p = client.request('vnc-connect', { vmId: 'a' })
    client.close()
    await expect(p).rejects.toMatchObject({ code: 'DISCONNECTED' })
    timers.advance(60_000)
    expect(sockets).toHaveLength(1)
    expect(client.state.state).toBe('closed')
    await expect(client.request('vnc-connect', { vmId: 'a' })).rejects.toMatchObject({ code: 'DISCONNECTED' })
  })
})

describe('backoffDelay', () => {
  it('doubles from the minimum up to the cap, within the jitter', () => {
    const o = { minMs: 500, maxMs: 8000, jitter: 0 }
    expect([0, 1, 2, 3, 4, 5, 9].map(a => backoffDelay(a, o))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000])
    const jittered = { ...o, jitter: 0.2 }
    expect(backoffDelay(2, jittered, () => 0)).toBe(1600)
    expect(backoffDelay(2, jittered, () => 1)).toBe(2400)
  })
})
