/**
 * connectUpstream's pooled reads over a real loopback socket: the VNC
 * server's bytes arrive whole and in order, a chunk whose release has not
 * been called is never overwritten by a later read, and released buffers are
 * reused (no allocation per read).
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeServerInit, TRUE_COLOR_32 } from './rfb.js'
import { connectUpstream, type ChunkSink } from './upstream.js'

/** Bytes that differ by position, so a chunk overwritten by a later read shows. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8) + (i >> 16)) & 0xff
  return b
}

const servers: net.Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise(ok => s.close(ok))
})

/** An RFB 3.8 server (security None) that sends `payload` right after ServerInit. */
async function rfbServer(payload: Buffer): Promise<number> {
  const server = net.createServer(sock => {
    sock.on('error', () => sock.destroy())
    let got = Buffer.alloc(0)
    sock.write('RFB 003.008\n')
    sock.on('data', d => {
      got = Buffer.concat([got, d])
      if (got.length === 12) sock.write(Buffer.from([1, 1]))
      else if (got.length === 13) sock.write(Buffer.from([0, 0, 0, 0]))
      else if (got.length === 14) {
        sock.write(encodeServerInit(64, 48, TRUE_COLOR_32, 'pool'))
        sock.end(payload)
      }
    })
  })
  servers.push(server)
  await new Promise<void>(ok => server.listen(0, '127.0.0.1', ok))
  return (server.address() as net.AddressInfo).port
}

describe('pooled upstream reads', () => {
  it('delivers every byte in order, never reuses a buffer before its release, and reuses it after', async () => {
    const payload = pattern(4 << 20)
    const port = await rfbServer(payload)
    const up = await connectUpstream({ kind: 'tcp', host: '127.0.0.1', port }, { readChunkBytes: 4096 })
    expect(up.serverInit.name).toBe('pool')
    expect(up.setSink).toBeDefined()

    const chunks: Buffer[] = []
    /** Copies of the held chunks' bytes as they were when delivered. */
    const heldCopies: [Buffer, Buffer][] = []
    const heldReleases: (() => void)[] = []
    const backing = new Set<ArrayBufferLike>()
    const ended = new Promise<void>(ok => up.socket.once('end', ok))
    const sink: ChunkSink = (chunk, release) => {
      expect(chunk.length).toBeLessThanOrEqual(4096)
      chunks.push(Buffer.from(chunk))
      backing.add(chunk.buffer)
      // Hold every 10th chunk, as a slow write would; release the rest at once.
      if (chunks.length % 10 === 0) {
        heldCopies.push([chunk, Buffer.from(chunk)])
        heldReleases.push(release)
      } else release()
    }
    up.setSink!(sink)
    up.socket.resume()
    await ended

    const received = Buffer.concat([up.leftover, ...chunks])
    expect(received.length).toBe(payload.length)
    expect(received.equals(payload)).toBe(true)
    // Held chunks still hold what was read into them: no later read reused their buffer.
    expect(heldCopies.length).toBeGreaterThan(50)
    for (const [live, copy] of heldCopies) expect(live.equals(copy)).toBe(true)
    // Released buffers went back into use: far fewer buffers than reads.
    expect(chunks.length).toBeGreaterThan(1000)
    expect(backing.size).toBeLessThan(heldCopies.length + 40)
    for (const r of heldReleases) r()
    up.socket.destroy()
  })

  it('holds bytes read before a sink is set and hands them over first', async () => {
    const payload = pattern(100_000)
    const port = await rfbServer(payload)
    const up = await connectUpstream({ kind: 'tcp', host: '127.0.0.1', port })
    // Nobody reads for a while; the socket is paused, so at most a read is held.
    await new Promise(r => setTimeout(r, 100))
    const chunks: Buffer[] = []
    const ended = new Promise<void>(ok => up.socket.once('end', ok))
    up.setSink!((chunk, release) => {
      chunks.push(Buffer.from(chunk))
      release()
    })
    up.socket.resume()
    await ended
    expect(Buffer.concat([up.leftover, ...chunks]).equals(payload)).toBe(true)
    up.socket.destroy()
  })
})
