/**
 * RFB (RFC 6143) wire pieces shared by the upstream client, the downstream
 * server and the relay: ServerInit, the input messages the proxy injects, and
 * the client→server message framer that lets injection happen only between
 * whole client messages.
 */

export interface PixelFormat {
  bitsPerPixel: number
  depth: number
  bigEndian: boolean
  trueColor: boolean
  redMax: number
  greenMax: number
  blueMax: number
  redShift: number
  greenShift: number
  blueShift: number
}

/** 32 bpp, depth 24, little-endian true colour, red in bits 16–23: what QEMU offers and viewers ask for. */
export const TRUE_COLOR_32: PixelFormat = {
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColor: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
}

export interface ServerInit {
  width: number
  height: number
  pixelFormat: PixelFormat
  name: string
  /** The message exactly as the VNC server sent it, replayed to viewers. */
  raw: Buffer
}

/** Parses a complete ServerInit; returns undefined when `buf` holds less than one. */
export function parseServerInit(buf: Buffer): { init: ServerInit; used: number } | undefined {
  if (buf.length < 24) return undefined
  const nameLen = buf.readUInt32BE(20)
  if (nameLen > 1 << 16) throw new Error(`ServerInit name length ${nameLen} is implausible`)
  if (buf.length < 24 + nameLen) return undefined
  const pf = buf.subarray(4, 20)
  return {
    used: 24 + nameLen,
    init: {
      width: buf.readUInt16BE(0),
      height: buf.readUInt16BE(2),
      pixelFormat: {
        bitsPerPixel: pf[0]!,
        depth: pf[1]!,
        bigEndian: pf[2] !== 0,
        trueColor: pf[3] !== 0,
        redMax: pf.readUInt16BE(4),
        greenMax: pf.readUInt16BE(6),
        blueMax: pf.readUInt16BE(8),
        redShift: pf[10]!,
        greenShift: pf[11]!,
        blueShift: pf[12]!,
      },
      name: buf.subarray(24, 24 + nameLen).toString('utf8'),
      raw: Buffer.from(buf.subarray(0, 24 + nameLen)),
    },
  }
}

export function encodeServerInit(width: number, height: number, pf: PixelFormat, name: string): Buffer {
  const n = Buffer.from(name, 'utf8')
  const b = Buffer.alloc(24 + n.length)
  b.writeUInt16BE(width, 0)
  b.writeUInt16BE(height, 2)
  b[4] = pf.bitsPerPixel
  b[5] = pf.depth
  b[6] = pf.bigEndian ? 1 : 0
  b[7] = pf.trueColor ? 1 : 0
  b.writeUInt16BE(pf.redMax, 8)
  b.writeUInt16BE(pf.greenMax, 10)
  b.writeUInt16BE(pf.blueMax, 12)
  b[14] = pf.redShift
  b[15] = pf.greenShift
  b[16] = pf.blueShift
  b.writeUInt32BE(n.length, 20)
  n.copy(b, 24)
  return b
}

export function keyEvent(keysym: number, down: boolean): Buffer {
  const b = Buffer.alloc(8)
  b[0] = 4
  b[1] = down ? 1 : 0
  b.writeUInt32BE(keysym >>> 0, 4)
  return b
}

/**
 * Highest button mask a plain PointerEvent may carry. Bit 7 would be button 8
 * in RFC 6143, but with the ExtendedMouseButtons pseudo-encoding (which a
 * viewer on the same QEMU connection may have enabled) it marks a 7-byte
 * event: an injected 6-byte event with it set would desynchronise the stream.
 * noVNC clears it in plain events for the same reason; QEMU 7.2 maps no
 * button to it.
 */
export const MAX_POINTER_BUTTONS = 0x7f

export function pointerEvent(x: number, y: number, buttons: number): Buffer {
  if (!Number.isInteger(buttons) || buttons < 0 || buttons > MAX_POINTER_BUTTONS)
    throw new RangeError(`button mask ${buttons} is outside 0…${MAX_POINTER_BUTTONS}`)
  const b = Buffer.alloc(6)
  b[0] = 5
  b[1] = buttons
  b.writeUInt16BE(x, 2)
  b.writeUInt16BE(y, 4)
  return b
}

export function framebufferUpdateRequest(incremental: boolean, x: number, y: number, w: number, h: number): Buffer {
  const b = Buffer.alloc(10)
  b[0] = 3
  b[1] = incremental ? 1 : 0
  b.writeUInt16BE(x, 2)
  b.writeUInt16BE(y, 4)
  b.writeUInt16BE(w, 6)
  b.writeUInt16BE(h, 8)
  return b
}

/** Reads an RFB "reason" string message body (u32 length + text). */
export function readReason(buf: Buffer, at: number): { reason: string; used: number } | undefined {
  if (buf.length < at + 4) return undefined
  const len = buf.readUInt32BE(at)
  if (len > 1 << 16) return { reason: '(unreadable reason)', used: buf.length - at }
  if (buf.length < at + 4 + len) return undefined
  return { reason: buf.subarray(at + 4, at + 4 + len).toString('utf8'), used: 4 + len }
}

export function reasonMessage(reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8')
  const b = Buffer.alloc(4 + r.length)
  b.writeUInt32BE(r.length, 0)
  r.copy(b, 4)
  return b
}

/** The pseudo-encoding that lets PointerEvent carry a 7th byte (marker bit 7 set). */
export const ENCODING_EXTENDED_MOUSE_BUTTONS = -316

export class RfbFramingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RfbFramingError'
  }
}

export interface FramerOptions {
  /** Largest ClientCutText payload accepted (bytes). */
  maxCutText?: number
}

/**
 * Splits the viewer's post-handshake byte stream into whole RFB client
 * messages. Unknown message types (or implausible lengths) throw
 * RfbFramingError: the stream can no longer be followed, and guessing would
 * corrupt what reaches the VNC server.
 */
export class ClientMessageFramer {
  private buf: Buffer = Buffer.alloc(0)
  private extendedPointer = false
  private readonly maxCutText: number

  constructor(opts: FramerOptions = {}) {
    this.maxCutText = opts.maxCutText ?? 16 << 20
  }

  /** Bytes held back because they do not yet make a whole message. */
  get pending(): number {
    return this.buf.length
  }

  /** Feeds bytes; returns the whole messages now complete, in order (each a Buffer). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    const out: Buffer[] = []
    let at = 0
    for (;;) {
      const len = this.messageLength(this.buf, at)
      if (len === undefined || at + len > this.buf.length) break
      const msg = this.buf.subarray(at, at + len)
      if (msg[0] === 2) this.noteEncodings(msg)
      out.push(msg)
      at += len
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(at))
    return out
  }

  private noteEncodings(msg: Buffer): void {
    const n = msg.readUInt16BE(2)
    let ext = false
    for (let i = 0; i < n; i++) if (msg.readInt32BE(4 + i * 4) === ENCODING_EXTENDED_MOUSE_BUTTONS) ext = true
    this.extendedPointer = ext
  }

  /** The length of the message starting at `at`, or undefined if its header is incomplete. */
  private messageLength(b: Buffer, at: number): number | undefined {
    const avail = b.length - at
    if (avail < 1) return undefined
    const type = b[at]!
    const need = (n: number): boolean => avail >= n
    switch (type) {
      case 0: // SetPixelFormat
        return 20
      case 2: // SetEncodings
        if (!need(4)) return undefined
        return 4 + 4 * b.readUInt16BE(at + 2)
      case 3: // FramebufferUpdateRequest
        return 10
      case 4: // KeyEvent
        return 8
      case 5: // PointerEvent (7 bytes in the ExtendedMouseButtons form)
        if (!need(2)) return undefined
        return this.extendedPointer && b[at + 1]! & 0x80 ? 7 : 6
      case 6: {
        // ClientCutText; a negative length is the Extended Clipboard form
        if (!need(8)) return undefined
        const raw = b.readInt32BE(at + 4)
        const len = Math.abs(raw)
        if (len > this.maxCutText) throw new RfbFramingError(`ClientCutText of ${len} bytes exceeds the limit`)
        return 8 + len
      }
      case 150: // EnableContinuousUpdates
        return 10
      case 248: // ClientFence: type, 3 padding, u32 flags, u8 length, payload (≤ 64)
        if (!need(9)) return undefined
        if (b[at + 8]! > 64) throw new RfbFramingError('ClientFence payload longer than 64 bytes')
        return 9 + b[at + 8]!
      case 250: // xvp
        return 4
      case 251: // SetDesktopSize: 8-byte header + 16 bytes per screen
        if (!need(8)) return undefined
        return 8 + 16 * b[at + 6]!
      case 255: {
        // QEMU client messages: submessage type in byte 1
        if (!need(2)) return undefined
        const sub = b[at + 1]!
        if (sub === 0) return 12 // extended key event
        if (sub === 1) {
          // audio: u16 operation; 0 enable, 1 disable, 2 set format (+u8 fmt, u8 channels, u32 freq)
          if (!need(4)) return undefined
          const op = b.readUInt16BE(at + 2)
          if (op === 0 || op === 1) return 4
          if (op === 2) return 10
          throw new RfbFramingError(`unknown QEMU audio operation ${op}`)
        }
        throw new RfbFramingError(`unknown QEMU client submessage ${sub}`)
      }
      default:
        throw new RfbFramingError(`unknown RFB client message type ${type}`)
    }
  }
}
