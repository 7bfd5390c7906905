import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { desEncryptBlock, vncAuthResponse } from './des.js'
import { RfbServerHandshake } from './downstream.js'
import { keyToKeysym, SHIFT_L, textToKeyPresses } from './keysym.js'
import {
  ClientMessageFramer,
  encodeServerInit,
  ENCODING_EXTENDED_MOUSE_BUTTONS,
  keyEvent,
  MAX_POINTER_BUTTONS,
  parseServerInit,
  pointerEvent,
  RfbFramingError,
  TRUE_COLOR_32,
  type PixelFormat,
} from './rfb.js'

const pf: PixelFormat = TRUE_COLOR_32

function opensslDes(key: Buffer, block: Buffer): Buffer | undefined {
  try {
    return execFileSync(
      'openssl',
      ['enc', '-des-ecb', '-provider', 'legacy', '-provider', 'default', '-K', key.toString('hex'), '-nopad'],
      { input: block },
    )
  } catch {
    return undefined
  }
}

const OPENSSL_DES = opensslDes(Buffer.alloc(8), Buffer.alloc(8)) !== undefined

describe('DES', () => {
  it('matches the FIPS/classic test vectors', () => {
    const enc = (k: string, p: string): string =>
      desEncryptBlock(Buffer.from(k, 'hex'), Buffer.from(p, 'hex')).toString('hex')
    expect(enc('133457799bbcdff1', '0123456789abcdef')).toBe('85e813540f0ab405')
    expect(enc('0e329232ea6d0d73', '8787878787878787')).toBe('0000000000000000')
    expect(enc('0000000000000000', '0000000000000000')).toBe('8ca64de9c1b123a7')
  })

  it.skipIf(!OPENSSL_DES)(
    'agrees with OpenSSL legacy DES on random blocks (skipped when the openssl CLI has no legacy provider)',
    () => {
      for (let i = 0; i < 20; i++) {
        const key = randomBytes(8)
        const block = randomBytes(8)
        expect(desEncryptBlock(key, block).toString('hex')).toBe(opensslDes(key, block)!.toString('hex'))
      }
    },
  )

  it('builds the VNC auth response with the bit-reversed password key', () => {
    const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
    // "pass" → p=0x70 s=0x73 a=0x61: mirrored 0x0e 0xce 0x86, zero padded to 8 bytes
    const key = Buffer.from([0x0e, 0x86, 0xce, 0xce, 0, 0, 0, 0])
    const want = Buffer.concat([
      desEncryptBlock(key, challenge.subarray(0, 8)),
      desEncryptBlock(key, challenge.subarray(8)),
    ])
    expect(vncAuthResponse('pass', challenge).equals(want)).toBe(true)
    // only the first 8 characters count, as in every VNC server
    expect(vncAuthResponse('12345678', challenge).equals(vncAuthResponse('123456789xyz', challenge))).toBe(true)
  })
})

describe('keysyms', () => {
  it('maps KeyboardEvent.key values', () => {
    expect(keyToKeysym('Enter')).toBe(0xff0d)
    expect(keyToKeysym('a')).toBe(0x61)
    expect(keyToKeysym('A')).toBe(0x41)
    expect(keyToKeysym('>')).toBe(0x3e)
    expect(keyToKeysym(' ')).toBe(0x20)
    expect(keyToKeysym('ArrowLeft')).toBe(0xff51)
    expect(keyToKeysym('F5')).toBe(0xffc2)
    expect(keyToKeysym('F12')).toBe(0xffc9)
    expect(keyToKeysym('Control')).toBe(0xffe3)
    expect(keyToKeysym('Shift')).toBe(0xffe1)
    expect(keyToKeysym('Alt')).toBe(0xffe9)
    expect(keyToKeysym('Meta')).toBe(0xffeb)
    expect(keyToKeysym('Backspace')).toBe(0xff08)
    expect(keyToKeysym('é')).toBe(0xe9)
    expect(keyToKeysym('€')).toBe(0x010020ac)
    expect(keyToKeysym('中')).toBe(0x01004e2d)
    expect(keyToKeysym('😀')).toBe(0x0101f600)
  })

  it('rejects names that are not keys', () => {
    expect(keyToKeysym('Enterr')).toBeUndefined()
    expect(keyToKeysym('ab')).toBeUndefined()
    expect(keyToKeysym('\u0007')).toBeUndefined()
    expect(keyToKeysym('Unidentified')).toBeUndefined()
  })

  it('types text with US-layout Shift handling', () => {
    const presses = textToKeyPresses('aA>\n')
    expect(presses).toEqual([
      { keysym: 0x61, down: true },
      { keysym: 0x61, down: false },
      { keysym: SHIFT_L, down: true },
      { keysym: 0x41, down: true },
      { keysym: 0x41, down: false },
      { keysym: SHIFT_L, down: false },
      { keysym: SHIFT_L, down: true },
      { keysym: 0x3e, down: true },
      { keysym: 0x3e, down: false },
      { keysym: SHIFT_L, down: false },
      { keysym: 0xff0d, down: true },
      { keysym: 0xff0d, down: false },
    ])
    expect(textToKeyPresses('\r\n').length).toBe(2) // CR LF is one Enter
    expect(textToKeyPresses('$((6*7))').filter(p => p.keysym === SHIFT_L).length).toBe(12)
    expect(() => textToKeyPresses('a\u0000')).toThrow('character 2 (U+0000) is a control character')
    // QEMU's US keymap has no key for these: refused whole, never typed with gaps.
    expect(() => textToKeyPresses('café')).toThrow(
      'character 4 ("é", U+00E9) has no key on the US keyboard layout text is typed with',
    )
    expect(() => textToKeyPresses('ab中')).toThrow('character 3 ("中", U+4E2D)')
    expect(() => textToKeyPresses('😀')).toThrow('character 1 ("😀", U+1F600)')
  })
})

describe('ServerInit', () => {
  it('round-trips', () => {
    const raw = encodeServerInit(720, 400, pf, 'QEMU (guest)')
    const p = parseServerInit(Buffer.concat([raw, Buffer.from([9])]))!
    expect(p.used).toBe(raw.length)
    expect(p.init).toMatchObject({ width: 720, height: 400, name: 'QEMU (guest)', pixelFormat: pf })
    expect(parseServerInit(raw.subarray(0, raw.length - 1))).toBeUndefined()
  })
})

function setEncodings(encs: number[]): Buffer {
  const b = Buffer.alloc(4 + encs.length * 4)
  b[0] = 2
  b.writeUInt16BE(encs.length, 2)
  encs.forEach((e, i) => b.writeInt32BE(e, 4 + i * 4))
  return b
}

describe('client message framer', () => {
  const msgs: Buffer[] = [
    Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.alloc(16)]), // SetPixelFormat
    setEncodings([0, 1, 7, -223, -258]),
    Buffer.from([3, 1, 0, 0, 0, 0, 2, 208, 1, 144]), // FramebufferUpdateRequest
    keyEvent(0x61, true),
    pointerEvent(10, 20, 1),
    Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, 5]), Buffer.from('hello')]), // ClientCutText
    Buffer.concat([Buffer.from([6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc]), Buffer.alloc(4)]), // extended clipboard
    Buffer.from([150, 1, 0, 0, 0, 0, 2, 208, 1, 144]), // EnableContinuousUpdates
    Buffer.concat([Buffer.from([248, 0, 0, 0, 0, 0, 0, 3, 3]), Buffer.from('abc')]), // ClientFence
    Buffer.from([250, 0, 1, 2]), // xvp
    Buffer.concat([Buffer.from([251, 0, 3, 0, 2, 0, 1, 0]), Buffer.alloc(16)]), // SetDesktopSize, 1 screen
    Buffer.from([255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e]), // QEMU extended key event
    Buffer.from([255, 1, 0, 0]), // QEMU audio enable
    Buffer.from([255, 1, 0, 2, 3, 2, 0, 0, 0xac, 0x44]), // QEMU audio set format
  ]
  const stream = Buffer.concat(msgs)

  it('frames every message type noVNC and QEMU use, whole', () => {
    const f = new ClientMessageFramer()
    expect(f.push(stream).map(m => m.toString('hex'))).toEqual(msgs.map(m => m.toString('hex')))
    expect(f.pending).toBe(0)
  })

  it('never emits part of a message, whatever the chunking', () => {
    for (const step of [1, 2, 3, 5, 7, 13]) {
      const f = new ClientMessageFramer()
      const out: Buffer[] = []
      for (let i = 0; i < stream.length; i += step) out.push(...f.push(stream.subarray(i, i + step)))
      expect(out.map(m => m.toString('hex'))).toEqual(msgs.map(m => m.toString('hex')))
    }
  })

  it('knows the 7-byte extended PointerEvent only after the viewer enabled it', () => {
    const f = new ClientMessageFramer()
    f.push(setEncodings([0, ENCODING_EXTENDED_MOUSE_BUTTONS]))
    const ext = Buffer.from([5, 0x81, 0, 1, 0, 2, 1])
    expect(f.push(Buffer.concat([ext, keyEvent(1, true)])).map(m => m.length)).toEqual([7, 8])
    const g = new ClientMessageFramer()
    expect(g.push(Buffer.from([5, 0x81, 0, 1, 0, 2])).map(m => m.length)).toEqual([6])
  })

  it('refuses what it cannot frame', () => {
    expect(() => new ClientMessageFramer().push(Buffer.from([7, 1, 2]))).toThrow(RfbFramingError)
    expect(() => new ClientMessageFramer().push(Buffer.from([255, 9, 0, 0]))).toThrow(/QEMU client submessage 9/)
    const big = Buffer.from([6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff])
    expect(() => new ClientMessageFramer().push(big)).toThrow(/exceeds/)
  })
})

describe('downstream handshake', () => {
  const init = encodeServerInit(640, 480, pf, 'vm')

  it('serves a 3.8 viewer: None, SecurityResult OK, ServerInit replayed', () => {
    const h = new RfbServerHandshake(init)
    expect(h.greeting().toString()).toBe('RFB 003.008\n')
    expect(Buffer.concat(h.push(Buffer.from('RFB 003.008\n')).reply)).toEqual(Buffer.from([1, 1]))
    expect(Buffer.concat(h.push(Buffer.from([1])).reply)).toEqual(Buffer.from([0, 0, 0, 0]))
    const step = h.push(Buffer.concat([Buffer.from([1]), keyEvent(5, true)]))
    expect(Buffer.concat(step.reply)).toEqual(init)
    expect(step.rest).toEqual(keyEvent(5, true))
    expect(h.ready).toBe(true)
  })

  it('serves 3.3 and 3.7 viewers', () => {
    const h3 = new RfbServerHandshake(init)
    expect(Buffer.concat(h3.push(Buffer.from('RFB 003.003\n')).reply)).toEqual(Buffer.from([0, 0, 0, 1]))
    expect(Buffer.concat(h3.push(Buffer.from([0])).reply)).toEqual(init)
    const h7 = new RfbServerHandshake(init)
    h7.push(Buffer.from('RFB 003.007\n'))
    expect(h7.push(Buffer.from([1])).reply).toEqual([]) // 3.7 None: no SecurityResult
    expect(Buffer.concat(h7.push(Buffer.from([1])).reply)).toEqual(init)
  })

  it('reports garbage and a refused security type', () => {
    expect(new RfbServerHandshake(init).push(Buffer.from('GET / HTTP/1.1\r\n')).error).toMatch(/no valid RFB version/)
    const h = new RfbServerHandshake(init)
    h.push(Buffer.from('RFB 003.008\n'))
    const s = h.push(Buffer.from([2]))
    expect(s.error).toMatch(/security type 2/)
    expect(Buffer.concat(s.reply).readUInt32BE(0)).toBe(1)
  })
})

describe('VNC endpoint from the live XML', () => {
  it('reads port, listen address and password', async () => {
    const { vncTargetFromXml } = await import('./endpoint.js')
    const xml = `<domain><devices><graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1' passwd='s&amp;cret'>
      <listen type='address' address='127.0.0.1'/></graphics><video/></devices></domain>`
    expect(vncTargetFromXml(xml)).toEqual({
      endpoint: { kind: 'tcp', host: '127.0.0.1', port: 5901 },
      password: 's&cret',
    })
    expect(vncTargetFromXml(`<graphics type="vnc" port="5900" listen="0.0.0.0"/>`)).toEqual({
      endpoint: { kind: 'tcp', host: '127.0.0.1', port: 5900 },
      password: undefined,
    })
    expect(vncTargetFromXml(`<graphics type='vnc'><listen type='socket' socket='/run/vnc.sock'/></graphics>`)).toEqual({
      endpoint: { kind: 'unix', path: '/run/vnc.sock' },
      password: undefined,
    })
    expect(vncTargetFromXml(`<graphics type='vnc' port='-1' autoport='yes'/>`)).toMatch(/no VNC port/)
    expect(vncTargetFromXml(`<graphics type='spice' port='5900'/>`)).toMatch(/no VNC graphics/)
  })

  it("reads the socket from the attribute form and from libvirt's live XML of an auto socket", async () => {
    const { vncTargetFromXml } = await import('./endpoint.js')
    const live = `<graphics type='vnc' socket='/var/lib/libvirt/qemu/domain-2-x/vnc.sock'>
      <listen type='socket' socket='/var/lib/libvirt/qemu/domain-2-x/vnc.sock'/></graphics>`
    expect(vncTargetFromXml(live)).toEqual({
      endpoint: { kind: 'unix', path: '/var/lib/libvirt/qemu/domain-2-x/vnc.sock' },
      password: undefined,
    })
    expect(vncTargetFromXml(`<graphics type='vnc' socket='/run/a&amp;b.sock' passwd='pw'/>`)).toEqual({
      endpoint: { kind: 'unix', path: '/run/a&b.sock' },
      password: 'pw',
    })
  })

  it('says why there is no VNC display', async () => {
    const { vncTargetFromXml } = await import('./endpoint.js')
    const spice = `<domain><devices><graphics type='spice' port='5901' autoport='yes'>
      <listen type='address' address='127.0.0.1'/></graphics></devices></domain>`
    expect(vncTargetFromXml(spice)).toBe('the VM has no VNC display: it has no VNC graphics, only spice')
    expect(vncTargetFromXml('<domain><devices><video/></devices></domain>')).toBe(
      'the VM has no VNC display: it has no VNC graphics (no graphics device at all)',
    )
    // A VNC display next to SPICE is found.
    expect(vncTargetFromXml(`${spice}<graphics type='vnc' port='5902' listen='::'/>`)).toEqual({
      endpoint: { kind: 'tcp', host: '::1', port: 5902 },
      password: undefined,
    })
    expect(vncTargetFromXml(`<graphics type='vnc'><listen type='none'/></graphics>`)).toMatch(
      /no VNC display.*listen type 'none'/,
    )
    expect(vncTargetFromXml(`<graphics type='vnc'><listen type='socket'/></graphics>`)).toMatch(/no VNC socket path/)
    // A character reference past Unicode stays as written instead of throwing.
    expect(vncTargetFromXml(`<graphics type='vnc' socket='/run/&#x110000;.sock'/>`)).toEqual({
      endpoint: { kind: 'unix', path: '/run/&#x110000;.sock' },
      password: undefined,
    })
  })
})

describe('VNC upstream connection failures (real sockets)', () => {
  it('says a socket path does not exist, is not a socket, or closed during the handshake', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const net = await import('node:net')
    const { connectUpstream, VncHandshakeError } = await import('./upstream.js')
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-vnc-up-'))
    try {
      const missing = join(dir, 'missing.sock')
      const e1 = await connectUpstream({ kind: 'unix', path: missing }).catch((e: unknown) => e)
      expect(e1).toBeInstanceOf(VncHandshakeError)
      expect((e1 as Error).message).toBe(
        `the VNC socket ${missing} does not exist (QEMU may have removed it, or the VM is not running)`,
      )
      const file = join(dir, 'file')
      await writeFile(file, 'x')
      await expect(connectUpstream({ kind: 'unix', path: file })).rejects.toThrow(
        `the VNC socket ${file} is not a listening socket`,
      )
      await expect(connectUpstream({ kind: 'unix', path: join(file, 'below') })).rejects.toThrow(/does not exist/)
      await expect(connectUpstream({ kind: 'unix', path: '/run/bad\0path' })).rejects.toThrow(VncHandshakeError)
      // A listener that hangs up at once: the handshake failure names no socket error code.
      const sock = join(dir, 'hangup.sock')
      const srv = net.createServer(c => c.destroy())
      await new Promise<void>(ok => srv.listen(sock, ok))
      try {
        await expect(connectUpstream({ kind: 'unix', path: sock })).rejects.toThrow(
          /closed the connection during the handshake|dropped the connection/,
        )
      } finally {
        await new Promise(ok => srv.close(ok))
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('injected PointerEvent button mask', () => {
  it('carries bits 0…6 as given and refuses bit 7 (the ExtendedMouseButtons marker)', () => {
    expect(MAX_POINTER_BUTTONS).toBe(127)
    expect([...pointerEvent(300, 200, 0)]).toEqual([5, 0, 1, 44, 0, 200])
    expect([...pointerEvent(1, 2, 127)]).toEqual([5, 127, 0, 1, 0, 2])
    expect(pointerEvent(1, 2, 0x10)[1]).toBe(0x10) // wheel down
    for (const bad of [128, 129, 255, -1, 1.5]) expect(() => pointerEvent(1, 2, bad)).toThrow(RangeError)
  })

  it('an injected event with the highest allowed mask never looks extended to a framer with the extension on', () => {
    const f = new ClientMessageFramer()
    const enc = Buffer.alloc(8)
    enc[0] = 2
    enc.writeUInt16BE(1, 2)
    enc.writeInt32BE(ENCODING_EXTENDED_MOUSE_BUTTONS, 4)
    const key = keyEvent(0x61, true)
    const out = f.push(Buffer.concat([enc, pointerEvent(5, 6, MAX_POINTER_BUTTONS), key]))
    expect(out.map(m => m.length)).toEqual([8, 6, 8])
    expect(out[2]!.equals(key)).toBe(true)
  })
})
