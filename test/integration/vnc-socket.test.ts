/**
 * VNC consoles that QEMU serves on a unix socket instead of a TCP port
 * (`<listen type='socket' socket=…/>`, and libvirt's auto-generated socket),
 * through the real server, the real hypervisor bridge (qemu:///system) and
 * QEMU's VNC server on the TCG test guest: RFB over vnc-data and over the
 * fast path, typing over vnc-input, a socket path that is gone, and a VM
 * whose only graphics is SPICE.
 *
 * libvirt 9.0 silently drops an explicit socket path under its own
 * /var/lib/libvirt/qemu (it keeps those for generated paths), so the explicit
 * socket lives in a temp dir this test creates; QEMU runs as root here.
 */
import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineTestGuest, guestImagesReady, removeDomain, virsh, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import {
  expectConsolePixels,
  expectError,
  jsonViewer,
  serialReader,
  typeUntilSerial,
  wsViewer,
  type ConnectReply,
} from './vnc-helpers.js'

const ready = guestImagesReady()
const SOCK_VM = 'voidvm-t-vnc-sock'
const AUTO_VM = 'voidvm-t-vnc-sock-auto'
const SPICE_VM = 'voidvm-t-vnc-sock-spice'

/** The socket path of the VM's VNC graphics in its live XML, as libvirt reports it. */
async function liveSocket(name: string): Promise<string | undefined> {
  const xml = await virsh('dumpxml', name)
  return /<graphics\b[^>]*type='vnc'[\s\S]*?<listen type='socket' socket='([^']+)'/.exec(xml)?.[1]
}

if (!ready)
  describe('VNC on a unix socket', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('VNC on a unix socket, against QEMU', () => {
  let sockDir: string
  let sockPath: string
  let guest: TestGuest
  let server: TestServer
  let op: TestClient

  beforeAll(async () => {
    sockDir = await mkdtemp(join(tmpdir(), 'voidvm-vnc-sock-'))
    sockPath = join(sockDir, 'vnc.sock')
    guest = await defineTestGuest({
      name: SOCK_VM,
      graphicsXml: `<graphics type='vnc'><listen type='socket' socket='${sockPath}'/></graphics>`,
    })
    await guest.start()
    server = await startTestServer({ libvirtUri: 'qemu:///system' })
    await server.addUser('op', 'operator', ['voidvm-t-vnc-sock*'])
    op = await connect(server.wsUrl, await server.tokenFor('op'))
  })

  afterAll(async () => {
    await op?.close()
    await server?.close()
    await guest?.remove()
    await removeDomain(AUTO_VM)
    await removeDomain(SPICE_VM)
    if (sockDir) await rm(sockDir, { recursive: true, force: true })
  })

  it('connects over vnc-data: ServerInit geometry, and a framebuffer showing the console', async () => {
    // The fixture's view: libvirt reports the socket and QEMU created it.
    expect(await liveSocket(SOCK_VM)).toBe(sockPath)
    expect((await stat(sockPath)).isSocket()).toBe(true)

    const r = await op.request<ConnectReply>('vnc-connect', { vmId: SOCK_VM })
    expect(r.vmId).toBe(SOCK_VM)
    expect(r.width).toBeGreaterThan(0)
    expect(r.height).toBeGreaterThan(0)
    expect(r.name).toContain(SOCK_VM)
    const rfb = jsonViewer(op, SOCK_VM, r.sessionId)
    const init = await rfb.handshake()
    expect({ w: init.width, h: init.height, name: init.name }).toEqual({ w: r.width, h: r.height, name: r.name })
    await expectConsolePixels(rfb, 'a framebuffer update with the console on it, over the unix socket')
    await op.request('vnc-disconnect', { vmId: SOCK_VM, sessionId: r.sessionId })
    await op.next('vnc-closed', (d: { sessionId: string }) => d.sessionId === r.sessionId)
  })

  it('connects over the binary fast path', async () => {
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: guest.uuid, transport: 'websocket' })
    expect(r.vmId).toBe(SOCK_VM)
    expect(r.url).toMatch(/^\/ws\/vnc\?ticket=[\w-]{20,}$/)
    const { rfb, ws } = await wsViewer(server.url.replace(/^http/, 'ws') + r.url)
    const init = await rfb.handshake()
    expect({ w: init.width, h: init.height }).toEqual({ w: r.width, h: r.height })
    await expectConsolePixels(rfb, 'a framebuffer update over the fast path, from the unix socket')
    ws.close()
    const closed = await op.next<{ sessionId: string; reason: string }>('vnc-closed', d => d.sessionId === r.sessionId)
    expect(closed.reason).toMatch(/viewer closed/)
  })

  it('types into the guest over vnc-input; the command runs on the guest', async () => {
    const serial = serialReader(await virsh('ttyconsole', SOCK_VM))
    try {
      const r = await op.request<ConnectReply>('vnc-connect', { vmId: SOCK_VM })
      await typeUntilSerial(op, SOCK_VM, serial, r.sessionId)
      expect(serial.text()).toContain('vnc-ok-42')
      await op.request('vnc-disconnect', { vmId: SOCK_VM, sessionId: r.sessionId })
    } finally {
      serial.stop()
    }
  })

  it('refuses with VNC_CONNECT_FAILED saying why when the socket path is gone or not a socket', async () => {
    // QEMU keeps listening on the moved socket, so moving it back restores the console.
    const away = `${sockPath}.away`
    await rename(sockPath, away)
    try {
      const gone = await expectError(op.request('vnc-connect', { vmId: SOCK_VM }), 'VNC_CONNECT_FAILED')
      expect(gone.message).toContain(sockPath)
      expect(gone.message).toMatch(/does not exist/)
      expect(gone.vmId).toBe(SOCK_VM)

      await writeFile(sockPath, 'not a socket')
      const plainFile = await expectError(op.request('vnc-connect', { vmId: SOCK_VM }), 'VNC_CONNECT_FAILED')
      expect(plainFile.message).toContain(sockPath)
      expect(plainFile.message).toMatch(/not a listening socket/)
      await rm(sockPath)
    } finally {
      await rename(away, sockPath)
    }
    // The socket connection survived both refusals, and the console works again.
    expect(op.ws.readyState).toBe(WebSocket.OPEN)
    const r = await op.request<ConnectReply>('vnc-connect', { vmId: SOCK_VM })
    expect(r.width).toBeGreaterThan(0)
    await op.request('vnc-disconnect', { vmId: SOCK_VM, sessionId: r.sessionId })
  })

  it("connects to libvirt's auto-generated VNC socket", async () => {
    const auto = await defineTestGuest({
      name: AUTO_VM,
      graphicsXml: "<graphics type='vnc'><listen type='socket'/></graphics>",
    })
    try {
      await auto.start()
      const path = await liveSocket(AUTO_VM)
      expect(path).toMatch(/^\/var\/lib\/libvirt\/qemu\/.+\/vnc\.sock$/)
      expect((await stat(path!)).isSocket()).toBe(true)

      const r = await op.request<ConnectReply>('vnc-connect', { vmId: AUTO_VM })
      expect(r.name).toContain(AUTO_VM)
      const rfb = jsonViewer(op, AUTO_VM, r.sessionId)
      expect((await rfb.handshake()).width).toBe(r.width)
      await expectConsolePixels(rfb, 'a framebuffer update from the auto-generated socket')
      await op.request('vnc-disconnect', { vmId: AUTO_VM, sessionId: r.sessionId })

      const f = await op.request<ConnectReply>('vnc-connect', { vmId: AUTO_VM, transport: 'websocket' })
      const { rfb: fast, ws } = await wsViewer(server.url.replace(/^http/, 'ws') + f.url!)
      expect((await fast.handshake()).height).toBe(f.height)
      ws.close()
      await op.next('vnc-closed', (d: { sessionId: string }) => d.sessionId === f.sessionId)
    } finally {
      await auto.remove()
    }
  })

  it('refuses a running VM whose only graphics is SPICE with VNC_UNAVAILABLE: no VNC display', async () => {
    const spice = await defineTestGuest({
      name: SPICE_VM,
      graphicsXml: "<graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>",
    })
    try {
      await spice.start()
      expect(await virsh('dumpxml', SPICE_VM)).toMatch(/<graphics type='spice' port='\d+'/)
      const e = await expectError(op.request('vnc-connect', { vmId: SPICE_VM }), 'VNC_UNAVAILABLE')
      expect(e.message).toMatch(/no VNC display/)
      expect(e.message).toMatch(/spice/i)
      expect(e.vmId).toBe(SPICE_VM)
    } finally {
      await spice.remove()
    }
  })
})
