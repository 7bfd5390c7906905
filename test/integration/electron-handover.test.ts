/**
 * The desktop app's embedded server, run as main/index.ts runs it (LocalServer
 * + the real startServer, libvirt's test driver): configured port or an
 * ephemeral one, the passwordless local admin and the token hand-over, the
 * voidvm:// origin, "serve this machine" over TLS, and a clean shutdown.
 */
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalServer, LOCAL_ADMIN } from '../../src/main/app/local-server.js'
import { serverDeps } from '../../src/main/app/server-adapter.js'
import { APP_ORIGIN } from '../../src/main/app/security.js'
import { serverHttp } from '../../src/main/app/server-http.js'
import { UserStore } from '../../src/main/server/index.js'
import { makeSelfSignedCert, type TestCert } from '../../src/main/app/testing/tls.js'
import { connect } from '../fixtures/ws-client.js'

const LIBVIRT_URI = 'test:///default'

let dataDir: string
let blocker: Server
let blockedPort: number
let cert: TestCert
let app: LocalServer

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'voidvm-electron-'))
  cert = await makeSelfSignedCert('127.0.0.1')
  // Something else already holds the configured port.
  blocker = createServer()
  await new Promise<void>(r => blocker.listen(0, '127.0.0.1', r))
  blockedPort = (blocker.address() as { port: number }).port
  app = new LocalServer(serverDeps, {
    dataDir: join(dataDir, 'server'),
    port: blockedPort,
    libvirtUri: LIBVIRT_URI,
    allowOrigins: [APP_ORIGIN],
  })
})

afterAll(async () => {
  await app?.close()
  await new Promise(r => blocker.close(r))
  await rm(dataDir, { recursive: true, force: true })
  await rm(cert.dir, { recursive: true, force: true })
})

describe('embedded server in the desktop app', () => {
  it('starts on an ephemeral loopback port when the configured one is taken', async () => {
    const r = await app.start()
    expect(r.fellBack).toBe(true)
    expect(r.port).not.toBe(blockedPort)
    expect(r.url).toBe(`http://127.0.0.1:${r.port}`)
    const health = (await (await fetch(`${r.url}/api/health`)).json()) as { status: string }
    expect(health.status).toBe('ok')
  })

  it('hands the renderer a token for the local admin that opens the API from the voidvm:// page', async () => {
    const info = await app.handOver()
    expect(info).not.toBeNull()
    expect(info!.username).toBe(LOCAL_ADMIN)
    expect(info!.wsUrl).toBe(`${info!.url.replace('http', 'ws')}/ws`)
    expect(Date.parse(info!.expiresAt!)).toBeGreaterThan(Date.now() + 11 * 3600_000)

    const client = await connect(info!.wsUrl!, undefined, { origin: APP_ORIGIN })
    try {
      const me = await client.request<{ username: string; role: string }>('auth', { token: info!.token })
      expect(me).toMatchObject({ username: LOCAL_ADMIN, role: 'admin' })
      // The VM list of the embedded server: the test driver's domain arrives as a status push.
      await client.request('subscribe', { topic: 'vm-status' })
      const vm = await client.next<{ name: string; status: string }>('vm-status', d => d.name === 'test', 20_000)
      expect(vm.status).toBeTruthy()
    } finally {
      await client.close()
    }
  })

  it('mints a fresh token on every hand-over', async () => {
    const a = await app.handOver()
    const b = await app.handOver()
    expect(a!.token).not.toBe(b!.token)
  })

  it('refuses the same token from a foreign web origin', async () => {
    const info = await app.handOver()
    await expect(connect(info!.wsUrl!, info!.token, { origin: 'https://evil.example' })).rejects.toThrow(/HTTP 403/)
  })

  it('keeps exactly one local admin that nobody can log into with a password', async () => {
    const again = new LocalServer(serverDeps, { dataDir: join(dataDir, 'server'), port: 0, libvirtUri: LIBVIRT_URI })
    await again.start()
    await again.close()
    const users = JSON.parse(await readFile(join(dataDir, 'server', 'users.json'), 'utf8')) as {
      users: { username: string; role: string }[]
    }
    expect(users.users.filter(u => u.username === LOCAL_ADMIN)).toEqual([
      expect.objectContaining({ username: LOCAL_ADMIN, role: 'admin' }),
    ])
    const info = await app.handOver()
    const res = await fetch(`${info!.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: LOCAL_ADMIN, password: '' }),
    })
    expect(res.status).toBeGreaterThanOrEqual(400)
  })

  it('makes the page’s health and login requests from the main process', async () => {
    const users = await UserStore.open(join(dataDir, 'server'))
    await users.add('e9-alice', 'viewer', 'correct horse battery')
    const info = await app.handOver()
    const fetchImpl = (u: string, init: RequestInit) => fetch(u, init)
    const health = await serverHttp(fetchImpl, { url: `${info!.url}/api/health`, method: 'GET' })
    expect(health.status).toBe(200)
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', hypervisor: { uri: LIBVIRT_URI } })
    const ok = await serverHttp(fetchImpl, {
      url: `${info!.wsUrl!.replace('/ws', '')}/api/auth/login`,
      method: 'POST',
      body: JSON.stringify({ username: 'e9-alice', password: 'correct horse battery' }),
    })
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({ user: { username: 'e9-alice', role: 'viewer' } })
    const bad = await serverHttp(fetchImpl, {
      url: `${info!.url}/api/auth/login`,
      method: 'POST',
      body: JSON.stringify({ username: 'e9-alice', password: 'wrong password' }),
    })
    expect(bad.status).toBe(401)
    await expect(serverHttp(fetchImpl, { url: `${info!.url}/index.html`, method: 'GET' })).rejects.toThrow(/only/)
  })

  it('serves this machine to other clients only over TLS, and shows the URL and fingerprint', async () => {
    const refused = await app.applySharing({ enabled: true, host: '0.0.0.0', port: 3443, tlsCertPath: cert.certPath })
    expect(refused.error).toMatch(/needs TLS/)
    expect(refused.urls).toEqual([])

    const state = await app.applySharing({
      enabled: true,
      host: '127.0.0.1',
      port: await freePort(),
      tlsCertPath: cert.certPath,
      tlsKeyPath: cert.keyPath,
    })
    expect(state.error).toBeUndefined()
    expect(state.urls).toEqual([`https://127.0.0.1:${state.port}`])
    expect(state.fingerprint).toBe(new X509Certificate(cert.cert).fingerprint256)
    // The listener really presents that certificate, and a remote client with a token gets in.
    const seen = await new Promise<string>((ok, fail) => {
      const s = tlsConnect({ host: '127.0.0.1', port: state.port, rejectUnauthorized: false }, () => {
        ok(s.getPeerX509Certificate()!.fingerprint256)
        s.end()
      })
      s.once('error', fail)
    })
    expect(seen).toBe(state.fingerprint)
    const token = (await app.handOver())!.token
    const remote = await connect(`wss://127.0.0.1:${state.port}/ws`, token, { insecure: true })
    await remote.close()
    // Another VoidVM desktop client connects from its own voidvm://app page: allowed; a web page's origin is not.
    const desktop = await connect(`wss://127.0.0.1:${state.port}/ws`, undefined, { insecure: true, origin: APP_ORIGIN })
    try {
      const me = await desktop.request<{ username: string }>('auth', { token })
      expect(me.username).toBe(LOCAL_ADMIN)
    } finally {
      await desktop.close()
    }
    await expect(
      connect(`wss://127.0.0.1:${state.port}/ws`, token, { insecure: true, origin: 'https://evil.example' }),
    ).rejects.toThrow(/HTTP 403/)
    // Its login, with the page's Origin or none (the other app's main process makes it); a web page's is refused.
    const users = await UserStore.open(join(dataDir, 'server'))
    await users.add('e9-remote', 'operator', 'remote horse battery')
    const cases: [string | undefined, number][] = [
      [APP_ORIGIN, 200],
      [undefined, 200],
      ['https://evil.example', 403],
    ]
    for (const [origin, expected] of cases) {
      const res = await new Promise<number>((ok, fail) => {
        const req = httpsRequest(
          `https://127.0.0.1:${state.port}/api/auth/login`,
          {
            method: 'POST',
            rejectUnauthorized: false,
            headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
          },
          r => {
            r.resume()
            ok(r.statusCode ?? 0)
          },
        )
        req.once('error', fail)
        req.end(JSON.stringify({ username: 'e9-remote', password: 'remote horse battery' }))
      })
      expect(res, String(origin)).toBe(expected)
    }

    // A port that is taken is reported, not thrown.
    const busy = await app.applySharing({ ...state, enabled: true, port: blockedPort, host: '127.0.0.1' })
    expect(busy.error).toMatch(new RegExp(`port ${blockedPort} .* in use`))
    const off = await app.applySharing({ enabled: false, host: '127.0.0.1', port: state.port })
    expect(off).toMatchObject({ enabled: false, urls: [] })
    await expect(connect(`wss://127.0.0.1:${state.port}/ws`, token, { insecure: true })).rejects.toThrow()
  })

  it('closes every session and the server when the app quits', async () => {
    const info = await app.handOver()
    const client = await connect(info!.wsUrl!, info!.token, { origin: APP_ORIGIN })
    await app.close()
    const closed = await client.closed
    expect(closed.code).toBe(1001)
    await expect(fetch(`${info!.url}/api/health`)).rejects.toThrow()
    expect(await app.handOver()).toBeNull()
    await app.close() // twice is harmless
  })
})

function freePort(): Promise<number> {
  return new Promise(ok => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => ok(p))
    })
  })
}
