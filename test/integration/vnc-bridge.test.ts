/**
 * The VNC bridge over the real server, the real hypervisor bridge (libvirt
 * qemu:///system) and QEMU's own VNC server on TCG test guests: RFB over
 * vnc-data, the binary fast path, input over vnc-input only reaching the
 * guest's shell, a VNC password the viewer never sees, every documented
 * refusal, and garbage from one viewer ending only its session.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'
import { startServer, type RunningServer } from '../../src/main/server/index.js'
import { createVncBridge } from '../../src/main/vnc/index.js'
import { defineTestGuest, guestImagesReady, virsh, waitFor, type TestGuest } from '../fixtures/guest.js'
import { startTestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import {
  expectConsolePixels,
  expectError,
  jsonViewer,
  qemuVncClients,
  recordingLogger,
  serialReader,
  typeUntilSerial,
  wsViewer,
  type ConnectReply,
} from './vnc-helpers.js'

const ready = guestImagesReady()
const PASSWORD = 'Zq7#vnc!' // QEMU allows at most 8 characters

if (!ready)
  describe('VNC bridge', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('VNC bridge against QEMU', () => {
  let plain: TestGuest
  let locked: TestGuest
  let stopped: TestGuest
  let server: RunningServer
  let dataDir: string
  let op: TestClient
  const { log, lines: logLines } = recordingLogger()

  beforeAll(async () => {
    plain = await defineTestGuest({ name: 'voidvm-t-vnc-br' })
    locked = await defineTestGuest({ name: 'voidvm-t-vnc-brpw', vncPassword: PASSWORD })
    stopped = await defineTestGuest({ name: 'voidvm-t-vnc-off' })
    await plain.start()
    await locked.start()
    dataDir = await mkdtemp(join(tmpdir(), 'voidvm-vnc-test-'))
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      rendererDir: null,
      log,
      limits: { vncSessionsPerSocket: 3 },
      bridges: async ctx => {
        const h = await createHypervisorBridge(ctx, { uri: 'qemu:///system' })
        return [h.bridge, createVncBridge(ctx, h.directory)]
      },
    })
    await server.users.add('op', 'operator', 'op-password-1', ['voidvm-t-vnc-*'])
    await server.users.add('viewer', 'viewer', 'viewer-password-1', ['*'])
    await server.users.add('narrow', 'operator', 'narrow-password-1', ['voidvm-t-vnc-off'])
    op = await connect(server.wsUrl, await server.issueToken('op'))
  })

  afterAll(async () => {
    await op?.close()
    await server?.close()
    await plain?.remove()
    await locked?.remove()
    await stopped?.remove()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('speaks RFB over vnc-data: handshake, ServerInit geometry, a framebuffer showing the console', async () => {
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    expect(r.vmId).toBe(plain.name)
    expect(r.width).toBeGreaterThan(0)
    expect(r.height).toBeGreaterThan(0)
    expect(r.name).toContain(plain.name)
    expect(r.url).toBeUndefined()
    const rfb = jsonViewer(op, plain.name, r.sessionId)
    const init = await rfb.handshake()
    expect({ w: init.width, h: init.height, name: init.name }).toEqual({ w: r.width, h: r.height, name: r.name })
    await expectConsolePixels(rfb, 'a framebuffer update with the console on it')
    await op.request('vnc-disconnect', { vmId: plain.name, sessionId: r.sessionId })
    await op.next('vnc-closed', (d: { sessionId: string }) => d.sessionId === r.sessionId)
  })

  it('speaks the same RFB over the binary fast path, with a single-use ticket', async () => {
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: plain.uuid, transport: 'websocket' })
    expect(r.vmId).toBe(plain.name)
    expect(r.url).toMatch(/^\/ws\/vnc\?ticket=[\w-]{20,}$/)
    const base = server.url.replace(/^http/, 'ws')
    const { rfb, ws } = await wsViewer(base + r.url)
    const init = await rfb.handshake()
    expect({ w: init.width, h: init.height }).toEqual({ w: r.width, h: r.height })
    await expectConsolePixels(rfb, 'a framebuffer update over the fast path')
    // The ticket was used up; a second upgrade with it is refused.
    await expect(wsViewer(base + r.url)).rejects.toThrow(/401/)
    await expect(wsViewer(`${base}/ws/vnc?ticket=not-a-ticket`)).rejects.toThrow(/401/)
    // vnc-data is not the transport of a fast-path session.
    await expectError(
      op.request('vnc-data', { vmId: plain.name, sessionId: r.sessionId, data: 'AA==' }),
      'INVALID_MESSAGE',
      'data.sessionId',
    )
    // Closing the WebSocket ends the session.
    ws.close()
    const closed = await op.next<{ sessionId: string; reason: string }>('vnc-closed', d => d.sessionId === r.sessionId)
    expect(closed.reason).toMatch(/viewer closed/)
  })

  it('types into the guest over vnc-input only (no RFB from the client)', async () => {
    const serial = serialReader(await virsh('ttyconsole', plain.name))
    try {
      const r = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
      await typeUntilSerial(op, plain.name, serial)
      // Text pasted while the user holds Ctrl arrives as written, not as Ctrl+E, Ctrl+C…
      await typeUntilSerial(op, plain.name, serial, undefined, {
        command: 'echo vnc-held-$((2*3)) > /dev/ttyS0',
        expect: 'vnc-held-6',
        holding: 'Control',
      })
      const m = await op.request('vnc-input', { vmId: plain.name, inputType: 'mouse', x: 10, y: 10, buttons: 0 })
      expect(m).toEqual({ vmId: plain.name, sessionId: r.sessionId })
      await op.request('vnc-disconnect', { vmId: plain.name })
    } finally {
      serial.stop()
    }
  })

  it('opens a password-protected console without the viewer knowing the password, and never shows it', async () => {
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: locked.name })
    const rfb = jsonViewer(op, locked.name, r.sessionId)
    const init = await rfb.handshake()
    expect(init.width).toBe(r.width)
    rfb.requestUpdate(false)
    await rfb.readUpdate()
    await op.request('vnc-disconnect', { vmId: locked.name })
    // A wrong password in QEMU (changed behind libvirt's back) is a connect failure with the reason.
    await virsh('qemu-monitor-command', '--hmp', locked.name, 'set_password vnc other123')
    const e = await expectError(op.request('vnc-connect', { vmId: locked.name }), 'VNC_CONNECT_FAILED')
    expect(e.message).toMatch(/authentication failed/i)
    await virsh('qemu-monitor-command', '--hmp', locked.name, `set_password vnc ${PASSWORD}`)
    const everything = [
      JSON.stringify(op.frames),
      logLines.join('\n'),
      await readFile(join(dataDir, 'audit.log'), 'utf8').catch(() => ''),
    ].join('\n')
    expect(everything).not.toContain(PASSWORD)
    expect(everything).not.toContain('other123')
  })

  it('refuses bad requests with the documented codes', async () => {
    await expectError(op.request('vnc-connect', { vmId: 'voidvm-t-vnc-no-such-vm' }), 'VM_NOT_FOUND')
    const off = await expectError(op.request('vnc-connect', { vmId: stopped.name }), 'VNC_UNAVAILABLE')
    expect(off.message).toMatch(/not running/)
    await expectError(op.request('vnc-input', { vmId: plain.name, inputType: 'text', text: 'x' }), 'SESSION_NOT_FOUND')
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'keyboard', key: 'Entr', down: true }),
      'INVALID_MESSAGE',
      'data.key',
    )
    await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'mouse', x: r.width, y: 0, buttons: 0 }),
      'INVALID_MESSAGE',
      'data.x',
    )
    await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'mouse', x: 0, y: r.height + 5, buttons: 0 }),
      'INVALID_MESSAGE',
      'data.y',
    )
    await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'text', text: 'bell\u0007' }),
      'INVALID_MESSAGE',
      'data.text',
    )
    // QEMU's US keymap has no key for it: refused whole instead of typed as "caf".
    const accent = await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'text', text: 'café' }),
      'INVALID_MESSAGE',
      'data.text',
    )
    expect(accent.message).toContain(
      'data.text: character 4 ("é", U+00E9) has no key on the US keyboard layout text is typed with; only ASCII characters, newlines and tabs can be typed',
    )
    await expectError(
      op.request('vnc-input', { vmId: plain.name, sessionId: 'nope', inputType: 'text', text: 'x' }),
      'SESSION_NOT_FOUND',
    )
    await expectError(op.request('vnc-data', { vmId: plain.name, data: '***' }), 'INVALID_MESSAGE')
    // Per-socket cap (3 in this server): two more fit, the next is refused.
    const r2 = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    const r3 = await op.request<ConnectReply>('vnc-connect', { vmId: locked.name })
    await expectError(op.request('vnc-connect', { vmId: plain.name }), 'SESSION_LIMIT')
    // Two sessions on one VM: a message without sessionId is ambiguous.
    await expectError(
      op.request('vnc-input', { vmId: plain.name, inputType: 'text', text: 'x' }),
      'INVALID_MESSAGE',
      'data.sessionId',
    )
    for (const s of [r, r2, r3]) await op.request('vnc-disconnect', { vmId: s.vmId, sessionId: s.sessionId })

    const viewer = await connect(server.wsUrl, await server.issueToken('viewer'))
    const narrow = await connect(server.wsUrl, await server.issueToken('narrow'))
    try {
      await expectError(viewer.request('vnc-connect', { vmId: plain.name }), 'FORBIDDEN')
      await expectError(viewer.request('vnc-input', { vmId: plain.name, inputType: 'text', text: 'x' }), 'FORBIDDEN')
      await expectError(narrow.request('vnc-connect', { vmId: plain.name }), 'FORBIDDEN')
    } finally {
      await viewer.close()
      await narrow.close()
    }
  })

  it('refuses a running VM without VNC graphics', async () => {
    const headless = await defineTestGuest({ name: 'voidvm-t-vnc-nogfx', noGraphics: true })
    try {
      await headless.start()
      const e = await expectError(op.request('vnc-connect', { vmId: headless.name }), 'VNC_UNAVAILABLE')
      expect(e.message).toMatch(/no VNC display: it has no VNC graphics \(no graphics device at all\)/)
    } finally {
      await headless.remove()
    }
  })

  it('ends only the session whose viewer sends garbage; the socket and other sessions carry on', async () => {
    const a = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    const b = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    const rfbA = jsonViewer(op, plain.name, a.sessionId)
    const rfbB = jsonViewer(op, plain.name, b.sessionId)
    await rfbA.handshake()
    await rfbB.handshake()
    const garbage = Buffer.from([0x42, 0xde, 0xad, 0xbe, 0xef])
    await expectError(
      op.request('vnc-data', { vmId: plain.name, sessionId: a.sessionId, data: garbage.toString('base64') }),
      'INVALID_MESSAGE',
      'data.data',
    )
    const closed = await op.next<{ sessionId: string; reason: string }>('vnc-closed', d => d.sessionId === a.sessionId)
    expect(closed.reason).toMatch(/RFB protocol error.*type 66/)
    // The same on the fast path: the WebSocket closes with 1011, the rest carries on.
    const f = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name, transport: 'websocket' })
    const fast = await wsViewer(server.url.replace(/^http/, 'ws') + f.url!)
    await fast.rfb.handshake()
    const wsClosed = new Promise<number>(ok => fast.ws.once('close', code => ok(code)))
    fast.ws.send(garbage)
    expect(await wsClosed).toBe(1011)
    const closedF = await op.next<{ sessionId: string; reason: string }>('vnc-closed', d => d.sessionId === f.sessionId)
    expect(closedF.reason).toMatch(/RFB protocol error/)
    rfbB.requestUpdate(false)
    expect((await rfbB.readUpdate()).length).toBeGreaterThan(0)
    expect(op.ws.readyState).toBe(WebSocket.OPEN)
    await op.request('vnc-disconnect', { vmId: plain.name, sessionId: b.sessionId })
  })

  it('is served by the default bridges of a stock server', async () => {
    const stock = await startTestServer({ libvirtUri: 'qemu:///system' })
    try {
      await stock.addUser('op2', 'operator', ['voidvm-t-vnc-*'])
      const c = await connect(stock.wsUrl, await stock.tokenFor('op2'))
      try {
        const r = await c.request<ConnectReply>('vnc-connect', { vmId: plain.name, transport: 'websocket' })
        const { rfb, ws } = await wsViewer(stock.url.replace(/^http/, 'ws') + r.url!)
        expect((await rfb.handshake()).width).toBe(r.width)
        ws.close()
      } finally {
        await c.close()
      }
    } finally {
      await stock.close()
    }
  })

  it('ends sessions with their socket, and pushes vnc-closed when the VM stops', async () => {
    const before = await qemuVncClients(plain.name)
    const c = await connect(server.wsUrl, await server.issueToken('op'))
    await c.request('vnc-connect', { vmId: plain.name })
    await c.request('vnc-connect', { vmId: plain.name, transport: 'websocket' })
    expect(await qemuVncClients(plain.name)).toBe(before + 2)
    await c.close()
    await waitFor(
      async () => ((await qemuVncClients(plain.name)) === before ? true : undefined),
      10_000,
      'QEMU to see the clients go',
    )

    const r = await op.request<ConnectReply>('vnc-connect', { vmId: plain.name })
    await plain.destroy()
    const closed = await op.next<{ sessionId: string; reason: string }>(
      'vnc-closed',
      d => d.sessionId === r.sessionId,
      20_000,
    )
    expect(closed.reason).toMatch(/VM stopped|VNC server/)
  })
})
