/**
 * The RPC layer: serial-numbered calls with timeouts, replies and errors,
 * events (type MESSAGE) routed by packet type before serial (the daemon sends
 * them with serial 1, which would otherwise collide with call #1), stream
 * packets routed to per-serial sinks, and keepalive PING/PONG.
 */
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import {
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
} from './constants.js'
import { LibvirtConnectionError, LibvirtError, LibvirtProtocolError, LibvirtTimeoutError } from './errors.js'
import { encodePacket, FrameDecoder, type Packet, type PacketHeader } from './framing.js'
import { XdrReader } from './xdr.js'

/** Receives stream packets (type STREAM) for one call serial. */
export type StreamSink = (pkt: Packet) => void

export interface CallOptions {
  /** Reply timeout; 0 disables it. Defaults to the connection's callTimeoutMs. */
  timeoutMs?: number
  /** Registered before the call is sent, so stream data racing the reply is not lost. */
  stream?: StreamSink
}

interface PendingCall {
  procedure: number
  resolve(payload: Buffer): void
  reject(err: Error): void
  timer: NodeJS.Timeout | undefined
}

export interface RpcOptions {
  callTimeoutMs: number
  /** Describes the transport in error messages (e.g. the socket path). */
  description: string
}

/** Decodes remote_error (remote_protocol.x) into a LibvirtError. */
export function decodeRemoteError(payload: Buffer, procedure?: number): LibvirtError {
  try {
    const r = new XdrReader(payload)
    const code = r.int()
    const domain = r.int()
    const message = r.optString()
    const level = r.int()
    return new LibvirtError(code, domain, message ?? `libvirt error ${code}`, level, procedure)
  } catch {
    return new LibvirtError(
      1,
      7,
      `libvirt returned an unreadable error for procedure ${procedure ?? '?'}`,
      2,
      procedure,
    )
  }
}

export interface RpcEvents {
  /** A remote-program MESSAGE packet (domain events). */
  message: [pkt: Packet]
  /** The transport ended; `error` is undefined after a clean close. */
  close: [error: Error | undefined]
}

export class RpcConnection extends EventEmitter<RpcEvents> {
  private readonly decoder = new FrameDecoder()
  private readonly pending = new Map<number, PendingCall>()
  private readonly streams = new Map<number, StreamSink>()
  private serial = 0
  private closedError: Error | undefined
  private isClosed = false
  /** Set just before CONNECT_CLOSE: the daemon hangs up right after replying, and that EOF is success. */
  expectingEof = false
  private lastRx = Date.now()
  private keepaliveTimer: NodeJS.Timeout | undefined
  private unansweredPings = 0
  /** Set by dedicateToStream(): only then may reading be paused. */
  private dedicated = false
  private readPaused = false
  /** Keepalive PINGs the daemon sent us (it sends them only to clients that asked for keepalive). */
  pingsReceived = 0

  constructor(
    private readonly stream: Duplex,
    private readonly opts: RpcOptions,
  ) {
    super()
    stream.on('data', (chunk: Buffer) => this.onData(chunk))
    stream.on('error', (err: Error) => this.shutdown(this.wrapTransportError(err)))
    // The end of the daemon's data is not yet the end of the transport: over SSH the remote
    // command's exit status (the reason, e.g. "virt-ssh-helper: command not found") can arrive
    // just after EOF and before 'close'. So shut down on 'close' (which follows 'end' on sockets
    // and channels alike), with a timer in case a transport never closes.
    stream.on('end', () => {
      const t = setTimeout(() => this.shutdown(), 1000)
      t.unref?.()
      stream.once('close', () => clearTimeout(t))
    })
    stream.on('close', () => this.shutdown())
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Allocates the next call serial (exposed so streams can be registered before sending). */
  nextSerial(): number {
    this.serial = (this.serial + 1) >>> 0
    if (this.serial === 0) this.serial = 1
    return this.serial
  }

  /** Sends a CALL and resolves with the reply payload, or rejects with the daemon's error. */
  call(procedure: number, payload?: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(this.closedErrorFor(procedure))
    const serial = this.nextSerial()
    if (opts.stream) this.streams.set(serial, opts.stream)
    const timeoutMs = opts.timeoutMs ?? this.opts.callTimeoutMs
    return new Promise<Buffer>((resolve, reject) => {
      const entry: PendingCall = { procedure, resolve, reject, timer: undefined }
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          if (this.pending.get(serial) !== entry) return
          this.pending.delete(serial)
          this.streams.delete(serial)
          reject(new LibvirtTimeoutError(procedure, timeoutMs))
        }, timeoutMs)
        entry.timer.unref?.()
      }
      this.pending.set(serial, entry)
      try {
        this.write(
          {
            program: REMOTE_PROGRAM,
            version: REMOTE_PROTOCOL_VERSION,
            procedure,
            type: MessageType.CALL,
            serial,
            status: MessageStatus.OK,
          },
          payload,
        )
      } catch (err) {
        this.pending.delete(serial)
        this.streams.delete(serial)
        if (entry.timer) clearTimeout(entry.timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
  }

  /** Serial of the call most recently sent (the serial a stream call will use). */
  get lastSerial(): number {
    return this.serial
  }

  /** Sends a stream packet (data, finish, abort) on a call's serial. */
  sendStream(procedure: number, serial: number, status: number, data?: Uint8Array): void {
    this.write(
      {
        program: REMOTE_PROGRAM,
        version: REMOTE_PROTOCOL_VERSION,
        procedure,
        type: MessageType.STREAM,
        serial,
        status,
      },
      data,
    )
  }

  /** Stops routing stream packets for a serial. */
  removeStream(serial: number): void {
    this.streams.delete(serial)
  }

  /** Bytes queued in the transport (backpressure for console writes). */
  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain
  }

  onceDrain(cb: () => void): void {
    this.stream.once('drain', cb)
  }

  /**
   * Marks this connection as carrying one stream and nothing else (a serial
   * console's own connection), which lets that stream pause reading the
   * socket for backpressure. Never call it on a shared connection: while
   * reading is paused no reply, event or keepalive on it is seen. Refused
   * when keepalive runs here, since a deliberate pause would read as a dead
   * daemon; the daemon itself pings only clients that asked for keepalive.
   */
  dedicateToStream(): void {
    if (this.keepaliveTimer)
      throw new LibvirtProtocolError(
        'a connection with keepalive cannot be dedicated to a stream (it may pause reading)',
      )
    this.dedicated = true
  }

  get isDedicated(): boolean {
    return this.dedicated
  }

  /**
   * Backpressure for a dedicated connection's stream: stops reading the
   * socket, so the daemon's queue to us backs up and it stops reading the
   * console (it sends the next stream packet only once the last one left).
   * Buffered bytes stay within the transport's readable high-water mark plus
   * one read. Returns false (and does nothing) on a shared connection.
   */
  pauseReading(): boolean {
    if (!this.dedicated || this.isClosed) return false
    if (!this.readPaused) {
      this.readPaused = true
      this.stream.pause()
    }
    return true
  }

  /** Undoes pauseReading(). */
  resumeReading(): void {
    if (!this.readPaused) return
    this.readPaused = false
    this.stream.resume()
  }

  get readingPaused(): boolean {
    return this.readPaused
  }

  /** Bytes received but not yet routed: the transport's readable buffer plus an incomplete frame. */
  get bufferedIncoming(): number {
    return this.stream.readableLength + this.decoder.pending
  }

  /**
   * Starts keepalive: a PING whenever nothing arrived for `intervalMs`; after
   * `count` unanswered pings the connection is declared dead and closed.
   */
  startKeepalive(intervalMs: number, count: number): void {
    if (intervalMs <= 0 || this.keepaliveTimer || this.isClosed || this.dedicated) return
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.lastRx < intervalMs) {
        this.unansweredPings = 0
        return
      }
      if (this.unansweredPings >= count) {
        this.shutdown(
          new LibvirtConnectionError(
            `libvirt daemon at ${this.opts.description} did not answer ${count} keepalive pings`,
            'keepalive-timeout',
          ),
        )
        this.stream.destroy()
        return
      }
      this.unansweredPings++
      this.sendKeepalive(KEEPALIVE_PROC_PING)
    }, intervalMs)
    this.keepaliveTimer.unref?.()
  }

  /** Ends the transport. Pending calls fail with `err` or a "closed" error. */
  destroy(err?: Error): void {
    this.shutdown(err)
    this.stream.destroy()
  }

  /** Half-closes after flushing (used after CONNECT_CLOSE). */
  end(): void {
    this.stream.end()
  }

  private sendKeepalive(proc: number): void {
    try {
      this.write({
        program: KEEPALIVE_PROGRAM,
        version: KEEPALIVE_PROTOCOL_VERSION,
        procedure: proc,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      })
    } catch {
      // The transport is gone; shutdown() reports it.
    }
  }

  private write(h: PacketHeader, payload?: Uint8Array): void {
    if (this.isClosed) throw this.closedErrorFor(h.procedure)
    this.stream.write(encodePacket(h, payload))
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now()
    this.unansweredPings = 0
    let packets: Packet[]
    try {
      packets = this.decoder.push(chunk)
    } catch (err) {
      this.destroy(err instanceof Error ? err : new LibvirtProtocolError(String(err)))
      return
    }
    for (const p of packets) this.route(p)
  }

  private route(pkt: Packet): void {
    const h = pkt.header
    if (h.program === KEEPALIVE_PROGRAM) {
      if (h.procedure === KEEPALIVE_PROC_PING) {
        this.pingsReceived++
        this.sendKeepalive(KEEPALIVE_PROC_PONG)
      }
      return
    }
    if (h.program !== REMOTE_PROGRAM) return
    // Type first: events carry serial 1 and must never be taken for a reply.
    switch (h.type) {
      case MessageType.MESSAGE:
        this.emit('message', pkt)
        return
      case MessageType.STREAM:
      case MessageType.STREAM_HOLE: {
        const sink = this.streams.get(h.serial)
        if (sink) sink(pkt)
        return
      }
      case MessageType.REPLY:
      case MessageType.REPLY_WITH_FDS: {
        const entry = this.pending.get(h.serial)
        if (!entry) return
        this.pending.delete(h.serial)
        if (entry.timer) clearTimeout(entry.timer)
        if (h.status === MessageStatus.OK) entry.resolve(pkt.payload)
        else {
          this.streams.delete(h.serial)
          entry.reject(decodeRemoteError(pkt.payload, entry.procedure))
        }
        return
      }
      default:
        return
    }
  }

  private wrapTransportError(err: Error): Error {
    if (err instanceof LibvirtConnectionError) return err
    const code = (err as NodeJS.ErrnoException).code ?? 'transport-error'
    return new LibvirtConnectionError(
      `connection to libvirt at ${this.opts.description} failed: ${err.message}`,
      code,
      { cause: err },
    )
  }

  private closedErrorFor(procedure: number): Error {
    return (
      this.closedError ??
      new LibvirtConnectionError(
        `libvirt connection to ${this.opts.description} is closed (procedure ${procedure} not sent)`,
        'closed',
      )
    )
  }

  private shutdown(err?: Error): void {
    if (this.isClosed) return
    this.isClosed = true
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    this.keepaliveTimer = undefined
    const failure =
      err ??
      (this.expectingEof
        ? new LibvirtConnectionError(`libvirt connection to ${this.opts.description} was closed`, 'closed')
        : new LibvirtConnectionError(`libvirt daemon at ${this.opts.description} closed the connection`, 'eof'))
    this.closedError = failure
    for (const [, entry] of this.pending) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.reject(failure)
    }
    this.pending.clear()
    // Streams learn about the end through a synthetic ERROR-less close.
    const sinks = [...this.streams.entries()]
    this.streams.clear()
    for (const [serial, sink] of sinks)
      sink({
        header: {
          program: REMOTE_PROGRAM,
          version: REMOTE_PROTOCOL_VERSION,
          procedure: 0,
          type: -1,
          serial,
          status: MessageStatus.ERROR,
        },
        payload: Buffer.alloc(0),
      })
    this.emit('close', err === undefined && this.expectingEof ? undefined : failure)
  }
}
