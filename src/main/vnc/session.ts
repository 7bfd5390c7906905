/**
 * One proxied VNC session: the upstream RFB connection to QEMU (handshake
 * already done), the downstream RFB server toward one viewer transport (JSON
 * vnc-data or the binary WebSocket), the client→server framer, input
 * injection between whole client messages, and backpressure in both
 * directions.
 */
import { randomUUID } from 'node:crypto'
import type net from 'node:net'
import { RfbServerHandshake } from './downstream.js'
import { ClientMessageFramer, keyEvent, RfbFramingError, type ServerInit } from './rfb.js'
import type { Upstream } from './upstream.js'

/** Where the VNC server's bytes go: a JSON socket (base64 pushes) or a binary WebSocket. */
export interface ViewerTransport {
  /** Sends bytes; calls `release` once it no longer needs them (their buffer is reused). */
  send(data: Buffer, release?: () => void): void
  /** Bytes queued toward the viewer and not yet on the network. */
  readonly buffered: number
  /** Calls back once, when `buffered` has fallen below the transport's low-water mark. */
  onDrain(cb: () => void): void
}

const noop = (): void => {}

/** Shift, Control, Meta, Alt, Super and Hyper (left and right), AltGr (ISO_Level3_Shift), Mode_switch. */
const MODIFIER_KEYSYMS = new Set([
  0xffe1, 0xffe2, 0xffe3, 0xffe4, 0xffe7, 0xffe8, 0xffe9, 0xffea, 0xffeb, 0xffec, 0xffed, 0xffee, 0xfe03, 0xff7e,
])

/** One group of RFB messages written together; typed text marks its first and last character. */
interface QueuedInput {
  group: Buffer[]
  textStart?: boolean
  textEnd?: boolean
}

/** Bytes held from the VNC server before a viewer completes its handshake. */
const PRE_VIEWER_LIMIT = 1 << 20

/** Most typed characters (input groups) a session holds back at once. */
export const MAX_QUEUED_INPUT = 100_000

export interface SessionOptions {
  /** Viewer-side backlog (bytes) past which the proxy stops reading from QEMU. */
  highWater?: number
  /** Largest backlog toward QEMU before the session is ended (a viewer flooding input). */
  upstreamLimit?: number
  /** Delay between typed characters (ms); QEMU's PS/2 queue drops keys that arrive in a burst. */
  typingDelayMs?: number
  /** Called once when the session ends, with the reason (never containing secrets). */
  onClose(reason: string, error: boolean): void
}

export class VncSession {
  readonly id = randomUUID()
  readonly serverInit: ServerInit
  private readonly upstream: net.Socket
  private viewer?: ViewerTransport
  private readonly downstream: RfbServerHandshake
  private readonly framer = new ClientMessageFramer()
  private readonly highWater: number
  private readonly upstreamLimit: number
  private readonly typingDelayMs: number
  private closed = false
  private paused = false
  /** True once a viewer finished its RFB handshake and QEMU's bytes flow to it. */
  private relaying = false
  private leftover: Buffer
  /** Injected input waiting its turn (text is typed at a pace), as groups written together. */
  private readonly inputQueue: QueuedInput[] = []
  /** Modifier keysyms the user holds down now. */
  private readonly heldModifiers = new Set<number>()
  /** The modifiers released for the text being typed, to press again after it. */
  private releasedForText: number[] = []
  private typing?: NodeJS.Timeout
  private readonly drainWaiters: (() => void)[] = []

  constructor(
    up: Upstream,
    private readonly opts: SessionOptions,
  ) {
    this.serverInit = up.serverInit
    this.upstream = up.socket
    this.leftover = up.leftover
    this.highWater = opts.highWater ?? 1 << 20
    this.upstreamLimit = opts.upstreamLimit ?? 8 << 20
    // Measured on the TCG test guest: at 12 ms per character a 470-character
    // line lost keys once the shell's line redraws slowed the guest; 25 ms held.
    this.typingDelayMs = opts.typingDelayMs ?? 25
    this.downstream = new RfbServerHandshake(up.serverInit.raw)
    if (up.setSink) up.setSink(this.onUpstreamData)
    else this.upstream.on('data', (d: Buffer) => this.onUpstreamData(d, noop))
    this.upstream.on('end', () => this.close('the VNC server closed the connection', false))
    this.upstream.on('close', () => this.close('the VNC server connection closed', false))
    this.upstream.on('error', e => this.close(`VNC server connection error: ${e.message}`, true))
    this.upstream.on('drain', () => {
      for (const w of this.drainWaiters.splice(0)) w()
    })
    // Keep reading even before a viewer is ready, so a VNC server that goes
    // away is noticed at once; what it sends meanwhile is held (bounded).
    this.upstream.resume()
  }

  get width(): number {
    return this.serverInit.width
  }
  get height(): number {
    return this.serverInit.height
  }
  get name(): string {
    return this.serverInit.name
  }
  get isClosed(): boolean {
    return this.closed
  }
  get hasViewer(): boolean {
    return this.viewer !== undefined
  }

  /** Starts the RFB server side toward a viewer: sends the version greeting. */
  attachViewer(t: ViewerTransport): void {
    if (this.viewer) throw new Error('this session already has a viewer')
    this.viewer = t
    t.send(this.downstream.greeting())
  }

  /**
   * Bytes from the viewer. Returns false when the VNC server is not keeping
   * up; a transport that can pause should wait for `onUpstreamDrain`.
   */
  fromViewer(chunk: Buffer): boolean {
    if (this.closed || !this.viewer) return true
    let data = chunk
    if (!this.downstream.ready) {
      const step = this.downstream.push(chunk)
      for (const r of step.reply) this.viewer.send(r)
      if (step.error) {
        this.close(`RFB protocol error from the viewer: ${step.error}`, true)
        return true
      }
      if (!this.downstream.ready) return true
      this.startRelay()
      data = step.rest
      if (data.length === 0) return true
    }
    let messages: Buffer[]
    try {
      messages = this.framer.push(data)
    } catch (e) {
      const msg = e instanceof RfbFramingError ? e.message : String(e)
      this.close(`RFB protocol error from the viewer: ${msg}`, true)
      return true
    }
    for (const m of messages) this.observeKey(m)
    // Whole client messages only, so injected input can never land inside one.
    if (messages.length) return this.writeUpstream(messages.length === 1 ? messages[0]! : Buffer.concat(messages))
    return true
  }

  onUpstreamDrain(cb: () => void): void {
    this.drainWaiters.push(cb)
  }

  /**
   * Injects whole RFB messages (KeyEvent/PointerEvent), each group written at
   * once. Input waits behind text still being typed.
   */
  inject(groups: Buffer[][]): boolean {
    return this.enqueue(groups.map(group => ({ group })))
  }

  /**
   * Types text: one group per character, paced so QEMU's keyboard queue keeps
   * up. Modifiers the user holds down (Ctrl from a viewer, say) are released
   * first, so the text arrives as written rather than as shortcuts, and
   * pressed again afterwards if the user still holds them.
   */
  typeText(groups: Buffer[][]): boolean {
    if (groups.length === 0) return true
    return this.enqueue(groups.map((group, i) => ({ group, textStart: i === 0, textEnd: i === groups.length - 1 })))
  }

  private enqueue(items: QueuedInput[]): boolean {
    if (this.closed) return true
    // Typed text waits its turn; the backlog is bounded so memory stays bounded too.
    if (this.inputQueue.length + items.length > MAX_QUEUED_INPUT) return false
    for (const item of items) this.inputQueue.push(item)
    if (!this.typing) this.pumpInput()
    return true
  }

  /** Input groups (typed characters) not yet sent. */
  get queuedInput(): number {
    return this.inputQueue.length
  }

  private pumpInput = (): void => {
    this.typing = undefined
    const item = this.inputQueue.shift()
    if (!item || this.closed) return
    let msgs = item.group
    if (item.textStart === undefined) for (const m of msgs) this.observeKey(m)
    if (item.textStart) {
      this.releasedForText = [...this.heldModifiers]
      msgs = [...this.releasedForText.map(k => keyEvent(k, false)), ...msgs]
    }
    if (item.textEnd) {
      const again = this.releasedForText.filter(k => this.heldModifiers.has(k))
      msgs = [...msgs, ...again.map(k => keyEvent(k, true))]
      this.releasedForText = []
    }
    this.writeUpstream(msgs.length === 1 ? msgs[0]! : Buffer.concat(msgs))
    if (this.inputQueue.length) this.typing = setTimeout(this.pumpInput, this.typingDelayMs)
  }

  /** Follows the modifiers the user holds, from the viewer's key events and injected ones. */
  private observeKey(m: Buffer): void {
    let keysym: number
    let down: boolean
    if (m[0] === 4 && m.length >= 8) {
      down = m[1] !== 0
      keysym = m.readUInt32BE(4)
    } else if (m[0] === 255 && m[1] === 0 && m.length >= 12) {
      // QEMU extended key event: down flag (u16), keysym, keycode.
      down = m.readUInt16BE(2) !== 0
      keysym = m.readUInt32BE(4)
    } else return
    if (!MODIFIER_KEYSYMS.has(keysym)) return
    if (down) this.heldModifiers.add(keysym)
    else this.heldModifiers.delete(keysym)
  }

  private writeUpstream(buf: Buffer): boolean {
    if (this.upstream.writableLength > this.upstreamLimit) {
      this.close('the viewer sends faster than the VNC server reads', true)
      return true
    }
    return this.upstream.write(buf)
  }

  private startRelay(): void {
    this.relaying = true
    if (this.leftover.length) {
      this.viewer!.send(this.leftover)
      this.leftover = Buffer.alloc(0)
    }
  }

  private readonly onUpstreamData = (d: Buffer, release: () => void): void => {
    const v = this.viewer
    if (this.closed || !v || !this.relaying) {
      if (!this.closed) this.hold(d)
      release()
      return
    }
    // Each read goes out as it comes: merging reads into bigger messages was
    // measured slower for both transports (bench/vnc.ts).
    v.send(d, release)
    // Bounded memory however slow the viewer: stop reading QEMU until it drains.
    if (v.buffered > this.highWater && !this.paused) {
      this.paused = true
      this.upstream.pause()
      v.onDrain(() => this.resumeUpstream())
    }
  }

  /** Keeps (a copy of) what QEMU sends before the viewer's handshake. */
  private hold(d: Buffer): void {
    // Before the viewer's handshake QEMU sends nothing unrequested but Bell or cut text.
    this.leftover = Buffer.concat([this.leftover, d])
    if (this.leftover.length > PRE_VIEWER_LIMIT)
      this.close('the VNC server sent more than expected before the viewer was ready', true)
  }

  private resumeUpstream(): void {
    if (this.closed) return
    this.paused = false
    this.upstream.resume()
  }

  /** Ends the session (idempotent). */
  close(reason: string, error = false): void {
    if (this.closed) return
    this.closed = true
    if (this.typing) clearTimeout(this.typing)
    this.inputQueue.length = 0
    this.upstream.destroy()
    this.opts.onClose(reason, error)
  }
}
