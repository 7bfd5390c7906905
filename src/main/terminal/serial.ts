/**
 * Serial console sessions over the byte stream libvirt gives for the VM's
 * console (opened in safe mode by the hypervisor bridge, so another user's
 * console is never forced off). A serial line has no window size: resize is
 * accepted and does nothing.
 */
import type { Duplex } from 'node:stream'
import type { CloseInfo, TerminalBackend } from './backend.js'

export class SerialBackend implements TerminalBackend {
  readonly type = 'serial' as const
  private closed = false
  private requestedReason: string | undefined
  private closeCbs: Array<(i: CloseInfo) => void> = []

  constructor(private readonly stream: Duplex) {
    stream.pause()
    stream.on('end', () => this.finish(this.requestedReason ?? 'console-closed'))
    stream.on('close', () => this.finish(this.requestedReason ?? 'console-closed'))
    stream.on('error', () => this.finish(this.requestedReason ?? 'console-error'))
  }

  private finish(reason: string): void {
    if (this.closed) return
    this.closed = true
    if (!this.stream.destroyed) this.stream.destroy()
    for (const cb of this.closeCbs) cb({ reason })
  }

  onData(cb: (chunk: Buffer) => void): void {
    this.stream.on('data', (c: Buffer | string) => cb(typeof c === 'string' ? Buffer.from(c, 'utf8') : c))
    this.stream.resume()
  }

  onClose(cb: (info: CloseInfo) => void): void {
    this.closeCbs.push(cb)
  }

  write(input: string): void {
    if (!this.closed && this.stream.writable) this.stream.write(Buffer.from(input, 'utf8'))
  }

  resize(): void {
    // A serial line has no window size to set.
  }

  /**
   * Called by the session at the same client-side bound as SSH sessions. The
   * console stream then fills its small readable buffer and, on its own
   * connection, stops reading the libvirt socket, so the daemon stops reading
   * the guest's console and nothing piles up here.
   */
  pause(): void {
    this.stream.pause()
  }

  resume(): void {
    this.stream.resume()
  }

  close(reason: string): void {
    this.requestedReason ??= reason
    this.finish(reason)
  }
}
