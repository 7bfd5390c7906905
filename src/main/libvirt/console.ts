/**
 * A libvirt stream as a Node Duplex: data travels as STREAM packets on the
 * opening call's serial with status CONTINUE; status OK is end-of-stream
 * (both directions); status ERROR from the daemon carries a remote_error,
 * from us it aborts.
 *
 * Backpressure: the daemon sends a stream's next packet only once the last
 * one has left its queue to us, so not reading the socket throttles the
 * console at its source. That is only allowed on a connection that carries
 * this one stream (see dedicateConnection()): on a shared connection the
 * stream buffers what arrives, as every other call must keep flowing.
 */
import { Duplex } from 'node:stream'
import { MessageStatus, MessageType, STREAM_CHUNK_MAX } from './constants.js'
import { LibvirtConnectionError } from './errors.js'
import type { Packet } from './framing.js'
import { decodeRemoteError, type RpcConnection } from './rpc.js'

export class LibvirtStream extends Duplex {
  private finishedRemote = false
  private finishedLocal = false
  private aborted = false
  /** Packets that arrived before the opening call's reply was seen. */
  private opened = false
  private early: Packet[] = []
  /** Calls back when the daemon acknowledges our finish (its OK). */
  private finishAck: (() => void) | undefined

  /** Whether this stream owns its connection and may pause reading it. */
  private dedicated = false

  constructor(
    private readonly rpc: RpcConnection,
    readonly procedure: number,
    readonly serial: number,
    /** Name for messages (e.g. the domain). */
    readonly label: string,
  ) {
    super({ allowHalfOpen: true })
  }

  /**
   * Declares that this stream's connection carries nothing else (a serial
   * console opened on its own connection, with keepalive off), so a consumer
   * that stops reading (push() returning false) stops the connection's
   * socket reads until _read() asks for more. Never call it for a stream on
   * the hypervisor's shared connection: pausing that would stall every VM.
   */
  dedicateConnection(): void {
    this.rpc.dedicateToStream()
    this.dedicated = true
    // Data may already sit past the high-water mark (it arrived before this call).
    if (this.readableLength >= this.readableHighWaterMark && !this.readableFlowing) this.rpc.pauseReading()
  }

  /** Bytes held on our side: this stream's readable buffer plus what its connection received but has not routed. */
  get bufferedBytes(): number {
    return this.readableLength + this.rpc.bufferedIncoming
  }

  /** True while backpressure has the connection's socket reads stopped. */
  get connectionPaused(): boolean {
    return this.rpc.readingPaused
  }

  /** The sink the RPC layer feeds (registered before the opening call is sent). */
  readonly sink = (pkt: Packet): void => {
    if (!this.opened) {
      this.early.push(pkt)
      return
    }
    this.handle(pkt)
  }

  /** Called once the opening call succeeded. */
  markOpen(): void {
    this.opened = true
    const early = this.early
    this.early = []
    for (const p of early) this.handle(p)
  }

  private handle(pkt: Packet): void {
    const h = pkt.header
    if (h.type === -1) {
      // The connection ended underneath us.
      this.rpc.removeStream(this.serial)
      if (!this.destroyed)
        this.destroy(new LibvirtConnectionError(`libvirt connection closed while the stream of ${this.label} was open`))
      return
    }
    if (h.type !== MessageType.STREAM) return
    if (h.status === MessageStatus.CONTINUE) {
      if (pkt.payload.length > 0) {
        if (this.destroyed) return
        // push() false: the consumer is over its high-water mark; stop reading until _read().
        if (!this.push(Buffer.from(pkt.payload)) && this.dedicated) this.rpc.pauseReading()
        return
      }
      // An empty data packet is the daemon's end-of-stream (the console's
      // pty closed: the domain stopped). Finish our side too.
      this.remoteEof()
      return
    }
    if (h.status === MessageStatus.OK) {
      if (this.finishedLocal) {
        // The daemon's acknowledgement of our finish.
        this.rpc.removeStream(this.serial)
        this.finishAck?.()
        this.finishAck = undefined
        return
      }
      this.remoteEof()
      return
    }
    if (h.status === MessageStatus.ERROR) {
      this.rpc.removeStream(this.serial)
      this.finishedRemote = true
      this.finishedLocal = true
      this.destroy(decodeRemoteError(pkt.payload, this.procedure))
    }
  }

  private remoteEof(): void {
    if (this.finishedRemote) return
    this.finishedRemote = true
    this.push(null)
    // _final sends our finish (OK) and waits briefly for the daemon's acknowledgement.
    if (!this.writableEnded) this.end()
  }

  override _read(): void {
    // The consumer wants more: read the connection again (a no-op unless paused).
    if (this.dedicated) this.rpc.resumeReading()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.finishedLocal) return cb(new LibvirtConnectionError(`stream of ${this.label} is finished`, 'closed'))
    // An empty data packet would mean end-of-stream to the daemon.
    if (chunk.length === 0) return cb()
    try {
      for (let off = 0; off < chunk.length; off += STREAM_CHUNK_MAX)
        this.rpc.sendStream(
          this.procedure,
          this.serial,
          MessageStatus.CONTINUE,
          chunk.subarray(off, off + STREAM_CHUNK_MAX),
        )
    } catch (err) {
      return cb(err instanceof Error ? err : new Error(String(err)))
    }
    if (this.rpc.writableNeedDrain) this.rpc.onceDrain(() => cb())
    else cb()
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.finishedLocal || this.rpc.closed) return cb()
    this.finishedLocal = true
    try {
      this.rpc.sendStream(this.procedure, this.serial, MessageStatus.OK)
    } catch (err) {
      return cb(err instanceof Error ? err : new Error(String(err)))
    }
    // Do not wait forever for the daemon's acknowledgement.
    const t = setTimeout(() => {
      this.finishAck = undefined
      this.rpc.removeStream(this.serial)
      cb()
    }, 2000)
    t.unref?.()
    this.finishAck = () => {
      clearTimeout(t)
      cb()
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Nobody reads this stream any more: read the connection again so its close handshake is seen.
    if (this.dedicated) this.rpc.resumeReading()
    if (!this.finishedLocal && !this.aborted && !this.rpc.closed) {
      this.aborted = true
      try {
        this.rpc.sendStream(this.procedure, this.serial, MessageStatus.ERROR)
      } catch {
        // Connection gone: the daemon drops the stream itself.
      }
    }
    this.rpc.removeStream(this.serial)
    cb(err)
  }

  /** Aborts the stream (the daemon releases the console). */
  abort(): void {
    this.destroy()
  }

  get remoteEnded(): boolean {
    return this.finishedRemote
  }
}
