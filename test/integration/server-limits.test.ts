/**
 * Resource limits over real sockets: dead peers dropped by heartbeats,
 * stalled consumers bounded (latest-wins status, a hard cap on queued bytes),
 * per-socket session caps, and TLS. The bridges here are tiny test bridges
 * that exercise the core's ClientConnection API the real bridges use.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { defineHandler, type Bridge, type ClientConnection, type TopicProvider } from '../../src/main/server/index.js'
import type { VmStatusData } from '../../src/shared/protocol.js'
import { sampleStatus, startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, ReplyError } from '../fixtures/ws-client.js'

const servers: TestServer[] = []
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()))
})

/** The raw TCP socket under a ws client, to stop reading from it as a stalled peer would. */
function rawSocket(ws: unknown): Socket {
  return (ws as { _socket: Socket })._socket
}

describe('heartbeats', () => {
  it('a peer that stops answering pings is dropped; a live one stays', async () => {
    const srv = await startTestServer({ bridges: [], limits: { heartbeatMs: 300 } })
    servers.push(srv)
    await srv.addUser('hb', 'viewer')
    const token = await srv.tokenFor('hb')
    const live = await connect(srv.wsUrl, token)
    // A hand-made WebSocket client that completes the upgrade and then never answers anything.
    const url = new URL(srv.wsUrl)
    const dead = netConnect(Number(url.port), url.hostname)
    dead.write(
      `GET /ws?token=${token} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    )
    let head = ''
    dead.on('data', d => (head += d.toString('latin1')))
    await expect.poll(() => head, { timeout: 5000 }).toContain('101 Switching Protocols')
    expect(srv.server.connectionCount()).toBe(2)
    const closedAt = await new Promise<number>(ok => dead.once('close', () => ok(Date.now())))
    expect(closedAt).toBeGreaterThan(0)
    await expect.poll(() => srv.server.connectionCount(), { timeout: 3000 }).toBe(1)
    expect(await live.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await live.close()
  })
})

describe('slow consumers', () => {
  // A status topic that pushes as fast as it can: 64 KiB per push (a long VM name), latest-wins.
  let maxQueued = 0
  let lastCpu = 0
  let pushing = true
  const name = 'vm-' + 'x'.repeat(64 * 1024)
  const topic: TopicProvider = {
    topic: 'vm-status-all',
    permission: 'view',
    subscribe(_data, ctx) {
      const conn: ClientConnection = ctx.conn
      let cpu = 0
      const timer = setInterval(() => {
        if (!pushing) return
        for (let i = 0; i < 20; i++) {
          cpu = (cpu + 1) % 100_000
          lastCpu = cpu
          conn.pushLatest('vm-status:x', 'vm-status', sampleStatus(name, cpu))
          maxQueued = Math.max(maxQueued, conn.bufferedAmount)
        }
      }, 2)
      return { response: { topic: 'vm-status-all' }, close: () => clearInterval(timer) }
    },
  }
  // A stream topic that ignores back-pressure entirely: the hard cap must cut it off.
  const flood: TopicProvider = {
    topic: 'system-monitor',
    permission: 'view',
    subscribe(_data, ctx) {
      const conn = ctx.conn
      const timer = setInterval(() => {
        for (let i = 0; i < 20; i++) if (!conn.push('vm-status', sampleStatus(name, i))) clearInterval(timer)
      }, 2)
      return { response: { topic: 'system-monitor' }, close: () => clearInterval(timer) }
    },
  }
  const bridge: Bridge = { name: 'slow-test', topics: [topic, flood] }

  it('latest-wins pushes to a stalled client stay bounded, and it gets the newest status once it reads again', async () => {
    const srv = await startTestServer({ bridges: [bridge], limits: { maxBufferedBytes: 4 << 20 } })
    servers.push(srv)
    await srv.addUser('slow', 'viewer')
    const c = await connect(srv.wsUrl, await srv.tokenFor('slow'))
    await c.request('subscribe', { topic: 'vm-status-all' })
    rawSocket(c.ws).pause()
    const rssBefore = process.memoryUsage().rss
    // ~1.6 s of pushing at up to 10,000 pushes/s of 64 KiB: gigabytes if nothing bounded it.
    await new Promise(r => setTimeout(r, 1600))
    expect(maxQueued).toBeLessThan(256 * 1024 + 2 * 70 * 1024)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 << 20)
    pushing = false
    const want = lastCpu
    rawSocket(c.ws).resume()
    const latest = await c.next<VmStatusData>('vm-status', d => d.cpu === want, 10_000)
    expect(latest.cpu).toBe(want)
    // Still connected: latest-wins never drops the client.
    expect(await c.request('unsubscribe', { topic: 'vm-status-all' })).toEqual({ topic: 'vm-status-all' })
    await c.close()
  })

  it('a stalled client whose queue passes the hard cap is dropped; others are unaffected', async () => {
    const srv = await startTestServer({ bridges: [bridge], limits: { maxBufferedBytes: 2 << 20 } })
    servers.push(srv)
    await srv.addUser('stall', 'viewer')
    const token = await srv.tokenFor('stall')
    const other = await connect(srv.wsUrl, token)
    const c = await connect(srv.wsUrl, token)
    await c.request('subscribe', { topic: 'system-monitor' })
    rawSocket(c.ws).pause()
    await expect.poll(() => srv.server.connectionCount(), { timeout: 15_000 }).toBe(1)
    expect(await other.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await other.close()
    c.ws.terminate()
  })
})

describe('session caps', () => {
  it('a socket may hold only so many terminal sessions: the next gets SESSION_LIMIT, and closing frees them', async () => {
    const released: (() => void)[] = []
    const bridge: Bridge = {
      name: 'session-test',
      handlers: [
        defineHandler<'terminal-connect'>({
          type: 'terminal-connect',
          permission: 'console',
          handle(data, ctx) {
            released.push(ctx.conn.acquireSession('terminal'))
            return { vmId: data.vmId, sessionId: `s${released.length}`, type: data.type }
          },
        }),
      ],
    }
    const srv = await startTestServer({ bridges: [bridge], limits: { terminalSessionsPerSocket: 3 } })
    servers.push(srv)
    await srv.addUser('op', 'operator')
    const token = await srv.tokenFor('op')
    const c = await connect(srv.wsUrl, token)
    for (let i = 0; i < 3; i++) await c.request('terminal-connect', { vmId: 'vm1', type: 'serial' })
    const err = await c.request('terminal-connect', { vmId: 'vm1', type: 'serial' }).catch(e => e)
    expect(err).toBeInstanceOf(ReplyError)
    expect((err as ReplyError).code).toBe('SESSION_LIMIT')
    // The cap is per socket: another socket of the same user may open its own.
    const c2 = await connect(srv.wsUrl, token)
    expect(await c2.request('terminal-connect', { vmId: 'vm1', type: 'serial' })).toMatchObject({ vmId: 'vm1' })
    released[0]?.()
    expect(await c.request('terminal-connect', { vmId: 'vm1', type: 'serial' })).toMatchObject({ vmId: 'vm1' })
    await c.close()
    await c2.close()
  })
})

describe('sockets waiting to authenticate', () => {
  it('are capped server-wide: the next upgrade without a token gets 503, one with a token still connects', async () => {
    const srv = await startTestServer({ bridges: [], limits: { maxUnauthenticatedSockets: 3 } })
    servers.push(srv)
    await srv.addUser('u', 'viewer')
    const token = await srv.tokenFor('u')
    const waiting = await Promise.all([connect(srv.wsUrl), connect(srv.wsUrl), connect(srv.wsUrl)])
    const refused = await connect(srv.wsUrl).catch((e: { statusCode?: number }) => e)
    expect((refused as { statusCode?: number }).statusCode).toBe(503)
    const withToken = await connect(srv.wsUrl, token)
    expect(await withToken.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    // Once one of them authenticates, there is room again.
    await waiting[0]?.request('auth', { token })
    const next = await connect(srv.wsUrl)
    await Promise.all([...waiting, withToken, next].map(c => c?.close()))
  })
})

describe('TLS', () => {
  it('with a certificate the server speaks HTTPS and WSS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-tls-'))
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ])
      // Paths work as well as PEM contents; use one of each.
      const srv = await startTestServer({
        bridges: [],
        tls: { cert: join(dir, 'cert.pem'), key: await readFile(join(dir, 'key.pem'), 'utf8') },
      })
      servers.push(srv)
      expect(srv.url).toMatch(/^https:/)
      expect(srv.wsUrl).toMatch(/^wss:/)
      await srv.addUser('tls', 'viewer')
      const c = await connect(srv.wsUrl, await srv.tokenFor('tls'), { insecure: true })
      expect(await c.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
      await c.close()
      // A plain-HTTP client gets no answer from the TLS port.
      await expect(fetch(srv.url.replace('https:', 'http:') + '/api/health')).rejects.toThrow()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
