/**
 * The core's push path over real sockets: one data object fanned out to many
 * sockets is serialised once (every socket gets the same bytes), grants still
 * decide per socket which vm-status pushes arrive, bursts arrive complete and
 * in order, and pushBase64 delivers the same text frame push would.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { Bridge, ClientConnection, TopicProvider } from '../../src/main/server/index.js'
import type { VmStatusData } from '../../src/shared/protocol.js'
import { sampleStatus, startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'

const servers: TestServer[] = []
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()))
})

/** The raw text of every text frame a client receives, in order. */
function texts(c: TestClient): string[] {
  const out: string[] = []
  c.ws.on('message', (raw, isBinary) => {
    if (!isBinary) out.push(raw.toString())
  })
  return out
}

// A status topic like the hypervisor's: the bridge fans each VM's one data
// object out to every subscribed socket and leaves grant checks to the core.
const watchers = new Set<ClientConnection>()
const topic: TopicProvider = {
  topic: 'vm-status-all',
  permission: 'view',
  subscribe(_data, ctx) {
    watchers.add(ctx.conn)
    return { response: { topic: 'vm-status-all' }, close: () => watchers.delete(ctx.conn) }
  },
}
const bridge: Bridge = { name: 'push-test', topics: [topic] }

function fanOut(vms: string[], cpu: number): VmStatusData[] {
  const payloads = vms.map(n => sampleStatus(n, cpu))
  for (const conn of watchers) for (const d of payloads) conn.pushLatest(`vm-status:${d.name}`, 'vm-status', d)
  return payloads
}

describe('push fan-out', () => {
  it('each socket gets only the VMs its grants cover, and all of them get the same bytes per VM', async () => {
    const srv = await startTestServer({ bridges: [bridge] })
    servers.push(srv)
    await srv.addUser('all', 'viewer', ['*'])
    await srv.addUser('alice', 'viewer', ['a-*'])
    await srv.addUser('bob', 'viewer', ['b-*'])
    const clients = {
      all: await connect(srv.wsUrl, await srv.tokenFor('all')),
      alice: await connect(srv.wsUrl, await srv.tokenFor('alice')),
      bob: await connect(srv.wsUrl, await srv.tokenFor('bob')),
    }
    const raw = { all: texts(clients.all), alice: texts(clients.alice), bob: texts(clients.bob) }
    for (const c of Object.values(clients)) await c.request('subscribe', { topic: 'vm-status-all' })
    const vms = ['a-1', 'a-2', 'b-1', 'c-1']
    const payloads = fanOut(vms, 7)
    // Then one last push per grant: once a socket has its own, everything before it has arrived.
    fanOut(['a-end', 'b-end', 'c-end'], 0)
    const seen = async (who: keyof typeof clients, last: string) => {
      await clients[who].next<VmStatusData>('vm-status', d => d.name === last, 5000)
      return raw[who].filter(t => t.includes('"type":"vm-status"') && !t.includes('-end"'))
    }
    const all = await seen('all', 'c-end')
    const alice = await seen('alice', 'a-end')
    const bob = await seen('bob', 'b-end')
    const names = (frames: string[]) => frames.map(t => (JSON.parse(t) as { data: VmStatusData }).data.name)
    expect(names(all)).toEqual(vms)
    expect(names(alice)).toEqual(['a-1', 'a-2'])
    expect(names(bob)).toEqual(['b-1'])
    // Byte-identical across sockets, and exactly what stringifying the push gives.
    expect(alice).toEqual(all.slice(0, 2))
    expect(bob).toEqual([all[2]])
    for (const [i, t] of all.entries()) {
      const { timestamp } = JSON.parse(t) as { timestamp: string }
      expect(Math.abs(Date.parse(timestamp) - Date.now())).toBeLessThan(10_000)
      expect(t).toBe(JSON.stringify({ type: 'vm-status', data: payloads[i], timestamp }))
    }
    await Promise.all(Object.values(clients).map(c => c.close()))
  })

  it('a burst of thousands of pushes to several sockets arrives complete and in order', async () => {
    const srv = await startTestServer({ bridges: [bridge] })
    servers.push(srv)
    await srv.addUser('burst', 'viewer')
    const token = await srv.tokenFor('burst')
    const cs = await Promise.all([connect(srv.wsUrl, token), connect(srv.wsUrl, token), connect(srv.wsUrl, token)])
    const raws = cs.map(texts)
    for (const c of cs) await c.request('subscribe', { topic: 'vm-status-all' })
    const vms = Array.from({ length: 3000 }, (_, i) => `vm-${i}`)
    fanOut(vms, 1)
    fanOut(['end'], 0)
    for (const [i, c] of cs.entries()) {
      await c.next<VmStatusData>('vm-status', d => d.name === 'end', 20_000)
      const got = (raws[i] ?? [])
        .filter(t => t.includes('"type":"vm-status"'))
        .map(t => (JSON.parse(t) as { data: VmStatusData }).data.name)
      expect(got).toEqual([...vms, 'end'])
    }
    await Promise.all(cs.map(c => c.close()))
  })
})

describe('pushBase64', () => {
  it('delivers a text frame equal to the push with the bytes as base64', async () => {
    const conns: ClientConnection[] = []
    const srv = await startTestServer({
      bridges: [
        {
          name: 'b64-test',
          topics: [
            {
              topic: 'system-monitor',
              permission: 'view',
              subscribe(_d, ctx) {
                conns.push(ctx.conn)
                return { response: { topic: 'system-monitor' }, close: () => {} }
              },
            },
          ],
        },
      ],
    })
    servers.push(srv)
    await srv.addUser('v', 'operator')
    const c = await connect(srv.wsUrl, await srv.tokenFor('v'))
    const raw = texts(c)
    let binaryFrames = 0
    c.ws.on('message', (_d, isBinary) => (binaryFrames += isBinary ? 1 : 0))
    await c.request('subscribe', { topic: 'system-monitor' })
    const bytes = Buffer.alloc(300_000)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255
    const conn = conns[0] as ClientConnection
    expect(conn.pushBase64('vnc-data', { vmId: 'vm-ü', sessionId: 's1' }, 'data', bytes)).toBe(true)
    expect(conn.pushBase64('vnc-data', { vmId: 'vm-ü', sessionId: 's1' }, 'data', bytes.subarray(0, 5))).toBe(true)
    const big = await c.next<{ vmId: string; sessionId: string; data: string }>('vnc-data', undefined, 5000)
    const small = await c.next<{ data: string }>('vnc-data', undefined, 5000)
    expect(big.vmId).toBe('vm-ü')
    expect(big.sessionId).toBe('s1')
    expect(Buffer.from(big.data, 'base64').equals(bytes)).toBe(true)
    expect(Buffer.from(small.data, 'base64').equals(bytes.subarray(0, 5))).toBe(true)
    expect(binaryFrames).toBe(0)
    const text = raw.find(t => t.includes('"type":"vnc-data"')) as string
    const { timestamp } = JSON.parse(text) as { timestamp: string }
    expect(text).toBe(JSON.stringify({ type: 'vnc-data', data: big, timestamp }))
    await c.close()
    // Once the socket is gone the push reports it, as push does.
    await expect
      .poll(() => conn.pushBase64('vnc-data', { vmId: 'vm-ü', sessionId: 's1' }, 'data', bytes), { timeout: 5000 })
      .toBe(false)
  })
})
