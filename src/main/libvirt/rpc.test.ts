// Routing logic of the RPC layer over an in-memory byte pipe (the daemon
// itself is exercised by the integration tests): events are told apart from
// replies by packet type before serial, replies match serials, errors decode,
// keepalive pings are answered, and calls time out.
import { describe, expect, it } from 'vitest'
import { Duplex } from 'node:stream'
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  Proc,
  REMOTE_PROGRAM,
} from './constants.js'
import { LibvirtConnectionError, LibvirtError, LibvirtTimeoutError } from './errors.js'
import { encodePacket, FrameDecoder, type Packet } from './framing.js'
import { RpcConnection } from './rpc.js'
import { XdrWriter } from './xdr.js'

class Pipe extends Duplex {
  readonly sent: Packet[] = []
  private readonly dec = new FrameDecoder()
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.sent.push(...this.dec.push(chunk))
    cb()
  }
  deliver(buf: Buffer): void {
    this.push(buf)
  }
}

const pkt = (procedure: number, type: number, serial: number, status: number = MessageStatus.OK, body?: Buffer) =>
  encodePacket({ program: REMOTE_PROGRAM, version: 1, procedure, type, serial, status }, body)

const tick = () => new Promise(r => setImmediate(r))

describe('RpcConnection routing', () => {
  it('delivers an event carrying serial 1 as an event, not as the reply to call #1', async () => {
    const pipe = new Pipe()
    const rpc = new RpcConnection(pipe, { callTimeoutMs: 0, description: 'pipe' })
    const events: Packet[] = []
    rpc.on('message', p => events.push(p))
    const reply = rpc.call(Proc.DOMAIN_CREATE_WITH_FLAGS)
    await tick()
    expect(pipe.sent[0]!.header.serial).toBe(1)
    let settled = false
    void reply.then(() => (settled = true))
    // The event caused by the call arrives before its reply, with serial 1.
    const ev = pkt(
      Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
      MessageType.MESSAGE,
      1,
      MessageStatus.OK,
      Buffer.from([0, 0, 0, 9]),
    )
    const rep = pkt(Proc.DOMAIN_CREATE_WITH_FLAGS, MessageType.REPLY, 1, MessageStatus.OK, Buffer.from([0, 0, 0, 7]))
    // Both in one read, the reply split in two.
    pipe.deliver(Buffer.concat([ev, rep.subarray(0, 10)]))
    await tick()
    expect(events).toHaveLength(1)
    expect(settled).toBe(false)
    pipe.deliver(rep.subarray(10))
    expect((await reply).readUInt32BE(0)).toBe(7)
    rpc.destroy()
  })

  it('matches out-of-order replies to their calls and decodes errors', async () => {
    const pipe = new Pipe()
    const rpc = new RpcConnection(pipe, { callTimeoutMs: 0, description: 'pipe' })
    const a = rpc.call(Proc.CONNECT_GET_URI)
    const b = rpc.call(Proc.DOMAIN_LOOKUP_BY_NAME)
    await tick()
    const [sa, sb] = pipe.sent.map(p => p.header.serial)
    const err = new XdrWriter().int(42).int(10).optString("Domain not found: no domain with matching name 'x'").int(2)
    pipe.deliver(pkt(Proc.DOMAIN_LOOKUP_BY_NAME, MessageType.REPLY, sb!, MessageStatus.ERROR, err.bytes()))
    pipe.deliver(
      pkt(Proc.CONNECT_GET_URI, MessageType.REPLY, sa!, MessageStatus.OK, new XdrWriter().string('q').bytes()),
    )
    await expect(b).rejects.toMatchObject({ code: 42, domain: 10, procedure: Proc.DOMAIN_LOOKUP_BY_NAME })
    await expect(b).rejects.toBeInstanceOf(LibvirtError)
    expect((await a).length).toBe(8)
    rpc.destroy()
  })

  it('answers keepalive pings with pongs', async () => {
    const pipe = new Pipe()
    const rpc = new RpcConnection(pipe, { callTimeoutMs: 0, description: 'pipe' })
    pipe.deliver(
      encodePacket({
        program: KEEPALIVE_PROGRAM,
        version: 1,
        procedure: KEEPALIVE_PROC_PING,
        type: MessageType.MESSAGE,
        serial: 0,
        status: 0,
      }),
    )
    await tick()
    expect(pipe.sent.map(p => [p.header.program, p.header.procedure])).toEqual([
      [KEEPALIVE_PROGRAM, KEEPALIVE_PROC_PONG],
    ])
    rpc.destroy()
  })

  it('times out a call without a reply, and fails pending calls when the transport ends', async () => {
    const pipe = new Pipe()
    const rpc = new RpcConnection(pipe, { callTimeoutMs: 50, description: 'pipe' })
    await expect(rpc.call(Proc.CONNECT_GET_HOSTNAME)).rejects.toBeInstanceOf(LibvirtTimeoutError)
    const pending = rpc.call(Proc.CONNECT_GET_HOSTNAME, undefined, { timeoutMs: 0 })
    const closed = new Promise<Error | undefined>(r => rpc.once('close', r))
    pipe.push(null)
    await expect(pending).rejects.toBeInstanceOf(LibvirtConnectionError)
    expect(await closed).toBeInstanceOf(LibvirtConnectionError)
    await expect(rpc.call(Proc.CONNECT_GET_URI)).rejects.toThrow(/closed/)
  })

  it('drops a connection that sends an impossible frame', async () => {
    const pipe = new Pipe()
    const rpc = new RpcConnection(pipe, { callTimeoutMs: 0, description: 'pipe' })
    const pending = rpc.call(Proc.CONNECT_GET_URI)
    pipe.deliver(Buffer.from([0, 0, 0, 3, 1, 2, 3, 4]))
    await expect(pending).rejects.toThrow(/bad packet length 3/)
    expect(rpc.closed).toBe(true)
  })
})
