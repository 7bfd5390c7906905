/**
 * A SocketLike backed by the socket worker: the client cannot tell the
 * difference, except that messages arrive already parsed and in bursts.
 */
import type { SocketFactory, SocketLike } from './types'
import type { WorkerIn, WorkerOut } from './workerProtocol'

/** Set when a worker could not run (e.g. a host that forbids workers): later sockets are plain. */
let workerBroken = false

class WorkerSocket implements SocketLike {
  readyState = 0
  onopen: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number; reason: string }) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  private readonly worker: Worker

  constructor(url: string) {
    this.worker = new Worker(new URL('./socket.worker.ts', import.meta.url), { type: 'module', name: 'voidvm-socket' })
    this.worker.onmessage = (e: MessageEvent<WorkerOut>) => this.receive(e.data)
    this.worker.onerror = () => {
      if (this.readyState === 0) workerBroken = true
      this.receive({ kind: 'close', code: 1006, reason: 'socket worker failed' })
    }
    this.post({ op: 'open', url })
  }

  private post(m: WorkerIn): void {
    this.worker.postMessage(m)
  }

  private receive(m: WorkerOut): void {
    switch (m.kind) {
      case 'open':
        this.readyState = 1
        this.onopen?.({})
        break
      case 'error':
        this.onerror?.({})
        break
      case 'close':
        if (this.readyState === 3) return
        this.readyState = 3
        this.worker.terminate()
        this.onclose?.({ code: m.code, reason: m.reason })
        break
      case 'batch': {
        let messages: unknown[]
        try {
          messages = JSON.parse(m.text) as unknown[]
        } catch {
          return // the worker parsed each frame: this cannot happen
        }
        for (const data of messages) this.onmessage?.({ data })
        break
      }
    }
  }

  send(data: string): void {
    if (this.readyState === 1) this.post({ op: 'send', data })
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return
    this.readyState = 2
    this.post({ op: 'close', code, reason })
    // The worker reports the close; if it is gone already, don't wait for it.
    setTimeout(() => this.worker.terminate(), 2000)
  }
}

/** The worker-backed socket where Workers exist; undefined means "use a plain WebSocket". */
export function workerSocketFactory(): SocketFactory | undefined {
  if (typeof Worker === 'undefined') return undefined
  return url => {
    if (!workerBroken)
      try {
        return new WorkerSocket(url)
      } catch {
        workerBroken = true
      }
    return new WebSocket(url) as unknown as SocketLike
  }
}
