// Pure-logic tests of the wire layers: XDR, framing (split and coalesced
// frames), URI parsing and socket selection. The daemon itself is exercised
// by test/integration/libvirt*.test.ts.
import { describe, expect, it } from 'vitest'
import { MessageStatus, MessageType, REMOTE_PROGRAM } from './constants.js'
import { LibvirtConnectionError, LibvirtProtocolError } from './errors.js'
import { encodePacket, FrameDecoder, HEADER_SIZE, LEN_SIZE } from './framing.js'
import { decodeRemoteError } from './rpc.js'
import { defaultSocketPath, parseUri, sshCommand, sshFingerprint } from './transport.js'
import { bytesToUuid, uuidToBytes } from './client.js'
import { XdrReader, XdrWriter } from './xdr.js'

const hdr = (serial: number, type: number = MessageType.REPLY) => ({
  program: REMOTE_PROGRAM,
  version: 1,
  procedure: 16,
  type,
  serial,
  status: MessageStatus.OK,
})

describe('XDR', () => {
  it('pads strings and opaques to 4 bytes and round-trips every type', () => {
    const w = new XdrWriter(4)
      .int(-5)
      .uint(0xffffffff)
      .hyper(-(2n ** 60n))
      .uhyper(2n ** 64n - 1n)
      .double(1.5)
      .bool(true)
      .string('abcde')
      .optString(null)
      .optString('x')
      .fixedOpaque(Buffer.alloc(16, 7))
    const b = w.bytes()
    // 4+4+8+8+8+4 + (4+8) + 4 + (4+4+4) + 16
    expect(b.length).toBe(80)
    const r = new XdrReader(b)
    expect(r.int()).toBe(-5)
    expect(r.uint()).toBe(0xffffffff)
    expect(r.hyper()).toBe(-(2n ** 60n))
    expect(r.uhyper()).toBe(2n ** 64n - 1n)
    expect(r.double()).toBe(1.5)
    expect(r.bool()).toBe(true)
    expect(r.string()).toBe('abcde')
    expect(r.optString()).toBeNull()
    expect(r.optString()).toBe('x')
    expect(r.fixedOpaque(16)).toEqual(Buffer.alloc(16, 7))
    expect(r.remaining).toBe(0)
  })

  it('encodes a UUID as 16 raw bytes without a length word', () => {
    const uuid = '6695eb01-f6a4-8304-79aa-97f2502e193f'
    const w = new XdrWriter().fixedOpaque(uuidToBytes(uuid))
    expect(w.length).toBe(16)
    expect(bytesToUuid(w.bytes())).toBe(uuid)
    expect(() => uuidToBytes('not-a-uuid')).toThrow(/invalid UUID/)
  })

  it('refuses truncated data and absurd array counts', () => {
    expect(() => new XdrReader(Buffer.alloc(3)).int()).toThrow(LibvirtProtocolError)
    const r = new XdrReader(new XdrWriter().uint(5_000_000).bytes())
    expect(() => r.array(x => x.int(), 1000)).toThrow(/exceeds limit/)
  })
})

describe('framing', () => {
  it('writes a length word that counts itself', () => {
    const f = encodePacket(hdr(1), Buffer.from([1, 2, 3, 4]))
    expect(f.readUInt32BE(0)).toBe(LEN_SIZE + HEADER_SIZE + 4)
    expect(f.length).toBe(f.readUInt32BE(0))
  })

  it('reassembles frames split byte by byte and separates coalesced frames', () => {
    const a = encodePacket(hdr(1), Buffer.from('hello!!!'))
    const b = encodePacket(hdr(2, MessageType.MESSAGE))
    const c = encodePacket(hdr(3), Buffer.alloc(100_000, 9))
    const all = Buffer.concat([a, b, c])
    const d1 = new FrameDecoder()
    const got1 = []
    for (let i = 0; i < all.length; i += 1) got1.push(...d1.push(all.subarray(i, i + 1)))
    const d2 = new FrameDecoder()
    const got2 = d2.push(all)
    for (const got of [got1, got2]) {
      expect(got.map(p => p.header.serial)).toEqual([1, 2, 3])
      expect(got[0]!.payload.toString()).toBe('hello!!!')
      expect(got[1]!.header.type).toBe(MessageType.MESSAGE)
      expect(got[2]!.payload.length).toBe(100_000)
    }
    // A frame split across a coalesced read.
    const d3 = new FrameDecoder()
    expect(d3.push(Buffer.concat([a, c.subarray(0, 10)])).length).toBe(1)
    expect(d3.pending).toBe(10)
    expect(d3.push(c.subarray(10)).map(p => p.payload.length)).toEqual([100_000])
    expect(d3.pending).toBe(0)
  })

  it('rejects impossible lengths', () => {
    const bad = Buffer.alloc(28)
    bad.writeUInt32BE(8, 0)
    expect(() => new FrameDecoder().push(bad)).toThrow(/bad packet length 8/)
    bad.writeUInt32BE(0x7fffffff, 0)
    expect(() => new FrameDecoder().push(bad)).toThrow(LibvirtProtocolError)
  })

  it('decodes remote_error into code, domain and message', () => {
    const body = new XdrWriter().int(42).int(10).optString('Domain not found: x').int(2).bool(false).bytes()
    const e = decodeRemoteError(body, 23)
    expect(e.code).toBe(42)
    expect(e.domain).toBe(10)
    expect(e.message).toBe('Domain not found: x')
    expect(e.notFound).toBe(true)
    expect(e.procedure).toBe(23)
  })
})

describe('URIs and transports', () => {
  it('splits driver, transport, user, host, port and socket', () => {
    const p = parseUri('qemu+ssh://root@example.org:2222/system?socket=/run/x.sock&no_verify=1&extra=1')
    expect(p).toMatchObject({
      driver: 'qemu',
      transport: 'ssh',
      user: 'root',
      host: 'example.org',
      port: 2222,
      socket: '/run/x.sock',
      driverUri: 'qemu:///system?extra=1',
    })
    expect(parseUri('test:///default')).toMatchObject({ transport: 'unix', driverUri: 'test:///default' })
    expect(parseUri('qemu+ssh://[::1]/system')).toMatchObject({ host: '::1', port: undefined })
    expect(() => parseUri('qemu+tls://h/system')).toThrow(LibvirtConnectionError)
    expect(() => parseUri('nonsense')).toThrow(/invalid libvirt URI/)
    expect(() => parseUri('qemu+ssh:///system')).toThrow(/no SSH host/)
  })

  it('prefers virtqemud-sock for qemu when it exists, else libvirt-sock', () => {
    const qemu = parseUri('qemu:///system')
    expect(defaultSocketPath(qemu, false, f => f.endsWith('virtqemud-sock'))).toBe('/var/run/libvirt/virtqemud-sock')
    expect(defaultSocketPath(qemu, false, () => false)).toBe('/var/run/libvirt/libvirt-sock')
    expect(defaultSocketPath(qemu, true, () => false)).toBe('/var/run/libvirt/libvirt-sock-ro')
    expect(defaultSocketPath(parseUri('test:///default'), false, () => true)).toBe('/var/run/libvirt/libvirt-sock')
    expect(defaultSocketPath(parseUri('test+unix:///default?socket=/tmp/s'))).toBe('/tmp/s')
  })

  it('runs virt-ssh-helper when installed, else nc; quotes arguments for the shell', () => {
    const p = parseUri("qemu+ssh://u@h/system?x=it's")
    const cmd = sshCommand(p, {})
    expect(cmd).toContain(`virt-ssh-helper 'qemu:///system?x=it%27s'`)
    expect(cmd).toContain(`nc -U '/var/run/libvirt/libvirt-sock'`)
    expect(cmd).toMatch(/^if command -v virt-ssh-helper/)
    expect(sshCommand(p, { proxy: 'native' }, true)).toBe(`virt-ssh-helper --readonly 'qemu:///system?x=it%27s'`)
    expect(sshCommand(parseUri('test+ssh://u@h/default?socket=/s'), {})).toBe(`nc -U '/s'`)
  })

  it('formats host key fingerprints like ssh-keygen', () => {
    expect(sshFingerprint(Buffer.from('abc'))).toBe('SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0')
  })
})
