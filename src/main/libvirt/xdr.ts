/**
 * XDR (RFC 4506) encoding as libvirt uses it: big-endian 4-byte units,
 * strings/opaques padded to 4 bytes, 64-bit integers as BigInt.
 */
import { LibvirtProtocolError } from './errors.js'

export class XdrWriter {
  private buf: Buffer
  private pos = 0

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial)
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  int(v: number): this {
    this.ensure(4)
    this.buf.writeInt32BE(v, this.pos)
    this.pos += 4
    return this
  }

  uint(v: number): this {
    this.ensure(4)
    this.buf.writeUInt32BE(v >>> 0, this.pos)
    this.pos += 4
    return this
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0)
  }

  hyper(v: bigint): this {
    this.ensure(8)
    this.buf.writeBigInt64BE(v, this.pos)
    this.pos += 8
    return this
  }

  uhyper(v: bigint): this {
    this.ensure(8)
    this.buf.writeBigUInt64BE(v, this.pos)
    this.pos += 8
    return this
  }

  double(v: number): this {
    this.ensure(8)
    this.buf.writeDoubleBE(v, this.pos)
    this.pos += 8
    return this
  }

  /** Fixed-length opaque (no length prefix), e.g. a 16-byte UUID. */
  fixedOpaque(data: Uint8Array): this {
    const pad = (4 - (data.length % 4)) % 4
    this.ensure(data.length + pad)
    this.buf.set(data, this.pos)
    this.pos += data.length
    this.buf.fill(0, this.pos, this.pos + pad)
    this.pos += pad
    return this
  }

  /** Variable-length opaque: length word then padded bytes. */
  opaque(data: Uint8Array): this {
    this.uint(data.length)
    return this.fixedOpaque(data)
  }

  string(s: string): this {
    return this.opaque(Buffer.from(s, 'utf8'))
  }

  /** libvirt's remote_string: an optional (pointer) string. */
  optString(s: string | null | undefined): this {
    if (s === null || s === undefined) return this.bool(false)
    return this.bool(true).string(s)
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos)
  }

  get length(): number {
    return this.pos
  }
}

export class XdrReader {
  private pos: number

  constructor(
    private readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length)
      throw new LibvirtProtocolError(`XDR: truncated data (need ${n} bytes at ${this.pos} of ${this.buf.length})`)
  }

  int(): number {
    this.need(4)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  uint(): number {
    this.need(4)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  bool(): boolean {
    return this.int() !== 0
  }

  hyper(): bigint {
    this.need(8)
    const v = this.buf.readBigInt64BE(this.pos)
    this.pos += 8
    return v
  }

  uhyper(): bigint {
    this.need(8)
    const v = this.buf.readBigUInt64BE(this.pos)
    this.pos += 8
    return v
  }

  double(): number {
    this.need(8)
    const v = this.buf.readDoubleBE(this.pos)
    this.pos += 8
    return v
  }

  fixedOpaque(len: number): Buffer {
    const padded = len + ((4 - (len % 4)) % 4)
    this.need(padded)
    const v = this.buf.subarray(this.pos, this.pos + len)
    this.pos += padded
    return v
  }

  opaque(max = Infinity): Buffer {
    const len = this.uint()
    if (len > max) throw new LibvirtProtocolError(`XDR: opaque of ${len} bytes exceeds limit ${max}`)
    return this.fixedOpaque(len)
  }

  string(max = Infinity): string {
    return this.opaque(max).toString('utf8')
  }

  optString(): string | null {
    return this.bool() ? this.string() : null
  }

  /** A variable-length array: count word then `count` items. */
  array<T>(item: (r: XdrReader) => T, max = 1_000_000): T[] {
    const n = this.uint()
    if (n > max) throw new LibvirtProtocolError(`XDR: array of ${n} items exceeds limit ${max}`)
    const out: T[] = new Array<T>(n)
    for (let i = 0; i < n; i++) out[i] = item(this)
    return out
  }

  get remaining(): number {
    return this.buf.length - this.pos
  }

  get offset(): number {
    return this.pos
  }
}
