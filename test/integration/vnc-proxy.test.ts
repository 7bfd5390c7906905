/**
 * The VNC proxy core against QEMU's own VNC server on the real TCG test
 * guest: upstream handshake (None and VNC Authentication), the downstream
 * RFB server toward a viewer, relaying framebuffer updates, input injection
 * reaching the guest's shell, and a garbage viewer stream ending the session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { vncTargetFromXml, type VncTarget } from '../../src/main/vnc/endpoint.js'
import { keyToKeysym, textToKeyPresses } from '../../src/main/vnc/keysym.js'
import { hasNonBlackPixel, MiniRfbClient } from '../../src/main/vnc/rfb-client.js'
import { keyEvent } from '../../src/main/vnc/rfb.js'
import { VncSession, type ViewerTransport } from '../../src/main/vnc/session.js'
import { connectUpstream, VncHandshakeError } from '../../src/main/vnc/upstream.js'
import { defineTestGuest, guestImagesReady, virsh, waitFor, type TestGuest } from '../fixtures/guest.js'
import { serialReader } from './vnc-helpers.js'

const ready = guestImagesReady()
const PASSWORD = 'vS3cr#t8' // QEMU allows at most 8 characters

function memoryViewer(): ViewerTransport & { client: MiniRfbClient; session?: VncSession } {
  const v: ViewerTransport & { client: MiniRfbClient; session?: VncSession } = {
    client: new MiniRfbClient(b => v.session!.fromViewer(b)),
    send: b => setImmediate(() => v.client.push(Buffer.from(b))),
    buffered: 0,
    onDrain: cb => setImmediate(cb),
  }
  return v
}

if (!ready)
  describe('VNC proxy core', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('VNC proxy core against QEMU', () => {
  let plain: TestGuest
  let locked: TestGuest

  beforeAll(async () => {
    plain = await defineTestGuest({ name: 'voidvm-t-vnc-core' })
    locked = await defineTestGuest({ name: 'voidvm-t-vnc-corepw', vncPassword: PASSWORD })
    await plain.start()
    await locked.start()
  })
  afterAll(async () => {
    await plain?.remove()
    await locked?.remove()
  })

  async function target(g: TestGuest): Promise<VncTarget> {
    const t = vncTargetFromXml(await virsh('dumpxml', '--security-info', g.name))
    if (typeof t === 'string') throw new Error(t)
    return t
  }

  it('completes the handshake with security None and relays a framebuffer with the console on it', async () => {
    const t = await target(plain)
    expect(t.endpoint).toEqual({ kind: 'tcp', host: '127.0.0.1', port: await plain.vncPort() })
    const up = await connectUpstream(t.endpoint, { password: t.password })
    expect(up.serverInit.width).toBeGreaterThan(0)
    expect(up.serverInit.height).toBeGreaterThan(0)
    expect(up.serverInit.name).toContain('voidvm-t-vnc-core')
    const closed: string[] = []
    const s = new VncSession(up, { onClose: r => closed.push(r) })
    const v = memoryViewer()
    v.session = s
    s.attachViewer(v)
    const init = await v.client.handshake()
    expect({ w: init.width, h: init.height }).toEqual({ w: up.serverInit.width, h: up.serverInit.height })
    // The guest's text console appears within a few seconds of boot.
    await waitFor(
      async () => {
        v.client.requestUpdate(false)
        return hasNonBlackPixel(await v.client.readUpdate()) || undefined
      },
      30_000,
      'a non-black framebuffer',
    )
    s.close('test done')
    expect(closed).toEqual(['test done'])
  })

  it('answers VNC Authentication itself with the password from the secure XML', async () => {
    const t = await target(locked)
    expect(t.password).toBe(PASSWORD)
    await expect(connectUpstream(t.endpoint, {})).rejects.toThrow(VncHandshakeError)
    await expect(connectUpstream(t.endpoint, { password: 'wrong-pw' })).rejects.toThrow(/authentication failed/)
    const up = await connectUpstream(t.endpoint, { password: t.password })
    expect(up.serverInit.width).toBeGreaterThan(0)
    up.socket.destroy()
  })

  it('types into the tty1 shell by injection; the command runs on the guest', async () => {
    const pty = await virsh('ttyconsole', plain.name)
    const serial = serialReader(pty)
    try {
      const t = await target(plain)
      const up = await connectUpstream(t.endpoint, { password: t.password })
      const s = new VncSession(up, { onClose: () => {} })
      const enter = keyToKeysym('Enter')!
      const ctrl = keyToKeysym('Control')!
      // The first test returns at the first lit pixel, which is the firmware's text:
      // wait until the guest's shells run (the serial one prints its prompt) before typing.
      await waitFor(() => (serial.text().includes('guest# ') ? true : undefined), 30_000, 'the guest shell prompt')
      // QEMU drops keys that arrive faster than the guest reads them, so type at
      // the bridge's pace (25 ms a key); each attempt first clears the line with Ctrl+C.
      const presses = [
        { keysym: ctrl, down: true },
        ...textToKeyPresses('c'),
        { keysym: ctrl, down: false },
        ...textToKeyPresses('echo vnc-ok-$((6*7)) > /dev/ttyS0'),
        { keysym: enter, down: true },
        { keysym: enter, down: false },
      ]
      for (let attempt = 0; attempt < 6 && !serial.text().includes('vnc-ok-42'); attempt++) {
        for (const p of presses) {
          s.inject([[keyEvent(p.keysym, p.down)]])
          await new Promise(r => setTimeout(r, 25))
        }
        await waitFor(() => (serial.text().includes('vnc-ok-42') ? true : undefined), 6000, 'vnc-ok-42').catch(
          () => undefined,
        )
      }
      expect(serial.text()).toContain('vnc-ok-42')
      s.close('done')
    } finally {
      serial.stop()
    }
  })

  it('ends the session when the viewer sends a byte stream it cannot frame', async () => {
    const t = await target(plain)
    const up = await connectUpstream(t.endpoint, { password: t.password })
    const reasons: string[] = []
    const s = new VncSession(up, { onClose: (r, err) => reasons.push(`${err}:${r}`) })
    const v = memoryViewer()
    v.session = s
    s.attachViewer(v)
    await v.client.handshake()
    s.fromViewer(Buffer.from([0x42, 0x13, 0x37]))
    expect(s.isClosed).toBe(true)
    expect(reasons).toEqual(['true:RFB protocol error from the viewer: unknown RFB client message type 66'])
  })
})
