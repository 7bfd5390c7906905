/**
 * Packet framing: a 4-byte big-endian length that counts itself, a 24-byte
 * header (program, version, procedure, type, serial, status), then the XDR
 * payload. Frames may be split across reads or several may arrive in one.
 */
import { MESSAGE_MAX } from './constants.js'
import { LibvirtProtocolError } from './errors.js'

export const LEN_SIZE = 4
export const HEADER_SIZE = 24

export interface PacketHeader {
  program: number
  version: number
  procedure: number
  type: number
  serial: number
  status: number
}

export interface Packet {
  header: PacketHeader
  /** XDR body after the header. */
  payload: Buffer
}

/** Builds one complete frame (length word + header + payload). */
export function encodePacket(h: PacketHeader, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const total = LEN_SIZE + HEADER_SIZE + payload.length
  if (total > MESSAGE_MAX) throw new LibvirtProtocolError(`packet of ${total} bytes exceeds ${MESSAGE_MAX}`)
  const out = Buffer.allocUnsafe(total)
  out.writeUInt32BE(total, 0)
  out.writeUInt32BE(h.program >>> 0, 4)
  out.writeUInt32BE(h.version >>> 0, 8)
  out.writeInt32BE(h.procedure, 12)
  out.writeInt32BE(h.type, 16)
  out.writeUInt32BE(h.serial >>> 0, 20)
  out.writeInt32BE(h.status, 24)
  out.set(payload, LEN_SIZE + HEADER_SIZE)
  return out
}

export function decodeHeader(frame: Buffer): PacketHeader {
  return {
    program: frame.readUInt32BE(4),
    version: frame.readUInt32BE(8),
    procedure: frame.readInt32BE(12),
    type: frame.readInt32BE(16),
    serial: frame.readUInt32BE(20),
    status: frame.readInt32BE(24),
  }
}

/**
 * Accumulates bytes and yields whole packets. Keeps a list of chunks rather
 * than concatenating on every read, so a large frame arriving in many small
 * reads costs one copy.
 */
export class FrameDecoder {
  private chunks: Buffer[] = []
  private buffered = 0

  /** Feeds bytes; returns the packets completed by them (possibly none, possibly several). */
  push(data: Buffer): Packet[] {
    if (data.length > 0) {
      this.chunks.push(data)
      this.buffered += data.length
    }
    const out: Packet[] = []
    for (;;) {
      if (this.buffered < LEN_SIZE) break
      const len = this.peekLength()
      if (len < LEN_SIZE + HEADER_SIZE || len > MESSAGE_MAX)
        throw new LibvirtProtocolError(`bad packet length ${len} (valid: ${LEN_SIZE + HEADER_SIZE}..${MESSAGE_MAX})`)
      if (this.buffered < len) break
      const frame = this.take(len)
      out.push({ header: decodeHeader(frame), payload: frame.subarray(LEN_SIZE + HEADER_SIZE) })
    }
    return out
  }

  get pending(): number {
    return this.buffered
  }

  private peekLength(): number {
    const first = this.chunks[0]
    if (first && first.length >= LEN_SIZE) return first.readUInt32BE(0)
    return this.collect(LEN_SIZE).readUInt32BE(0)
  }

  /** Contiguous copy of the first n bytes (without consuming). */
  private collect(n: number): Buffer {
    const merged = Buffer.concat(this.chunks)
    this.chunks = [merged]
    return merged.subarray(0, n)
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]
    let frame: Buffer
    if (first && first.length >= n) {
      frame = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      const merged = Buffer.concat(this.chunks)
      frame = merged.subarray(0, n)
      this.chunks = merged.length > n ? [merged.subarray(n)] : []
    }
    this.buffered -= n
    return frame
  }
}
