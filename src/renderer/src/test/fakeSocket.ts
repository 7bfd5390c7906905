/**
 * An in-memory socket for the client's unit tests: records what the client
 * sends and lets the test play the server's side. (The e2e tests run the real
 * server; this only exercises the client's own logic.)
 */
import type { SocketFactory, SocketLike } from '../api/types'

export class FakeSocket implements SocketLike {
  readyState = 0
  sent: { type: string; data: unknown; id?: string }[] = []
  closed = false
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as { type: string; data: unknown; id?: string })
  }
  close(): void {
    this.closed = true
    this.readyState = 3
  }
  open(): void {
    this.readyState = 1
    this.onopen?.({})
  }
  serverSends(msg: object): void {
    this.onmessage?.({ data: JSON.stringify({ timestamp: new Date().toISOString(), ...msg }) })
  }
  drop(reason = ''): void {
    this.readyState = 3
    this.onclose?.({ code: 1006, reason })
  }
  last(type: string): { type: string; data: unknown; id?: string } | undefined {
    return [...this.sent].reverse().find(m => m.type === type)
  }
  /** Answers the auth message the client sent on open. */
  acceptAuth(role: 'admin' | 'operator' | 'viewer' = 'admin'): void {
    const auth = this.last('auth')
    this.serverSends({
      type: 'auth-response',
      id: auth?.id,
      data: { userId: 'u1', username: 'alice', role, expiresAt: new Date(Date.now() + 3600_000).toISOString() },
    })
  }
}

export function fakeFactory(): { factory: SocketFactory; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = []
  return {
    sockets,
    factory: url => {
      const s = new FakeSocket(url)
      sockets.push(s)
      return s
    },
  }
}

/** Manual timers so backoff and timeouts are tested without waiting. */
export function manualTimers() {
  let now = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  let seq = 1
  return {
    setTimeout: (fn: () => void, ms: number) => {
      const id = seq++
      timers.set(id, { at: now + ms, fn })
      return id
    },
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    advance(ms: number) {
      now += ms
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && timers.has(id)) {
          timers.delete(id)
          t.fn()
        }
      }
    },
    pending: () => [...timers.values()].map(t => t.at - now),
  }
}
