import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, expect } from '@playwright/test'
import { startE2eServer, type E2eServer } from './server.js'

let server: E2eServer

test.beforeAll(async () => {
  server = await startE2eServer()
})
test.afterAll(async () => {
  await server?.stop()
})

test('the headless server serves the built renderer and the app shell shows', async ({ page }) => {
  const errors: string[] = []
  page.on('pageerror', e => errors.push(e.message))
  const res = await page.goto(server.url)
  expect(res?.status()).toBe(200)
  expect(res?.headers()['content-security-policy']).toContain("default-src 'self'")
  await expect(page).toHaveTitle('VoidVM')
  await expect(page.getByRole('heading', { name: 'VoidVM' })).toBeVisible()
  expect(errors).toEqual([])
})

test('a page served by the server logs in and talks to /ws under its CSP', async ({ page }) => {
  const user = await server.addUser('e2e-admin', 'admin')
  await page.goto(server.url)
  const result = await page.evaluate(
    async ({ username, password, wsUrl }) => {
      const res = await fetch('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
      const login = (await res.json()) as { token: string; user: { role: string } }
      const ws = new WebSocket(`${wsUrl}?token=${login.token}`)
      const reply = await new Promise<{ type: string; id: string; data: unknown }>((ok, fail) => {
        ws.onopen = () => ws.send(JSON.stringify({ type: 'unsubscribe', data: { topic: 'vm-status' }, id: 'e2e-1' }))
        ws.onmessage = e => ok(JSON.parse(String(e.data)))
        ws.onclose = e => fail(new Error(`closed ${e.code}`))
      })
      ws.close()
      return { status: res.status, role: login.user.role, reply }
    },
    { ...user, wsUrl: server.wsUrl },
  )
  expect(result.status).toBe(200)
  expect(result.role).toBe('admin')
  expect(result.reply).toMatchObject({ type: 'unsubscribe-response', id: 'e2e-1', data: { topic: 'vm-status' } })
})

test('a page from another origin cannot open the WebSocket, even with a valid token', async ({ page }) => {
  await server.addUser('e2e-victim', 'operator')
  const token = await server.token('e2e-victim')
  // The "attacker" site: another origin on loopback.
  const other: Server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p>other site</p>'),
  )
  await new Promise<void>(ok => other.listen(0, '127.0.0.1', () => ok()))
  try {
    await page.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`)
    const outcome = await page.evaluate(
      ({ wsUrl, token }) =>
        new Promise<string>(ok => {
          const ws = new WebSocket(`${wsUrl}?token=${token}`)
          ws.onopen = () => ok('opened')
          ws.onclose = e => ok(`closed ${e.code}`)
        }),
      { wsUrl: server.wsUrl, token },
    )
    expect(outcome).toBe('closed 1006')
  } finally {
    await new Promise(ok => other.close(ok))
  }
})
