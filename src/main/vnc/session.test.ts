/**
 * VncSession over a loopback socket standing in for the VNC server's side
 * of an already-handshaken connection: injection between whole client
 * messages, bounded buffering toward a slow viewer, and a viewer's garbage
 * ending the session.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeServerInit, keyEvent, parseServerInit, pointerEvent, TRUE_COLOR_32 } from './rfb.js'
import { VncSession, type ViewerTransport } from './session.js'

const init = parseServerInit(encodeServerInit(640, 480, TRUE_COLOR_32, 'unit'))!.init

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})

/** A connected socket pair: `proxySide` goes into the session, `serverSide` plays the VNC server. */
async function socketPair(): Promise<{ proxySide: net.Socket; serverSide: net.Socket }> {
  const server = net.createServer()
  await new Promise<void>(ok => server.listen(0, '127.0.0.1', ok))
  const accepted = new Promise<net.Socket>(ok => server.once('connection', ok))
  const proxySide = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const serverSide = await accepted
  cleanups.push(() => {
    proxySide.destroy()
    serverSide.destroy()
    server.close()
  })
  return { proxySide, serverSide }
}

function viewer(): ViewerTransport & { got: Buffer[]; bytes: number; drains: (() => void)[]; backlog: number } {
  const v = {
    got: [] as Buffer[],
    bytes: 0,
    backlog: 0,
    drains: [] as (() => void)[],
    send(b: Buffer) {
      v.got.push(b)
      v.bytes += b.length
      v.backlog += b.length
    },
    get buffered() {
      return v.backlog
    },
    onDrain(cb: () => void) {
      v.drains.push(cb)
    },
  }
  return v
}

const handshake = Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1]), Buffer.from([1])])
const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise(r => setTimeout(r, 10))
  }
}

describe('VncSession', () => {
  it('injects input only between whole client messages', async () => {
    const { proxySide, serverSide } = await socketPair()
    let received = Buffer.alloc(0)
    serverSide.on('data', d => (received = Buffer.concat([received, d])))
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      {
        onClose: () => {},
        typingDelayMs: 1,
      },
    )
    const v = viewer()
    s.attachViewer(v)
    s.fromViewer(handshake)
    const key = keyEvent(0x61, true)
    s.fromViewer(key.subarray(0, 3)) // half a KeyEvent from the viewer…
    s.inject([[pointerEvent(1, 2, 1)]]) // …then injected input
    s.fromViewer(key.subarray(3))
    await until(() => received.length >= 14)
    expect(received.toString('hex')).toBe(pointerEvent(1, 2, 1).toString('hex') + key.toString('hex'))
    s.close('done')
  })

  it(
    'stops reading from the VNC server while the viewer is backed up, and resumes on drain',
    { timeout: 30_000 },
    async () => {
      const { proxySide, serverSide } = await socketPair()
      const s = new VncSession(
        { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
        {
          onClose: () => {},
          highWater: 256 * 1024,
        },
      )
      const v = viewer()
      s.attachViewer(v)
      s.fromViewer(handshake)
      const handshakeBytes = v.bytes
      const total = 16 * 1024 * 1024
      const chunk = Buffer.alloc(64 * 1024, 7)
      let written = 0
      const pump = (): void => {
        while (written < total) {
          written += chunk.length
          if (!serverSide.write(chunk)) return void serverSide.once('drain', pump)
        }
      }
      pump()
      await new Promise(r => setTimeout(r, 300))
      // Paused: what reached the viewer stays near the high-water mark, not the 16 MiB on offer.
      expect(v.bytes - handshakeBytes).toBeGreaterThan(0)
      expect(v.bytes - handshakeBytes).toBeLessThan(256 * 1024 + 2 * 64 * 1024)
      expect(v.drains.length).toBe(1)
      // A viewer that keeps draining gets everything.
      const drainAll = (): void => {
        v.backlog = 0
        for (const d of v.drains.splice(0)) setImmediate(d)
      }
      const timer = setInterval(drainAll, 5)
      try {
        await until(() => v.bytes - handshakeBytes === total, 20_000).catch(e => {
          throw new Error(`${String(e)} at ${v.bytes} of ${total}, drains ${v.drains.length}`)
        })
      } finally {
        clearInterval(timer)
      }
      s.close('done')
    },
  )

  it('ends the session on a client message it cannot frame, and only then', async () => {
    const { proxySide } = await socketPair()
    const reasons: string[] = []
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      {
        onClose: (r, err) => reasons.push(`${err}:${r}`),
      },
    )
    const v = viewer()
    s.attachViewer(v)
    expect(v.got[0]!.toString()).toBe('RFB 003.008\n')
    s.fromViewer(handshake)
    expect(Buffer.concat(v.got.slice(1)).subarray(-init.raw.length)).toEqual(init.raw)
    s.fromViewer(Buffer.concat([keyEvent(1, true), Buffer.from([200, 0, 0])]))
    expect(s.isClosed).toBe(true)
    expect(reasons).toEqual(['true:RFB protocol error from the viewer: unknown RFB client message type 200'])
    s.close('again') // idempotent
    expect(reasons.length).toBe(1)
  })

  it('bounds the typing backlog', async () => {
    const { proxySide } = await socketPair()
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      {
        onClose: () => {},
        typingDelayMs: 1000,
      },
    )
    const many = Array.from({ length: 100_000 }, () => [keyEvent(0x61, true), keyEvent(0x61, false)])
    expect(s.inject(many)).toBe(true)
    expect(s.inject([[keyEvent(0x62, true)], [keyEvent(0x62, false)]])).toBe(false)
    s.close('done')
  })
})

describe('VncSession before any viewer handshake', () => {
  it('holds what the VNC server sends until the viewer is ready', async () => {
    const { proxySide, serverSide } = await socketPair()
    const reasons: string[] = []
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      {
        onClose: r => reasons.push(r),
      },
    )
    serverSide.write(Buffer.from([2])) // Bell, before any viewer
    await new Promise(r => setTimeout(r, 50))
    const v = viewer()
    s.attachViewer(v)
    s.fromViewer(handshake)
    expect(Buffer.concat(v.got).subarray(-1)).toEqual(Buffer.from([2])) // after ServerInit, not before
    s.close('done')
    expect(reasons).toEqual(['done'])
  })

  it('ends a viewer-less session when the VNC server closes', async () => {
    const { proxySide, serverSide } = await socketPair()
    const reasons: string[] = []
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      {
        onClose: r => reasons.push(r),
      },
    )
    serverSide.end()
    await until(() => s.isClosed)
    expect(reasons[0]).toMatch(/VNC server closed the connection/)
  })
})

describe('VncSession typed text', () => {
  it('types text with the modifiers the user holds released, and presses them again only if still held', async () => {
    const { proxySide, serverSide } = await socketPair()
    let received = Buffer.alloc(0)
    serverSide.on('data', d => (received = Buffer.concat([received, d])))
    const s = new VncSession(
      { socket: proxySide, serverInit: init, version: 8, leftover: Buffer.alloc(0) },
      { onClose: () => {}, typingDelayMs: 40 },
    )
    const v = viewer()
    s.attachViewer(v)
    s.fromViewer(handshake)
    const CTRL = 0xffe3
    const ALT = 0xffe9
    const typed = (ch: string): Buffer[] => [keyEvent(ch.charCodeAt(0), true), keyEvent(ch.charCodeAt(0), false)]
    const hex = (bufs: Buffer[]): string => Buffer.concat(bufs).toString('hex')

    // Ctrl held through the viewer's own RFB stream (QEMU extended key event), Alt through vnc-input.
    const qemuCtrlDown = Buffer.from([255, 0, 0, 1, 0, 0, 0xff, 0xe3, 0, 0, 0, 0x1d])
    s.fromViewer(qemuCtrlDown)
    s.inject([[keyEvent(ALT, true)]])
    expect(s.typeText([typed('a'), typed('b')])).toBe(true)
    const first = [qemuCtrlDown, keyEvent(ALT, true)]
    const expectedBoth = [
      ...first,
      keyEvent(CTRL, false),
      keyEvent(ALT, false),
      ...typed('a'),
      ...typed('b'),
      keyEvent(CTRL, true),
      keyEvent(ALT, true),
    ]
    await until(() => received.length >= Buffer.concat(expectedBoth).length)
    await new Promise(r => setTimeout(r, 100)) // nothing more follows
    expect(received.toString('hex')).toBe(hex(expectedBoth))

    // The user lets go of Ctrl while the text is typed: only Alt is pressed again.
    received = Buffer.alloc(0)
    expect(s.typeText([typed('x'), typed('y'), typed('z')])).toBe(true)
    await until(() => received.length > 0)
    s.fromViewer(keyEvent(CTRL, false))
    const expectedAfter = [
      keyEvent(CTRL, false),
      keyEvent(ALT, false),
      ...typed('x'),
      keyEvent(CTRL, false), // the viewer's own release, passed through as sent
      ...typed('y'),
      ...typed('z'),
      keyEvent(ALT, true),
    ]
    await until(() => received.length >= Buffer.concat(expectedAfter).length)
    await new Promise(r => setTimeout(r, 100))
    expect(received.toString('hex')).toBe(hex(expectedAfter))

    // Nothing held: text goes out as typed, with no modifier events around it.
    s.inject([[keyEvent(ALT, false)]])
    await new Promise(r => setTimeout(r, 100))
    received = Buffer.alloc(0)
    s.typeText([typed('q')])
    await until(() => received.length >= 16)
    await new Promise(r => setTimeout(r, 100))
    expect(received.toString('hex')).toBe(hex(typed('q')))
    s.close('done')
  })
})
