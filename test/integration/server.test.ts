/**
 * The server core against real sockets: a real server (with its default
 * bridges on libvirtd's test:///default) on an ephemeral loopback port. Each
 * bad input gets its documented answer, and a well-behaved client connected
 * to the same server throughout stays unaffected.
 */
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import WebSocket from 'ws'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODE_LIST } from '../../src/shared/errors.js'
import { startTestServer, type TestServer, type TestUser } from '../fixtures/server.js'
import { connect as openClient, rawUpgrade, ReplyError, type TestClient } from '../fixtures/ws-client.js'

const upgrade = (wsUrl: string, headers: Record<string, string> = {}) => rawUpgrade(wsUrl, { headers })

// Every client this file opens, so the last test can check every error the server sent.
const opened: TestClient[] = []
async function connect(...args: Parameters<typeof openClient>): Promise<TestClient> {
  const c = await openClient(...args)
  opened.push(c)
  return c
}

async function expectReplyError(p: Promise<unknown>): Promise<ReplyError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ReplyError) return err
    throw err
  }
  throw new Error('expected an error reply, got a success')
}

async function auditLines(dataDir: string): Promise<Record<string, unknown>[]> {
  // The audit stream is written asynchronously; give it a moment.
  await new Promise(r => setTimeout(r, 100))
  const text = await readFile(join(dataDir, 'audit.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as Record<string, unknown>)
}

let srv: TestServer
let admin: TestUser
let good: TestClient
let goodToken: string

beforeAll(async () => {
  srv = await startTestServer({ limits: { authTimeoutMs: 1500 } })
  admin = await srv.addUser('admin1', 'admin')
  goodToken = await srv.tokenFor('admin1')
  good = await connect(srv.wsUrl, goodToken)
})

afterAll(async () => {
  await good?.close()
  await srv?.close()
})

afterEach(async () => {
  // The well-behaved client: still open, still answered, never sent an unsolicited error.
  expect(good.ws.readyState).toBe(WebSocket.OPEN)
  const reply = await good.request('unsubscribe', { topic: 'vm-status-all' })
  expect(reply).toEqual({ topic: 'vm-status-all' })
  expect(good.frames.filter(f => f.type === 'error')).toEqual([])
  for (const f of good.frames) expect(Date.parse(f.timestamp)).not.toBeNaN()
})

describe('HTTP endpoints', () => {
  it('GET /api/health answers status, version and the hypervisor connection', async () => {
    const res = await fetch(`${srv.url}/api/health`)
    expect(res.status).toBe(200)
    const body = (await res.json()) as {
      status: string
      version: string
      hypervisor: { connected: boolean; uri: string }
    }
    expect(body.status).toBe('ok')
    expect(typeof body.version).toBe('string')
    expect(body.hypervisor.uri).toBe('test:///default')
    expect(typeof body.hypervisor.connected).toBe('boolean')
  })

  it('POST /api/auth/login returns a token that opens the WebSocket', async () => {
    const res = await fetch(`${srv.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin1', password: admin.password }),
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { token: string; expiresAt: string; user: Record<string, string> }
    expect(body.user).toEqual({ id: admin.id, username: 'admin1', role: 'admin' })
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now())
    const c = await connect(srv.wsUrl, body.token)
    expect(await c.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await c.close()
  })

  it('a login body without a password is refused naming the field', async () => {
    const res = await fetch(`${srv.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin1' }),
    })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; field: string } }
    expect(body.error.code).toBe('INVALID_MESSAGE')
    expect(body.error.field).toBe('password')
  })

  it('the web UI carries a strict Content-Security-Policy', async () => {
    const res = await fetch(`${srv.url}/`)
    if (res.status === 404) return expect(await res.text()).toContain('npm run build')
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
  })
})

describe('auth', () => {
  it('?token= authenticates at the upgrade; auth re-checks and answers auth-response', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    const r = await c.request<Record<string, string>>('auth', { token: goodToken })
    expect(r).toMatchObject({ userId: admin.id, username: 'admin1', role: 'admin' })
    expect(Date.parse(r.expiresAt ?? '')).toBeGreaterThan(Date.now())
    await c.close()
  })

  it('mintToken gives the expiry the token carries', async () => {
    const { token, expiresAt } = await srv.server.mintToken('admin1', 600)
    const c = await connect(srv.wsUrl, token)
    const r = await c.request<{ expiresAt: string }>('auth', { token })
    expect(r.expiresAt).toBe(expiresAt)
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(590_000)
    await c.close()
  })

  it('no token: every message gets UNAUTHORIZED with its id, and the socket is closed after the auth timeout', async () => {
    const c = await connect(srv.wsUrl)
    const err = await expectReplyError(c.request('subscribe', { topic: 'vm-status-all' }))
    expect(err.code).toBe('UNAUTHORIZED')
    const unknown = await expectReplyError(c.request('no-such-type', {}))
    expect(unknown.code).toBe('UNAUTHORIZED')
    const { code, reason } = await c.closed
    expect(code).toBe(1008)
    expect(reason).toMatch(/authentication timeout/)
  })

  it('a message before auth gets UNAUTHORIZED; after auth the same socket works', async () => {
    const c = await connect(srv.wsUrl)
    c.send({ type: 'vm-control', data: { vmId: 'test', action: 'start' }, id: 'early-1' })
    const f = await c.nextFrame(fr => fr.id === 'early-1')
    expect(f.type).toBe('error')
    expect((f.data as { code: string }).code).toBe('UNAUTHORIZED')
    const a = await c.request<{ username: string }>('auth', { token: goodToken })
    expect(a.username).toBe('admin1')
    expect(await c.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await c.close()
  })

  it('auth pipelined with the next message: the next message waits for it', async () => {
    const c = await connect(srv.wsUrl)
    const [a, u] = await Promise.all([
      c.request('auth', { token: goodToken }),
      c.request('unsubscribe', { topic: 'system-monitor' }),
    ])
    expect(a).toMatchObject({ username: 'admin1' })
    expect(u).toEqual({ topic: 'system-monitor' })
    await c.close()
  })

  it('a forged token is refused at the upgrade with HTTP 401, and with error + close in an auth message', async () => {
    const user = srv.server.users.get('admin1')
    const forged = await new SignJWT({ name: 'admin1', ver: user?.tokenVersion })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('voidvm')
      .setSubject(user?.id ?? '')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(randomBytes(32))
    const res = await upgrade(`${srv.wsUrl}?token=${forged}`)
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'UNAUTHORIZED', message: 'token is invalid' } })
    // An unsigned ("alg: none") token is just as invalid.
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: user?.id, ver: 1, iss: 'voidvm', exp: 9999999999 }),
    ).toString('base64url')}.`
    expect((await upgrade(`${srv.wsUrl}?token=${unsigned}`)).status).toBe(401)

    const c = await connect(srv.wsUrl)
    const err = await expectReplyError(c.request('auth', { token: forged }))
    expect(err.code).toBe('UNAUTHORIZED')
    expect((await c.closed).code).toBe(1008)
  })

  it('an expired token is refused at the upgrade with HTTP 401 saying it expired', async () => {
    const secret = Buffer.from((await readFile(join(srv.dataDir, 'jwt-secret'), 'utf8')).trim(), 'base64url')
    const user = srv.server.users.get('admin1')
    const now = Math.floor(Date.now() / 1000)
    const expired = await new SignJWT({ name: 'admin1', ver: user?.tokenVersion })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('voidvm')
      .setSubject(user?.id ?? '')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 60)
      .sign(secret)
    const res = await upgrade(`${srv.wsUrl}?token=${expired}`)
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body).error).toEqual({ code: 'UNAUTHORIZED', message: 'token has expired' })
  })

  it('a password change revokes tokens: the open socket is closed and the old token refused', async () => {
    await srv.addUser('rev1', 'viewer')
    const token = await srv.tokenFor('rev1')
    const c = await connect(srv.wsUrl, token)
    // Changed through a second store on the same data dir, as `voidvm-server user passwd` does.
    const { UserStore } = await import('../../src/main/server/users.js')
    const other = await UserStore.open(srv.dataDir)
    await other.setPassword('rev1', 'a-new-password-1')
    const push = await c.next<{ code: string; message: string }>('error', undefined, 8000)
    expect(push.code).toBe('UNAUTHORIZED')
    expect(push.message).toMatch(/revoked/)
    expect((await c.closed).code).toBe(1008)
    const res = await upgrade(`${srv.wsUrl}?token=${token}`)
    expect(res.status).toBe(401)
    expect(res.body).toContain('revoked')
  })
})

describe('envelope and validation', () => {
  it('a non-JSON frame gets INVALID_MESSAGE and the connection keeps working', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    c.send('this is {not json')
    const e = await c.next<{ code: string; message: string }>('error')
    expect(e).toEqual({ code: 'INVALID_MESSAGE', message: 'the frame is not valid JSON' })
    expect(await c.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await c.close()
  })

  it('a message without a type gets INVALID_MESSAGE naming the field, with its id', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    c.send({ data: {}, id: 'no-type' })
    const f = await c.nextFrame(fr => fr.id === 'no-type')
    expect(f.type).toBe('error')
    expect(f.data).toMatchObject({ code: 'INVALID_MESSAGE', field: 'type' })
    await c.close()
  })

  it('an oversize frame (over 1 MiB) closes that socket with 1009', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    c.send(JSON.stringify({ type: 'terminal-input', data: { vmId: 'x', input: 'a'.repeat(1 << 20) }, id: 'big' }))
    const { code } = await c.closed
    expect(code).toBe(1009)
  })

  it('a text frame that is not valid UTF-8 closes that socket with 1007; the server keeps serving', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    // A text frame (binary: false) whose bytes are not UTF-8.
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })
    const { code } = await c.closed
    expect(code).toBe(1007)
    const d = await connect(srv.wsUrl, goodToken)
    expect(await d.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await d.close()
  })

  it('a frame just under 1 MiB is accepted and answered', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    const r = await expectReplyError(
      c.request('subscribe', { topic: 'vm-status', vmId: 'v'.repeat(300), pad: 'p'.repeat(1000000) }),
    )
    // Valid envelope and size: it reaches validation, which names the over-long vmId.
    expect(r.code).toBe('INVALID_MESSAGE')
    expect(r.field).toBe('data.vmId')
    await c.close()
  })

  it('an unknown type gets UNKNOWN_TYPE with its id and the connection keeps working', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    const err = await expectReplyError(c.request('vm-destroy-everything', { vmId: 'test' }))
    expect(err.code).toBe('UNKNOWN_TYPE')
    expect(err.message).toContain('vm-destroy-everything')
    expect(await c.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
    await c.close()
  })

  it('a missing field gets INVALID_MESSAGE naming data.<field>', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    const e1 = await expectReplyError(c.request('vm-control', { action: 'start' }))
    expect(e1.code).toBe('INVALID_MESSAGE')
    expect(e1.field).toBe('data.vmId')
    expect(e1.data.message).toMatch(/^data\.vmId: /)
    const e2 = await expectReplyError(c.request('vm-control', { vmId: 'test' }))
    expect(e2.field).toBe('data.action')
    const e3 = await expectReplyError(c.request('subscribe', { topic: 'everything' }))
    expect(e3.field).toBe('data.topic')
    const e4 = await expectReplyError(c.request('vnc-input', { vmId: 'test', inputType: 'mouse', x: 1, y: 2 }))
    expect(e4.field).toBe('data.buttons')
    await c.close()
  })

  it('every reply carries the request id and an ISO 8601 UTC timestamp', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    c.send({ type: 'unsubscribe', data: { topic: 'vm-status' }, id: 42 })
    const f = await c.nextFrame(fr => fr.id === 42)
    expect(f.type).toBe('unsubscribe-response')
    expect(f.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    await c.close()
  })

  it('binary frames are refused with INVALID_MESSAGE', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    c.send(Buffer.from([1, 2, 3]))
    expect(await c.next('error')).toMatchObject({ code: 'INVALID_MESSAGE' })
    await c.close()
  })
})

describe('origin', () => {
  it('a cross-site Origin is refused with 403; the server’s own origin and --allow-origin ones are accepted', async () => {
    const evil = await upgrade(`${srv.wsUrl}?token=${goodToken}`, { Origin: 'https://evil.example' })
    expect(evil.status).toBe(403)
    expect(JSON.parse(evil.body).error.code).toBe('FORBIDDEN')
    const own = await upgrade(`${srv.wsUrl}?token=${goodToken}`, { Origin: srv.url })
    expect(own.status).toBe(101)
    const login = await fetch(`${srv.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ username: 'admin1', password: admin.password }),
    })
    expect(login.status).toBe(403)

    const other = await startTestServer({ allowOrigins: ['https://ui.example:8443'] })
    try {
      await other.addUser('a', 'admin')
      const t = await other.tokenFor('a')
      expect((await upgrade(`${other.wsUrl}?token=${t}`, { Origin: 'https://ui.example:8443' })).status).toBe(101)
      expect((await upgrade(`${other.wsUrl}?token=${t}`, { Origin: 'https://ui.example' })).status).toBe(403)
    } finally {
      await other.close()
    }
  })
})

describe('DNS rebinding', () => {
  it('a loopback server refuses requests and upgrades addressed to a foreign host name', async () => {
    const get = (host: string) =>
      new Promise<number>((ok, fail) => {
        const req = httpRequest(`${srv.url}/api/health`, { headers: { Host: host } }, res => {
          res.resume()
          ok(res.statusCode ?? 0)
        })
        req.on('error', fail)
        req.end()
      })
    const port = new URL(srv.url).port
    expect(await get(`rebind.example:${port}`)).toBe(403)
    expect(await get(`localhost:${port}`)).toBe(200)
    expect(await get(`127.0.0.1:${port}`)).toBe(200)
    const ws = await upgrade(`${srv.wsUrl}?token=${goodToken}`, {
      Host: `rebind.example:${port}`,
      Origin: `http://rebind.example:${port}`,
    })
    expect(ws.status).toBe(403)
  })
})

describe('permissions', () => {
  it('a viewer sending vm-control gets FORBIDDEN, written to the audit log', async () => {
    await srv.addUser('viewer1', 'viewer')
    const token = await srv.tokenFor('viewer1')
    const c = await connect(srv.wsUrl, token)
    const err = await expectReplyError(c.request('vm-control', { vmId: 'test', action: 'stop' }))
    expect(err.code).toBe('FORBIDDEN')
    expect(err.message).toMatch(/viewer/)
    // A viewer may still subscribe.
    expect(await c.request('subscribe', { topic: 'vm-status-all' })).toMatchObject({ topic: 'vm-status-all' })
    const lines = await auditLines(srv.dataDir)
    expect(lines).toContainEqual(
      expect.objectContaining({ username: 'viewer1', action: 'vm-control', vmId: 'test', result: 'denied' }),
    )
    const text = await readFile(join(srv.dataDir, 'audit.log'), 'utf8')
    expect(text).not.toContain(token)
    await c.close()
  })

  it('an operator on an ungranted VM gets FORBIDDEN (audited); on a granted one the request reaches the bridge', async () => {
    await srv.addUser('op1', 'operator', ['web-*'])
    const c = await connect(srv.wsUrl, await srv.tokenFor('op1'))
    const err = await expectReplyError(c.request('vm-control', { vmId: 'test', action: 'pause' }))
    expect(err.code).toBe('FORBIDDEN')
    expect(err.vmId).toBe('test')
    const vnc = await expectReplyError(c.request('vnc-connect', { vmId: 'test' }))
    expect(vnc.code).toBe('FORBIDDEN')
    const sub = await expectReplyError(c.request('subscribe', { topic: 'vm-status', vmId: 'test' }))
    expect(sub.code).toBe('FORBIDDEN')
    // Granted by pattern but absent: the hypervisor bridge answers, not the permission check.
    const missing = await expectReplyError(c.request('vm-control', { vmId: 'web-nonexistent', action: 'start' }))
    expect(['VM_NOT_FOUND', 'HYPERVISOR_UNAVAILABLE']).toContain(missing.code)
    const lines = await auditLines(srv.dataDir)
    expect(lines).toContainEqual(
      expect.objectContaining({ username: 'op1', action: 'vm-control', vmId: 'test', result: 'denied' }),
    )
    await c.close()
  })

  it('vm-status pushes only name VMs the user’s grants cover', async () => {
    await srv.addUser('op2', 'operator', ['nothing-matches-*'])
    const c = await connect(srv.wsUrl, await srv.tokenFor('op2'))
    await c.request('subscribe', { topic: 'vm-status-all' })
    await new Promise(r => setTimeout(r, 2500))
    expect(c.frames.filter(f => f.type === 'vm-status')).toEqual([])
    await c.close()
  })
})

describe('login throttling', () => {
  it('repeated wrong passwords lock the user out with 429 RATE_LIMITED; other users still log in', async () => {
    const victim = await srv.addUser('victim1', 'operator')
    const login = (username: string, password: string) =>
      fetch(`${srv.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
    for (let i = 0; i < 5; i++) {
      const r = await login('victim1', `wrong-${i}`)
      expect(r.status).toBe(401)
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
    }
    const locked = await login('victim1', victim.password)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(((await locked.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED')
    const other = await login('admin1', admin.password)
    expect(other.status).toBe(200)
    const lines = await auditLines(srv.dataDir)
    expect(lines.filter(l => l.username === 'victim1' && l.action === 'login' && l.result === 'denied').length).toBe(6)
    const text = await readFile(join(srv.dataDir, 'audit.log'), 'utf8')
    expect(text).not.toContain('wrong-0')
    expect(text).not.toContain(victim.password)
  })
})

describe('limits', () => {
  it('a flood beyond the rate limit gets RATE_LIMITED replies; mouse-rate input never does', async () => {
    const c = await connect(srv.wsUrl, goodToken)
    const n = 1200
    const replies = await Promise.allSettled(
      Array.from({ length: n }, () => c.request('unsubscribe', { topic: 'vm-status' })),
    )
    const limited = replies.filter(r => r.status === 'rejected' && (r.reason as ReplyError).code === 'RATE_LIMITED')
    expect(limited.length).toBeGreaterThan(0)
    expect(replies.filter(r => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(800)
    await new Promise(r => setTimeout(r, 2100))
    // 125 mouse events per second for two seconds: all accepted (whatever the VNC bridge says about the VM).
    const inputs: Promise<unknown>[] = []
    for (let t = 0; t < 2000; t += 8) {
      inputs.push(
        c.request('vnc-input', { vmId: 'test', inputType: 'mouse', x: t % 800, y: 100, buttons: 0 }).catch(e => e),
      )
      await new Promise(r => setTimeout(r, 8))
    }
    const results = await Promise.all(inputs)
    expect(results.filter(r => r instanceof ReplyError && r.code === 'RATE_LIMITED')).toEqual([])
    await c.close()
  })

  it('every code the server sent in this file is in the closed list', () => {
    const errors = opened.flatMap(c => c.frames.filter(f => f.type === 'error'))
    const seen = new Set(errors.map(f => (f.data as { code: string }).code))
    // The tests above provoke these; a run that saw none of them proves nothing.
    for (const code of ['UNAUTHORIZED', 'INVALID_MESSAGE', 'UNKNOWN_TYPE', 'FORBIDDEN', 'RATE_LIMITED'])
      expect(seen).toContain(code)
    for (const code of seen) expect(ERROR_CODE_LIST).toContain(code)
    for (const f of errors) expect((f.data as { message?: string }).message).toBeTruthy()
  })
})
