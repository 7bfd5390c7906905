// Backpressure logic of a console stream over an in-memory byte pipe (the
// daemon and a flooding guest are exercised by
// test/integration/terminal-serial-flow.test.ts): a stream on a connection of
// its own stops reading the transport when its consumer stops, and reads again
// when it resumes; a stream on a shared connection never stops it.
import { describe, expect, it } from 'vitest'
import { Duplex } from 'node:stream'
import { MessageStatus, MessageType, Proc, REMOTE_PROGRAM } from './constants.js'
import { LibvirtStream } from './console.js'
import { encodePacket } from './framing.js'
import { RpcConnection, type StreamSink } from './rpc.js'

class Pipe extends Duplex {
  override _read(): void {}
  override _write(_chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb()
  }
}

const SERIAL = 7
const data = (n: number) =>
  encodePacket(
    {
      program: REMOTE_PROGRAM,
      version: 1,
      procedure: Proc.DOMAIN_OPEN_CONSOLE,
      type: MessageType.STREAM,
      serial: SERIAL,
      status: MessageStatus.CONTINUE,
    },
    Buffer.alloc(n, 0x61),
  )
const tick = () => new Promise(r => setImmediate(r))

function setup() {
  const pipe = new Pipe()
  const rpc = new RpcConnection(pipe, { callTimeoutMs: 1000, description: 'pipe' })
  const stream = new LibvirtStream(rpc, Proc.DOMAIN_OPEN_CONSOLE, SERIAL, 'vm')
  // What LibvirtClient.openConsole does: route the serial to the stream, then mark it open.
  ;(rpc as unknown as { streams: Map<number, StreamSink> }).streams.set(SERIAL, stream.sink)
  stream.markOpen()
  return { pipe, rpc, stream }
}

describe('LibvirtStream backpressure', () => {
  it('stops reading its own connection while the consumer is paused, and reads again on resume', async () => {
    const { pipe, rpc, stream } = setup()
    stream.dedicateConnection()
    let got = 0
    stream.on('data', (c: Buffer) => (got += c.length))
    stream.pause()
    for (let i = 0; i < 8 && !rpc.readingPaused; i++) {
      pipe.push(data(8192))
      await tick()
    }
    expect(rpc.readingPaused).toBe(true)
    expect(stream.connectionPaused).toBe(true)
    expect(pipe.isPaused()).toBe(true)
    // More from the daemon stays in the transport (a real socket stops reading there).
    for (let i = 0; i < 50; i++) pipe.push(data(8192))
    await tick()
    expect(stream.readableLength).toBeLessThanOrEqual(stream.readableHighWaterMark + 8192)
    expect(got).toBe(0)
    stream.resume()
    await tick()
    await tick()
    expect(got).toBeGreaterThan(50 * 8192)
    expect(rpc.readingPaused).toBe(false)
    stream.destroy()
  })

  it('never stops reading a shared connection', async () => {
    const { pipe, rpc, stream } = setup()
    stream.pause()
    for (let i = 0; i < 20; i++) pipe.push(data(8192))
    await tick()
    expect(rpc.readingPaused).toBe(false)
    expect(rpc.pauseReading()).toBe(false)
    expect(pipe.isPaused()).toBe(false)
    expect(stream.readableLength).toBe(20 * 8192)
    stream.destroy()
  })

  it('refuses to dedicate a connection that runs keepalive', () => {
    const { rpc, stream } = setup()
    rpc.startKeepalive(60_000, 3)
    expect(() => stream.dedicateConnection()).toThrow(/keepalive/)
    stream.destroy()
    rpc.destroy()
  })

  it('reads the connection again once the stream is destroyed (its close handshake must be seen)', async () => {
    const { pipe, rpc, stream } = setup()
    stream.dedicateConnection()
    stream.pause()
    for (let i = 0; i < 8 && !rpc.readingPaused; i++) {
      pipe.push(data(8192))
      await tick()
    }
    expect(rpc.readingPaused).toBe(true)
    stream.destroy()
    await tick()
    expect(rpc.readingPaused).toBe(false)
  })
})
