/**
 * A minimal RFB viewer (3.8, security None, Raw encoding only) over any byte
 * transport. The proxy never uses it; the integration tests and the benchmark
 * drive the proxy with it the way a viewer would.
 */
import { framebufferUpdateRequest, parseServerInit, type ServerInit } from './rfb.js'

export interface RawRect {
  x: number
  y: number
  w: number
  h: number
  /** 32 bpp little-endian true colour pixels (the format this client asks for). */
  pixels: Buffer
}

export class MiniRfbClient {
  private buf: Buffer = Buffer.alloc(0)
  private waiter?: () => void
  private failure?: Error
  serverInit?: ServerInit

  constructor(private readonly send: (b: Buffer) => void) {}

  /** Feed bytes received from the server. */
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    this.waiter?.()
  }

  /** The transport ended. */
  fail(e: Error): void {
    this.failure ??= e
    this.waiter?.()
  }

  private async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure
      await new Promise<void>(ok => (this.waiter = ok))
      this.waiter = undefined
    }
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  /** Version, security None, shared ClientInit, ServerInit; then asks for 32 bpp Raw. */
  async handshake(): Promise<ServerInit> {
    const v = (await this.read(12)).toString('latin1')
    if (!/^RFB 003\.00[38]\n$/.test(v)) throw new Error(`unexpected RFB version ${JSON.stringify(v)}`)
    this.send(Buffer.from('RFB 003.008\n'))
    const n = (await this.read(1))[0]!
    const types = [...(await this.read(n))]
    if (!types.includes(1)) throw new Error(`security None not offered: ${types.join(',')}`)
    this.send(Buffer.from([1]))
    if ((await this.read(4)).readUInt32BE(0) !== 0) throw new Error('SecurityResult failed')
    this.send(Buffer.from([1]))
    const head = Buffer.from(await this.read(24))
    const name = await this.read(head.readUInt32BE(20))
    this.serverInit = parseServerInit(Buffer.concat([head, name]))!.init
    const spf = Buffer.alloc(20)
    spf.set([0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0], 0)
    const enc = Buffer.from([2, 0, 0, 1, 0, 0, 0, 0]) // SetEncodings [Raw]
    this.send(Buffer.concat([spf, enc]))
    return this.serverInit
  }

  requestUpdate(incremental = false, x = 0, y = 0, w?: number, h?: number): void {
    const si = this.serverInit!
    this.send(framebufferUpdateRequest(incremental, x, y, w ?? si.width, h ?? si.height))
  }

  /** Reads server messages until a FramebufferUpdate; returns its Raw rectangles. */
  async readUpdate(): Promise<RawRect[]> {
    for (;;) {
      const type = (await this.read(1))[0]!
      if (type === 0) {
        const n = (await this.read(3)).readUInt16BE(1)
        const rects: RawRect[] = []
        for (let i = 0; i < n; i++) {
          const h = Buffer.from(await this.read(12))
          const r = { x: h.readUInt16BE(0), y: h.readUInt16BE(2), w: h.readUInt16BE(4), h: h.readUInt16BE(6) }
          const enc = h.readInt32BE(8)
          if (enc === 0) rects.push({ ...r, pixels: Buffer.from(await this.read(r.w * r.h * 4)) })
          else if (enc === -223) this.serverInit = { ...this.serverInit!, width: r.w, height: r.h }
          else throw new Error(`unexpected encoding ${enc}`)
        }
        return rects
      } else if (type === 1) {
        const n = (await this.read(5)).readUInt16BE(3)
        await this.read(n * 6)
      } else if (type === 2) {
        continue // Bell
      } else if (type === 3) {
        const len = (await this.read(7)).readUInt32BE(3)
        await this.read(len)
      } else throw new Error(`unexpected server message ${type}`)
    }
  }
}

/** True when some pixel in the rectangles is not black. */
export function hasNonBlackPixel(rects: RawRect[]): boolean {
  for (const r of rects)
    for (let i = 0; i < r.pixels.length; i += 4) if (r.pixels[i] || r.pixels[i + 1] || r.pixels[i + 2]) return true
  return false
}
