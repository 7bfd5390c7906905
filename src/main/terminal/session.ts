/**
 * One open terminal: a backend (SSH or serial) plus what every session needs
 * on the way to a client — streaming UTF-8 decoding, flow control against the
 * client socket, an idle timeout, and a single close notification.
 */
import type { CloseInfo, TerminalBackend } from './backend.js'
import { Utf8Stream } from './utf8.js'

/** Stable `terminal-closed` reasons. */
export const REASONS = {
  exit: 'exit',
  connectionLost: 'connection-lost',
  consoleClosed: 'console-closed',
  clientDisconnect: 'client-disconnect',
  socketClosed: 'socket-closed',
  idleTimeout: 'idle-timeout',
  vmStopped: 'vm-stopped',
  serverShutdown: 'server-shutdown',
} as const

/** Where output goes and how backed up it is (the client socket). */
export interface OutputSink {
  output(text: string): void
  /** Bytes queued toward the client. */
  bufferedAmount(): number
  /** Calls back once the queue has drained below its low-water mark. */
  onDrain(cb: () => void): void
}

export interface SessionOptions {
  /** Pause the backend once the client has this many bytes queued. */
  highWaterBytes: number
  /** Close after this long without input or output; 0 disables. */
  idleTimeoutMs: number
}

export class TerminalSession {
  private readonly decoder = new Utf8Stream()
  private paused = false
  private closed = false
  private idleTimer: NodeJS.Timeout | undefined
  private closeCbs: Array<(info: CloseInfo) => void> = []
  /** Times the backend was paused for a slow client (for tests and diagnostics). */
  pauses = 0
  bytesOut = 0

  constructor(
    readonly id: string,
    readonly vmName: string,
    readonly vmUuid: string,
    readonly backend: TerminalBackend,
    private readonly sink: OutputSink,
    private readonly opts: SessionOptions,
  ) {
    backend.onClose(info => this.finish(info))
    if (opts.idleTimeoutMs > 0) {
      this.idleTimer = setTimeout(() => this.close(REASONS.idleTimeout), opts.idleTimeoutMs)
      this.idleTimer.unref()
    }
  }

  get type(): 'ssh' | 'serial' {
    return this.backend.type
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Starts output; call after the connect reply went out, so it precedes the first output. */
  start(): void {
    if (this.closed) return
    this.backend.onData(chunk => this.onChunk(chunk))
  }

  private touch(): void {
    this.idleTimer?.refresh()
  }

  private onChunk(chunk: Buffer): void {
    if (this.closed) return
    this.bytesOut += chunk.length
    this.touch()
    const text = this.decoder.write(chunk)
    if (text) this.sink.output(text)
    if (!this.paused && this.sink.bufferedAmount() > this.opts.highWaterBytes) {
      this.paused = true
      this.pauses++
      this.backend.pause()
      this.sink.onDrain(() => {
        if (this.closed || !this.paused) return
        this.paused = false
        this.backend.resume()
      })
    }
  }

  write(input: string): void {
    if (this.closed) return
    this.touch()
    this.backend.write(input)
  }

  resize(cols: number, rows: number): void {
    if (this.closed) return
    this.touch()
    this.backend.resize(cols, rows)
  }

  onClose(cb: (info: CloseInfo) => void): void {
    this.closeCbs.push(cb)
  }

  close(reason: string): void {
    if (this.closed) return
    this.backend.close(reason)
    // Backends report close synchronously or soon; make sure we finish either way.
    this.finish({ reason })
  }

  private finish(info: CloseInfo): void {
    if (this.closed) return
    this.closed = true
    if (this.idleTimer) clearTimeout(this.idleTimer)
    const tail = this.decoder.end()
    if (tail) this.sink.output(tail)
    for (const cb of this.closeCbs) cb(info)
  }
}
