/**
 * The server's resource limits. Defaults are documented in docs/protocol.md;
 * startServer accepts overrides (tests use short timers).
 */
export interface Limits {
  /** Largest WebSocket frame accepted; larger frames close the socket with 1009. */
  maxFrameBytes: number
  /** Sustained client messages per second per socket (token bucket refill rate). */
  messagesPerSecond: number
  /** Token bucket size: messages a socket may send in one burst. */
  messageBurst: number
  /** Rejected (rate-limited) messages per second after which the socket is closed (1008). */
  floodCloseAfter: number
  /** Requests of one socket being processed at once. */
  maxInFlight: number
  /** Open VNC sessions per socket. */
  vncSessionsPerSocket: number
  /** Open terminal sessions per socket. */
  terminalSessionsPerSocket: number
  /** Subscriptions per socket. */
  subscriptionsPerSocket: number
  /** A socket that has not authenticated by then is closed (1008). */
  authTimeoutMs: number
  /** Sockets still waiting to authenticate, server-wide; more upgrades without ?token= get HTTP 503. */
  maxUnauthenticatedSockets: number
  /**
   * Open WebSocket connections (any endpoint) per client address; more upgrades
   * from that address get HTTP 429. Loopback counts too. 0 = no cap.
   */
  maxConnectionsPerAddress: number
  /** Ping interval; a peer that missed one pong by the next ping is dropped. */
  heartbeatMs: number
  /** Above this many queued bytes, latest-wins pushes are held back (only the newest per key is kept). */
  latestWinsHighWater: number
  /** onDrain callbacks fire once the queue is below this. */
  drainLowWater: number
  /** A socket whose queue exceeds this is dropped as a stalled consumer (close 1008). */
  maxBufferedBytes: number
  /** Failed logins per user name before it is locked out for a while. */
  loginFailuresPerUser: number
  /** Failed logins per client address before it is locked out for a while. */
  loginFailuresPerAddress: number
  /** First lockout; it doubles with each further failure, up to loginLockoutMaxMs. */
  loginLockoutMs: number
  loginLockoutMaxMs: number
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameBytes: 1 << 20,
  messagesPerSecond: 400,
  messageBurst: 800,
  floodCloseAfter: 4000,
  maxInFlight: 1000,
  vncSessionsPerSocket: 4,
  terminalSessionsPerSocket: 8,
  subscriptionsPerSocket: 1024,
  authTimeoutMs: 10_000,
  maxUnauthenticatedSockets: 512,
  maxConnectionsPerAddress: 64,
  heartbeatMs: 30_000,
  latestWinsHighWater: 256 * 1024,
  drainLowWater: 64 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  loginFailuresPerUser: 5,
  loginFailuresPerAddress: 20,
  loginLockoutMs: 30_000,
  loginLockoutMaxMs: 15 * 60_000,
}

/** A token bucket: `take()` is false when the client is over its rate. */
export class TokenBucket {
  private tokens: number
  private last = Date.now()

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst
  }

  take(): boolean {
    const now = Date.now()
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

interface ThrottleEntry {
  failures: number
  lockedUntil: number
  lastFailure: number
}

/**
 * Login throttling per user name and per client address: after N failures the
 * key is locked out, for longer with each further failure; a success clears it.
 */
export class LoginThrottle {
  private entries = new Map<string, ThrottleEntry>()

  constructor(private readonly limits: Limits) {}

  /** Milliseconds until a login may be tried again (0 = now). */
  retryAfter(address: string, username: string): number {
    const now = Date.now()
    const wait = (key: string) => Math.max(0, (this.entries.get(key)?.lockedUntil ?? 0) - now)
    return Math.max(wait(`a:${address}`), wait(`u:${username.toLowerCase()}`))
  }

  fail(address: string, username: string): void {
    this.bump(`a:${address}`, this.limits.loginFailuresPerAddress)
    this.bump(`u:${username.toLowerCase()}`, this.limits.loginFailuresPerUser)
  }

  succeed(address: string, username: string): void {
    this.entries.delete(`u:${username.toLowerCase()}`)
    this.entries.delete(`a:${address}`)
  }

  private bump(key: string, max: number): void {
    const now = Date.now()
    let e = this.entries.get(key)
    // Failures older than the longest lockout are forgotten.
    if (e && now - e.lastFailure > this.limits.loginLockoutMaxMs) e = undefined
    e ??= { failures: 0, lockedUntil: 0, lastFailure: now }
    e.failures += 1
    e.lastFailure = now
    if (e.failures >= max)
      e.lockedUntil =
        now + Math.min(this.limits.loginLockoutMs * 2 ** (e.failures - max), this.limits.loginLockoutMaxMs)
    this.entries.delete(key)
    this.entries.set(key, e)
    // Bounded memory under a spray of user names: drop the oldest entries.
    while (this.entries.size > 10_000) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }
}

/** The key connections are counted under: IPv4-mapped IPv6 addresses count as their IPv4 address. */
export function addressKey(address: string | undefined): string {
  const a = (address ?? 'unknown').toLowerCase()
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

/**
 * Open connections per client address, for the per-address cap. A slot is
 * taken when an upgrade is accepted for processing and given back when its
 * socket closes, whatever endpoint or outcome.
 */
export class AddressCounter {
  private readonly counts = new Map<string, number>()

  constructor(private readonly max: number) {}

  /** Takes a slot for `key`; false (and nothing taken) when the address is at its cap. */
  tryTake(key: string): boolean {
    const n = this.counts.get(key) ?? 0
    if (this.max > 0 && n >= this.max) return false
    this.counts.set(key, n + 1)
    return true
  }

  release(key: string): void {
    const n = this.counts.get(key) ?? 0
    if (n <= 1) this.counts.delete(key)
    else this.counts.set(key, n - 1)
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0
  }
}
