/**
 * The per-address connection cap over real sockets: one client address
 * cannot hold more than N WebSockets open (loopback included); the next
 * upgrade is refused with HTTP 429 and a JSON reason, a socket that closes
 * gives its slot back, refused upgrades hold none, and other addresses are
 * not affected. Also `serve --max-connections-per-address` / its variable.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { DEFAULT_LIMITS } from '../../src/main/server/index.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, rawUpgrade, type TestClient, type UpgradeResult } from '../fixtures/ws-client.js'
import { HEADLESS, ROOT } from '../fixtures/cli.js'

const servers: TestServer[] = []
const clients: TestClient[] = []
afterAll(async () => {
  await Promise.all(clients.map(c => c.close().catch(() => undefined)))
  await Promise.all(servers.map(s => s.close()))
})

/** A raw WebSocket upgrade request from `localAddress`, to read the refusal's status and body. */
function upgrade(wsUrl: string, token: string | undefined, localAddress = '127.0.0.1'): Promise<UpgradeResult> {
  const url = new URL(wsUrl)
  if (token) url.searchParams.set('token', token)
  return rawUpgrade(url.toString(), { localAddress, keepOpen: true })
}

/** A `ws` client from a given local loopback address. */
function wsFrom(wsUrl: string, token: string, localAddress: string): Promise<WebSocket> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(`${wsUrl}?token=${token}`, { localAddress })
    ws.once('open', () => ok(ws))
    ws.once('error', fail)
  })
}

describe('per-address connection cap', () => {
  it('the default cap (64) refuses the 65th socket from one address with 429 and a reason; closing one frees a slot', async () => {
    expect(DEFAULT_LIMITS.maxConnectionsPerAddress).toBe(64)
    const srv = await startTestServer({ bridges: [] })
    servers.push(srv)
    await srv.addUser('many', 'viewer')
    const token = await srv.tokenFor('many')
    const open: TestClient[] = []
    for (let batch = 0; batch < 4; batch++)
      open.push(...(await Promise.all(Array.from({ length: 16 }, () => connect(srv.wsUrl, token)))))
    clients.push(...open)
    expect(srv.server.connectionCount()).toBe(64)

    const refused = await upgrade(srv.wsUrl, token)
    expect(refused.status).toBe(429)
    const body = JSON.parse(refused.body) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('RATE_LIMITED')
    expect(body.error.message).toContain('too many connections from 127.0.0.1')
    expect(body.error.message).toContain('at most 64 per address')
    // Unauthenticated upgrades are counted against the same cap.
    expect((await upgrade(srv.wsUrl, undefined)).status).toBe(429)
    expect(srv.server.connectionCount()).toBe(64)

    // The open sockets keep working.
    expect(await open[0]?.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })

    // A closed socket gives its slot back.
    await open.pop()?.close()
    await expect.poll(() => srv.server.connectionCount(), { timeout: 3000 }).toBe(63)
    const again = await connect(srv.wsUrl, token)
    clients.push(again)
    expect(await again.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    expect((await upgrade(srv.wsUrl, token)).status).toBe(429)
    await Promise.all([...open, again].map(c => c.close()))
  })

  it('another client address is not affected by one address at its cap', async () => {
    const srv = await startTestServer({ bridges: [], limits: { maxConnectionsPerAddress: 3 } })
    servers.push(srv)
    await srv.addUser('a', 'viewer')
    const token = await srv.tokenFor('a')
    const first = await Promise.all([1, 2, 3].map(() => wsFrom(srv.wsUrl, token, '127.0.0.1')))
    expect((await upgrade(srv.wsUrl, token, '127.0.0.1')).status).toBe(429)
    // 127.0.0.2 is a different client address on the same loopback interface.
    const other = await Promise.all([1, 2, 3].map(() => wsFrom(srv.wsUrl, token, '127.0.0.2')))
    const refused = await upgrade(srv.wsUrl, token, '127.0.0.2')
    expect(refused.status).toBe(429)
    expect(refused.body).toContain('too many connections from 127.0.0.2 (at most 3 per address)')
    expect(srv.server.connectionCount()).toBe(6)
    for (const ws of [...first, ...other]) ws.close()
    await expect.poll(() => srv.server.connectionCount(), { timeout: 3000 }).toBe(0)
  })

  it('refused upgrades (bad token, unknown endpoint) and dropped sockets do not keep a slot', async () => {
    const srv = await startTestServer({ bridges: [], limits: { maxConnectionsPerAddress: 3 } })
    servers.push(srv)
    await srv.addUser('b', 'viewer')
    const token = await srv.tokenFor('b')
    for (let i = 0; i < 5; i++) expect((await upgrade(srv.wsUrl, 'not-a-token')).status).toBe(401)
    for (let i = 0; i < 5; i++) expect((await upgrade(srv.wsUrl.replace(/\/ws$/, '/nowhere'), token)).status).toBe(404)
    // Upgraded sockets whose TCP connection is destroyed without a close handshake.
    for (let i = 0; i < 5; i++) {
      const r = await upgrade(srv.wsUrl, token)
      expect(r.status).toBe(101)
      r.socket?.destroy()
    }
    await expect.poll(() => srv.server.connectionCount(), { timeout: 3000 }).toBe(0)
    const three = await Promise.all([1, 2, 3].map(() => connect(srv.wsUrl, token)))
    clients.push(...three)
    expect((await upgrade(srv.wsUrl, token)).status).toBe(429)
    await Promise.all(three.map(c => c.close()))
  })

  it('0 turns the cap off (as the benchmarks do for their 1,000 loopback sockets)', async () => {
    const srv = await startTestServer({ bridges: [], limits: { maxConnectionsPerAddress: 0 } })
    servers.push(srv)
    await srv.addUser('c', 'viewer')
    const token = await srv.tokenFor('c')
    const open: TestClient[] = []
    for (let batch = 0; batch < 5; batch++)
      open.push(...(await Promise.all(Array.from({ length: 20 }, () => connect(srv.wsUrl, token)))))
    clients.push(...open)
    expect(srv.server.connectionCount()).toBe(100)
    await Promise.all(open.map(c => c.close()))
  })

  it('serve --max-connections-per-address and VOIDVM_MAX_CONNECTIONS_PER_ADDRESS set the cap; bad values are refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-cap-cli-'))
    const started: ReturnType<typeof spawn>[] = []
    const serve = (args: string[], env: Record<string, string> = {}) => {
      const child = spawn(process.execPath, ['--import', 'tsx', HEADLESS, 'serve', '--port', '0', ...args], {
        cwd: ROOT,
        env: { ...process.env, VOIDVM_DATA_DIR: dir, VOIDVM_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      started.push(child)
      let out = ''
      let err = ''
      child.stdout?.on('data', d => (out += String(d)))
      child.stderr?.on('data', d => (err += String(d)))
      const url = new Promise<string>((ok, fail) => {
        child.stdout?.on('data', () => {
          const m = /listening on (\S+)/.exec(out)
          if (m?.[1]) ok(m[1])
        })
        child.once('exit', code => fail(new Error(`exited ${code}: ${err}`)))
      })
      // The run that is expected to fail is judged by its exit, not its URL.
      url.catch(() => undefined)
      return {
        url,
        exit: new Promise<{ code: number | null; stderr: string }>(ok =>
          child.once('exit', code => ok({ code, stderr: err })),
        ),
      }
    }
    try {
      const bad = await serve(['--max-connections-per-address', 'lots']).exit
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("invalid --max-connections-per-address 'lots'")

      for (const [args, env] of [
        [['--max-connections-per-address', '2'], {}],
        [[], { VOIDVM_MAX_CONNECTIONS_PER_ADDRESS: '2' }],
      ] as const) {
        const s = serve([...args, '--libvirt-uri', 'test:///default'], env)
        const url = await s.url
        const wsUrl = url.replace(/^http/, 'ws') + '/ws'
        // Two unauthenticated sockets fill the cap of 2; the third is refused.
        const a = await upgrade(wsUrl, undefined)
        const b = await upgrade(wsUrl, undefined)
        expect([a.status, b.status]).toEqual([101, 101])
        const c = await upgrade(wsUrl, undefined)
        expect(c.status).toBe(429)
        expect(c.body).toContain('at most 2 per address')
        a.socket?.destroy()
        b.socket?.destroy()
        const child = started[started.length - 1]
        child?.kill('SIGTERM')
        expect((await s.exit).code).toBe(0)
      }
    } finally {
      for (const c of started) if (c.exitCode === null) c.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
