/**
 * vnc-input bounds follow a real guest screen-size change, and the fast-path
 * ticket really expires. The guest starts paused (QEMU shows its 640×480
 * "not initialized" surface), a client connects then, and on resume the
 * kernel sets VESA mode 0x318 (`vga=0x318`, 1024×768) in its boot code:
 * coordinates valid only in the new mode must be accepted without a new
 * vnc-connect. All against libvirt, QEMU's own VNC server and the real server.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'
import { startServer, type RunningServer } from '../../src/main/server/index.js'
import { createVncBridge } from '../../src/main/vnc/index.js'
import { connectUpstream } from '../../src/main/vnc/upstream.js'
import { defineTestGuest, guestImagesReady, virsh, waitFor, type TestGuest } from '../fixtures/guest.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import { expectError, qemuVncClients, recordingLogger, wsViewer, type ConnectReply } from './vnc-helpers.js'

const ready = guestImagesReady()
const TICKET_TTL_MS = 1000

/** The framebuffer size QEMU itself reports in a fresh ServerInit (test side, straight to QEMU). */
async function qemuScreen(port: number): Promise<{ width: number; height: number }> {
  const up = await connectUpstream({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 5000 })
  up.socket.destroy()
  return { width: up.serverInit.width, height: up.serverInit.height }
}

if (!ready)
  describe('VNC screen resize and ticket expiry', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('VNC screen resize and ticket expiry against QEMU', () => {
  let guest: TestGuest
  let server: RunningServer
  let dataDir: string
  let op: TestClient
  const { log, lines: logLines } = recordingLogger()

  beforeAll(async () => {
    guest = await defineTestGuest({ name: 'voidvm-t-vnc-rs', extraCmdline: 'vga=0x318' })
    await virsh('start', '--paused', guest.name)
    dataDir = await mkdtemp(join(tmpdir(), 'voidvm-vnc-rs-'))
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      rendererDir: null,
      log,
      bridges: async ctx => {
        const h = await createHypervisorBridge(ctx, { uri: 'qemu:///system' })
        return [h.bridge, createVncBridge(ctx, h.directory, { ticketTtlMs: TICKET_TTL_MS })]
      },
    })
    await server.users.add('op', 'operator', 'op-password-1', ['voidvm-t-vnc-rs*'])
    op = await connect(server.wsUrl, await server.issueToken('op'))
  })

  afterAll(async () => {
    await op?.close()
    await server?.close()
    await guest?.remove()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('a vnc-input-only client that connected before a mode switch may use the whole new screen', async () => {
    const port = await guest.vncPort()
    // Connect while the guest is still paused: its screen is smaller than the mode to come.
    const r = await waitFor(
      () => op.request<ConnectReply>('vnc-connect', { vmId: guest.name }),
      20_000,
      'vnc-connect on the paused guest',
    )
    expect(r.width * r.height).toBeLessThan(1024 * 768)
    expect(await qemuScreen(port)).toEqual({ width: r.width, height: r.height })

    await virsh('resume', guest.name)
    await waitFor(
      async () => {
        const s = await qemuScreen(port)
        return s.width === 1024 && s.height === 768 ? s : undefined
      },
      30_000,
      'QEMU to report the 1024×768 VESA mode the guest kernel sets',
    )

    // Points that exist only on the new screen are accepted on the session opened before.
    const mouse = (x: number, y: number, buttons = 0) =>
      op.request<{ sessionId: string }>('vnc-input', { vmId: guest.name, inputType: 'mouse', x, y, buttons })
    expect(await mouse(1000, 700)).toMatchObject({ sessionId: r.sessionId })
    expect(await mouse(1023, 767, 1)).toMatchObject({ sessionId: r.sessionId })
    expect(await mouse(1023, 767, 0)).toMatchObject({ sessionId: r.sessionId })

    // Beyond the current size: refused, naming the field and the size QEMU reports now.
    const ex = await expectError(mouse(1024, 10), 'INVALID_MESSAGE', 'data.x')
    expect(ex.message).toContain('1024×768')
    const ey = await expectError(mouse(10, 768), 'INVALID_MESSAGE', 'data.y')
    expect(ey.message).toContain('1024×768')

    // Bit 7 of the button mask is refused (it is the extended-pointer marker), with the reason.
    const eb = await expectError(mouse(10, 10, 128), 'INVALID_MESSAGE', 'data.buttons')
    expect(eb.message).toMatch(/bit 7/)
    expect(await mouse(10, 10, 127)).toMatchObject({ sessionId: r.sessionId })
    expect(await mouse(10, 10, 0)).toMatchObject({ sessionId: r.sessionId })

    // The size re-reads were short connections: only the session stays connected to QEMU.
    await waitFor(async () => ((await qemuVncClients(guest.name)) === 1 ? true : undefined), 10_000, 'one VNC client')
    expect(logLines.some(l => l.includes('VNC screen size re-read') && l.includes('"width":1024'))).toBe(true)

    await op.request('vnc-disconnect', { vmId: guest.name, sessionId: r.sessionId })
    await op.next('vnc-closed', (d: { sessionId: string }) => d.sessionId === r.sessionId)
  })

  it('a fast-path ticket used after its lifetime gets HTTP 401, and stays dead', async () => {
    const base = server.url.replace(/^http/, 'ws')
    // Used in time, a ticket works (so the refusal below is the expiry, nothing else).
    const fresh = await op.request<ConnectReply>('vnc-connect', { vmId: guest.name, transport: 'websocket' })
    const { rfb, ws } = await wsViewer(base + fresh.url!)
    const init = await rfb.handshake()
    expect({ w: init.width, h: init.height }).toEqual({ w: fresh.width, h: fresh.height })
    ws.close()
    await op.next('vnc-closed', (d: { sessionId: string }) => d.sessionId === fresh.sessionId)

    const late = await op.request<ConnectReply>('vnc-connect', { vmId: guest.name, transport: 'websocket' })
    await new Promise(res => setTimeout(res, TICKET_TTL_MS + 500))
    await expect(wsViewer(base + late.url!)).rejects.toThrow(/401/)
    await expect(wsViewer(base + late.url!)).rejects.toThrow(/401/)
    // The session itself stays open for vnc-input, as documented.
    expect(
      await op.request('vnc-input', {
        vmId: guest.name,
        sessionId: late.sessionId,
        inputType: 'mouse',
        x: 1,
        y: 1,
        buttons: 0,
      }),
    ).toMatchObject({ sessionId: late.sessionId })
    await op.request('vnc-disconnect', { vmId: guest.name, sessionId: late.sessionId })
  })
})
