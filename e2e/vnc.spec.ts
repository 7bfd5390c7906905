/**
 * noVNC itself, in headless Chromium, on the VNC fast path: a page that only
 * does `new RFB(el, url)` with the url from vnc-connect shows the guest's
 * console on its canvas, and keys typed into it reach the guest's shell.
 */
import { spawn } from 'node:child_process'
import { createReadStream, existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize, resolve } from 'node:path'
import { expect, test, type Page } from '@playwright/test'
import { createHypervisorBridge } from '../src/main/hypervisor/index.js'
import { startServer, type RunningServer } from '../src/main/server/index.js'
import { createVncBridge } from '../src/main/vnc/index.js'
import { defineTestGuest, guestImagesReady, virsh, type TestGuest } from '../test/fixtures/guest.js'
import { connect, type TestClient } from '../test/fixtures/ws-client.js'

const ROOT = resolve(import.meta.dirname, '..')
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' }

/** Serves the fixture page and noVNC's ES modules (no bundling: the page imports core/rfb.js as is). */
function staticServer(): Promise<{ server: Server; origin: string }> {
  const roots: [string, string][] = [
    ['/novnc/', join(ROOT, 'node_modules/@novnc/novnc/')],
    ['/', join(ROOT, 'e2e/fixtures/vnc/')],
  ]
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    for (const [prefix, dir] of roots) {
      if (!path.startsWith(prefix)) continue
      const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'))
      if (!file.startsWith(dir) || !existsSync(file)) break
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      createReadStream(file).pipe(res)
      return
    }
    res.writeHead(path === '/favicon.ico' ? 204 : 404).end()
  })
  return new Promise(ok =>
    server.listen(0, '127.0.0.1', () =>
      ok({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  )
}

/** The bits of HTMLCanvasElement the check uses (this tsconfig has no DOM lib). */
interface CanvasLike {
  width: number
  height: number
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } }
}

/**
 * keyboard.type() sends "$" without a Shift keydown, and noVNC forwards the
 * physical key (QEMU extended key events), so the guest would see "4". Hold
 * Shift as a person on a US keyboard does.
 */
async function typeLikeAUser(page: Page, text: string): Promise<void> {
  for (const ch of text) {
    const shifted = '~!@#$%^&*()_+{}|:"<>?'.includes(ch) || (ch >= 'A' && ch <= 'Z')
    if (shifted) await page.keyboard.down('Shift')
    await page.keyboard.press(ch)
    if (shifted) await page.keyboard.up('Shift')
  }
}

test.describe('noVNC on the VNC fast path', () => {
  test.skip(!guestImagesReady(), 'the test guest images are missing; run scripts/host-setup.sh as root')

  let guest: TestGuest
  let api: RunningServer
  let pages: { server: Server; origin: string }
  let client: TestClient
  let dataDir: string

  test.beforeAll(async () => {
    test.setTimeout(120_000)
    guest = await defineTestGuest({ name: 'voidvm-t-vnc-e2e', vncPassword: 'e2eVnc#1' })
    await guest.start()
    pages = await staticServer()
    dataDir = await mkdtemp(join(tmpdir(), 'voidvm-vnc-e2e-'))
    api = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      rendererDir: null,
      logLevel: 'warn',
      allowOrigins: [pages.origin],
      bridges: async ctx => {
        const h = await createHypervisorBridge(ctx, { uri: 'qemu:///system' })
        return [h.bridge, createVncBridge(ctx, h.directory)]
      },
    })
    await api.users.add('op', 'operator', 'op-password-1', ['voidvm-t-vnc-*'])
    client = await connect(api.wsUrl, await api.issueToken('op'))
  })

  test.afterAll(async () => {
    await client?.close()
    await api?.close()
    await new Promise(ok => pages?.server.close(ok))
    await guest?.remove()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  test('the canvas shows the console and typed keys reach the guest', async ({ page }) => {
    const errors: string[] = []
    page.on('pageerror', e => errors.push(e.message))
    // Only socket errors are worth a line in the test output (frame-by-frame logging drowned it).
    page.on('websocket', ws => ws.on('socketerror', e => console.log('fast-path WebSocket error:', e)))
    // Guests starting on this host add tap interfaces; Chromium then aborts
    // in-flight loads with ERR_NETWORK_CHANGED. Such an attempt is retried
    // with a fresh ticket (tickets are single-use).
    let reply: { sessionId: string; url: string; width: number; height: number } | undefined
    for (let attempt = 1; attempt <= 4 && !reply; attempt++) {
      const r = await client.request<{ sessionId: string; url: string; width: number; height: number }>('vnc-connect', {
        vmId: guest.name,
        transport: 'websocket',
      })
      const wsUrl = api.url.replace(/^http/, 'ws') + r.url
      await page.goto(`${pages.origin}/index.html?url=${encodeURIComponent(wsUrl)}`).catch(() => undefined)
      const ok = await expect(page.locator('#state'))
        .toHaveText('connected', { timeout: 15_000 })
        .then(() => true)
        .catch(() => false)
      if (ok) reply = r
      else await client.request('vnc-disconnect', { vmId: guest.name, sessionId: r.sessionId }).catch(() => undefined)
    }
    if (!reply) throw new Error('noVNC did not connect in 4 attempts')

    const canvas = page.locator('#screen canvas')
    await expect(canvas).toHaveAttribute('width', String(reply.width))
    // The guest's text console: some pixel on the canvas is not black.
    await expect
      .poll(
        () =>
          canvas.evaluate(el => {
            const c = el as unknown as CanvasLike
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
            let lit = 0
            for (let i = 0; i < d.length; i += 4) if (d[i]! + d[i + 1]! + d[i + 2]! > 60) lit++
            return lit
          }),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(100)

    // Keys typed into noVNC (QEMU extended key events) go through the proxy's framer to the shell.
    const pty = await virsh('ttyconsole', guest.name)
    let serial = ''
    const cat = spawn('sh', ['-c', `stty -F ${pty} raw -echo && exec cat ${pty}`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    cat.stdout.on('data', d => (serial += String(d)))
    try {
      await canvas.click({ position: { x: 5, y: 5 } })
      await expect
        .poll(
          async () => {
            if (!serial.includes('novnc-ok-25')) {
              await typeLikeAUser(page, 'echo novnc-ok-$((5*5)) > /dev/ttyS0')
              await page.keyboard.press('Enter')
            }
            return serial.includes('novnc-ok-25')
          },
          { timeout: 45_000, intervals: [4000] },
        )
        .toBe(true)
    } finally {
      cat.kill()
    }
    expect(errors).toEqual([])
    await expect(page.locator('#state')).toHaveText('connected')
  })
})
