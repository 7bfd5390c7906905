/**
 * A connection that survives daemon restarts: reconnects with exponential
 * backoff, re-registers domain events, and reports `disconnected` /
 * `reconnected`. Callers take `.client` per call (it throws
 * LibvirtNotConnectedError while down) or use `.call(fn)`.
 */
import { EventEmitter } from 'node:events'
import { LibvirtClient } from './client.js'
import { LibvirtNotConnectedError } from './errors.js'
import { redactUri } from './transport.js'
import type { ConnectOptions, LifecycleEventData, RebootEventData } from './types.js'

export interface ReconnectOptions extends ConnectOptions {
  /** First retry delay, ms (default 250). */
  initialDelayMs?: number
  /** Backoff ceiling, ms (default 10 000). */
  maxDelayMs?: number
  /** Backoff multiplier (default 2). */
  factor?: number
  /** Register lifecycle/reboot events on every connection and forward them (default true). */
  domainEvents?: boolean
}

export interface ReconnectingEvents {
  /** Every successful connection (the first and each reconnection). */
  connected: [client: LibvirtClient]
  /** A connection that had been up was lost. */
  disconnected: [error: Error]
  /** A connection was re-established after a loss. */
  reconnected: [client: LibvirtClient]
  /** An attempt failed; the next one follows after `delayMs`. */
  'connect-failed': [error: Error, attempt: number, delayMs: number]
  lifecycle: [event: LifecycleEventData]
  reboot: [event: RebootEventData]
}

export class ReconnectingLibvirt extends EventEmitter<ReconnectingEvents> {
  private current: LibvirtClient | undefined
  private stopped = false
  private everConnected = false
  private timer: NodeJS.Timeout | undefined
  private attempt = 0
  private connecting = false
  private lastError: Error | undefined
  private waiters: Array<{ resolve: (c: LibvirtClient) => void; reject: (e: Error) => void }> = []

  constructor(
    readonly uri: string = 'qemu:///system',
    private readonly opts: ReconnectOptions = {},
  ) {
    super()
  }

  /**
   * Starts connecting (and keeps retrying in the background). Resolves with
   * the first client, or rejects if the first attempt fails — retries go on
   * regardless until close().
   */
  start(): Promise<LibvirtClient> {
    this.stopped = false
    const first = this.waitConnected()
    if (!this.current && !this.connecting && !this.timer) void this.tryConnect()
    return new Promise((resolve, reject) => {
      const onFail = (err: Error) => {
        this.off('connect-failed', onFail)
        reject(err)
      }
      this.on('connect-failed', onFail)
      first.then(
        c => {
          this.off('connect-failed', onFail)
          resolve(c)
        },
        (e: Error) => {
          this.off('connect-failed', onFail)
          reject(e)
        },
      )
    })
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.current?.isOpen === true
  }

  /** The open client; throws LibvirtNotConnectedError while disconnected. */
  get client(): LibvirtClient {
    const c = this.current
    if (!c || !c.isOpen)
      throw new LibvirtNotConnectedError(
        `not connected to libvirt at ${redactUri(this.uri)}${this.lastError ? ` (${this.lastError.message})` : ''}`,
      )
    return c
  }

  /** Runs `fn` with the current client (throws LibvirtNotConnectedError while down). */
  call<T>(fn: (client: LibvirtClient) => Promise<T>): Promise<T> {
    try {
      return fn(this.client)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Resolves with the client once connected (immediately if already). */
  waitConnected(timeoutMs = 0): Promise<LibvirtClient> {
    if (this.connected && this.current) return Promise.resolve(this.current)
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject }
      this.waiters.push(entry)
      if (timeoutMs > 0) {
        const t = setTimeout(() => {
          this.waiters = this.waiters.filter(w => w !== entry)
          reject(new LibvirtNotConnectedError(`libvirt at ${redactUri(this.uri)} not reachable within ${timeoutMs} ms`))
        }, timeoutMs)
        t.unref?.()
      }
    })
  }

  /** Stops reconnecting and closes the current connection. */
  async close(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const c = this.current
    this.current = undefined
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w.reject(new LibvirtNotConnectedError('libvirt connection closed'))
    if (c) await c.close()
  }

  private async tryConnect(): Promise<void> {
    if (this.stopped || this.connecting) return
    this.connecting = true
    this.timer = undefined
    try {
      const c = await LibvirtClient.connect(this.uri, this.opts)
      if (this.stopped) {
        await c.close()
        return
      }
      c.on('lifecycle', e => this.emit('lifecycle', e))
      c.on('reboot', e => this.emit('reboot', e))
      if (this.opts.domainEvents !== false) {
        try {
          await c.registerDomainEvents()
        } catch (err) {
          // A half-set-up connection is useless to callers: drop it and retry.
          await c.close()
          throw err
        }
      }
      if (!c.isOpen) throw new Error(`libvirt connection to ${redactUri(this.uri)} closed during setup`)
      c.once('close', err => this.onClosed(c, err))
      this.current = c
      this.attempt = 0
      this.lastError = undefined
      const wasReconnect = this.everConnected
      this.everConnected = true
      this.emit('connected', c)
      if (wasReconnect) this.emit('reconnected', c)
      const waiters = this.waiters
      this.waiters = []
      for (const w of waiters) w.resolve(c)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      this.lastError = e
      const delay = this.nextDelay()
      this.emit('connect-failed', e, this.attempt, delay)
      this.schedule(delay)
    } finally {
      this.connecting = false
    }
  }

  private nextDelay(): number {
    const initial = this.opts.initialDelayMs ?? 250
    const max = this.opts.maxDelayMs ?? 10_000
    const factor = this.opts.factor ?? 2
    const d = Math.min(max, initial * factor ** this.attempt)
    this.attempt++
    // ±20 % jitter so many clients do not hammer a restarting daemon together.
    return Math.round(d * (0.8 + Math.random() * 0.4))
  }

  private schedule(delay: number): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.tryConnect(), delay)
    this.timer.unref?.()
  }

  private onClosed(c: LibvirtClient, err: Error | undefined): void {
    if (this.current !== c) return
    this.current = undefined
    if (this.stopped) return
    const e = err ?? new Error(`libvirt connection to ${redactUri(this.uri)} closed`)
    this.lastError = e
    this.emit('disconnected', e)
    this.schedule(this.nextDelay())
  }
}
