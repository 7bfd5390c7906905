/**
 * The desktop app's page origin (voidvm://app) against a real server: a
 * remote VoidVM server must let the desktop app log in and open its
 * WebSockets without any --allow-origin, while every other foreign origin
 * stays refused (cross-site WebSocket hijacking, cross-site login).
 */
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DESKTOP_APP_ORIGIN } from '../../src/main/server/index.js'
import { startTestServer, type TestServer, type TestUser } from '../fixtures/server.js'
import { rawUpgrade } from '../fixtures/ws-client.js'

const upgrade = (wsUrl: string, headers: Record<string, string> = {}) => rawUpgrade(wsUrl, { headers })

function loginPost(url: string, origin: string, username: string, password: string): Promise<Response> {
  return fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ username, password }),
  })
}

let srv: TestServer
let admin: TestUser

beforeAll(async () => {
  // An extra --allow-origin must add to the app's origin, not replace it.
  srv = await startTestServer({ allowOrigins: ['https://ui.example:8443'] })
  admin = await srv.addUser('remote-admin', 'admin')
})

afterAll(async () => {
  await srv?.close()
})

describe('the desktop app origin (voidvm://app)', () => {
  it('is the app scheme’s origin', () => {
    expect(DESKTOP_APP_ORIGIN).toBe('voidvm://app')
  })

  it('logs in with Origin voidvm://app; https://evil.example is refused with 403 FORBIDDEN', async () => {
    const ok = await loginPost(srv.url, 'voidvm://app', admin.username, admin.password)
    expect(ok.status).toBe(200)
    const body = (await ok.json()) as { token: string; user: { username: string } }
    expect(body.user.username).toBe('remote-admin')
    expect(body.token.split('.')).toHaveLength(3)

    // Wrong password from the app origin: the credentials are judged (401), not the origin.
    const wrong = await loginPost(srv.url, 'voidvm://app', admin.username, 'not-the-password')
    expect(wrong.status).toBe(401)

    for (const origin of ['https://evil.example', 'voidvm://evil', 'null', 'http://app']) {
      const evil = await loginPost(srv.url, origin, admin.username, admin.password)
      expect(evil.status, origin).toBe(403)
      const err = ((await evil.json()) as { error: { code: string } }).error
      expect(err.code, origin).toBe('FORBIDDEN')
    }
  })

  it('opens /ws with Origin voidvm://app and a token from that login; a foreign origin gets 403', async () => {
    const res = await loginPost(srv.url, 'voidvm://app', admin.username, admin.password)
    const { token } = (await res.json()) as { token: string }

    // A real client with the app's Origin: authenticated by its token and answered.
    const ws = new WebSocket(`${srv.wsUrl}?token=${encodeURIComponent(token)}`, { origin: 'voidvm://app' })
    const reply = await new Promise<{ type: string; id?: string; data: unknown }>((ok, fail) => {
      ws.once('open', () =>
        ws.send(JSON.stringify({ type: 'unsubscribe', id: 'o1', data: { topic: 'vm-status-all' } })),
      )
      ws.on('message', d => {
        const m = JSON.parse(String(d)) as { type: string; id?: string; data: unknown }
        if (m.id === 'o1') ok(m)
      })
      ws.once('error', fail)
      ws.once('unexpected-response', (_req, r) => fail(new Error(`upgrade refused: HTTP ${r.statusCode}`)))
    })
    expect(reply).toMatchObject({ type: 'unsubscribe-response', data: { topic: 'vm-status-all' } })
    ws.close()

    const evil = await upgrade(`${srv.wsUrl}?token=${token}`, { Origin: 'https://evil.example' })
    expect(evil.status).toBe(403)
    expect((JSON.parse(evil.body) as { error: { code: string } }).error.code).toBe('FORBIDDEN')
    expect((await upgrade(`${srv.wsUrl}?token=${token}`, { Origin: 'voidvm://app.evil.example' })).status).toBe(403)
    // The configured --allow-origin still works beside the app's origin.
    expect((await upgrade(`${srv.wsUrl}?token=${token}`, { Origin: 'https://ui.example:8443' })).status).toBe(101)
  })

  it('/ws/vnc: voidvm://app passes the Origin check (an unknown ticket is then refused), a foreign origin does not', async () => {
    const vncUrl = `${srv.wsUrl}/vnc?ticket=${randomBytes(16).toString('hex')}`
    const app = await upgrade(vncUrl, { Origin: 'voidvm://app' })
    // Past the Origin check the ticket is what is judged.
    expect(app.status).toBe(401)
    expect((JSON.parse(app.body) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
    const evil = await upgrade(vncUrl, { Origin: 'https://evil.example' })
    expect(evil.status).toBe(403)
    expect((JSON.parse(evil.body) as { error: { code: string; message: string } }).error.code).toBe('FORBIDDEN')
  })
})
