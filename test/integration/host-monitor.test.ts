// system-monitor over the real API: a server with the default bridges (so the
// wiring in bridges.ts is exercised), a real user, a real token.
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import type { SystemMonitorData } from '../../src/shared/protocol.js'

const memTotalKiB = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1])

describe('system-monitor topic', () => {
  let server: TestServer
  let client: TestClient
  beforeAll(async () => {
    server = await startTestServer({ libvirtUri: 'test:///default' })
    await server.addUser('hv-viewer', 'viewer')
    client = await connect(server.wsUrl, await server.tokenFor('hv-viewer'))
  })
  afterAll(async () => {
    await client?.close()
    await server?.close()
  })

  it('reports every CPU, MemTotal, and non-negative rates', async () => {
    const reply = await client.request<{ topic: string; interval: number }>('subscribe', {
      topic: 'system-monitor',
      interval: 500,
    })
    expect(reply).toEqual({ topic: 'system-monitor', interval: 500 })
    const first = await client.next<SystemMonitorData>('system-monitor', undefined, 5000)
    const second = await client.next<SystemMonitorData>('system-monitor', undefined, 5000)
    for (const s of [first, second]) {
      expect(s.cpu.cores).toHaveLength(cpus().length)
      expect(s.memory.total).toBe(memTotalKiB)
      expect(s.memory.used).toBeGreaterThan(0)
      expect(s.memory.used).toBeLessThanOrEqual(s.memory.total)
      expect(s.memory.usage).toBeCloseTo((s.memory.used / s.memory.total) * 100, 1)
      for (const v of [s.cpu.usage, ...s.cpu.cores]) {
        expect(v).toBeGreaterThanOrEqual(0)
        expect(v).toBeLessThanOrEqual(100)
      }
      for (const v of [s.disk.read, s.disk.write, s.network.rx, s.network.tx]) {
        expect(Number.isFinite(v)).toBe(true)
        expect(v).toBeGreaterThanOrEqual(0)
      }
    }
    await client.request('unsubscribe', { topic: 'system-monitor' })
  })

  it('clamps the interval and says which one it used', async () => {
    expect(await client.request('subscribe', { topic: 'system-monitor', interval: 1 })).toEqual({
      topic: 'system-monitor',
      interval: 500,
    })
    expect(await client.request('subscribe', { topic: 'system-monitor', interval: 3_600_000 })).toEqual({
      topic: 'system-monitor',
      interval: 60_000,
    })
    expect(await client.request('subscribe', { topic: 'system-monitor' })).toEqual({
      topic: 'system-monitor',
      interval: 5000,
    })
    await client.request('unsubscribe', { topic: 'system-monitor' })
  })

  it('pushes at the requested pace and stops after unsubscribe', async () => {
    await client.request('subscribe', { topic: 'system-monitor', interval: 500 })
    await client.next('system-monitor', undefined, 5000)
    const t0 = Date.now()
    await client.next('system-monitor', undefined, 5000)
    await client.next('system-monitor', undefined, 5000)
    const perPush = (Date.now() - t0) / 2
    expect(perPush).toBeGreaterThan(300)
    expect(perPush).toBeLessThan(1500)
    await client.request('unsubscribe', { topic: 'system-monitor' })
    const count = client.frames.filter(f => f.type === 'system-monitor').length
    await new Promise(r => setTimeout(r, 1200))
    expect(client.frames.filter(f => f.type === 'system-monitor').length).toBe(count)
  })
})
