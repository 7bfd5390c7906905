/**
 * The WebSocket, off the main thread. A server tick is ~200 separate
 * vm-status frames; in the page each would be its own task (~40 µs of
 * browser overhead apiece). Here they are classified and coalesced, and the
 * page gets one message per burst: the frames' own JSON text joined into one
 * array, which the page parses in one JSON.parse (cheaper for it than
 * structured-cloning ~200 parsed objects). Everything else is forwarded at
 * once, in order.
 */
/// <reference lib="webworker" />
import type { WorkerIn, WorkerOut } from './workerProtocol'

declare const self: DedicatedWorkerGlobalScope

let ws: WebSocket | null = null
/** Raw JSON text of the frames not yet handed over. */
let pending: string[] = []
let timer: ReturnType<typeof setTimeout> | null = null
/**
 * A burst is handed over once the socket has been quiet for QUIET_MS, and
 * never later than MAX_MS after its first message (a tick's frames can take
 * a while to arrive on a busy host; 1 Hz figures don't mind 50 ms).
 */
const QUIET_MS = 10
const MAX_MS = 50
let firstAt = 0

function post(m: WorkerOut): void {
  self.postMessage(m)
}

function flush(): void {
  if (timer !== null) clearTimeout(timer)
  timer = null
  if (pending.length === 0) return
  const text = pending.length === 1 ? `[${pending[0]}]` : `[${pending.join(',')}]`
  pending = []
  post({ kind: 'batch', text })
}

self.onmessage = (e: MessageEvent<WorkerIn>) => {
  const m = e.data
  if (m.op === 'open') {
    const s = new WebSocket(m.url)
    ws = s
    s.onopen = () => post({ kind: 'open' })
    s.onerror = () => post({ kind: 'error' })
    s.onclose = ev => {
      flush()
      post({ kind: 'close', code: ev.code, reason: ev.reason })
    }
    s.onmessage = ev => {
      if (typeof ev.data !== 'string') return
      let msg: { type?: unknown; id?: unknown }
      try {
        msg = JSON.parse(ev.data) as { type?: unknown; id?: unknown }
      } catch {
        return
      }
      if (msg && msg.type === 'vm-status' && msg.id === undefined) {
        const now = performance.now()
        if (pending.length === 0) firstAt = now
        pending.push(ev.data)
        if (timer !== null) clearTimeout(timer)
        timer = setTimeout(flush, Math.max(0, Math.min(QUIET_MS, MAX_MS - (now - firstAt))))
      } else {
        pending.push(ev.data)
        flush()
      }
    }
  } else if (m.op === 'send') {
    ws?.send(m.data)
  } else if (m.op === 'close') {
    ws?.close(m.code, m.reason)
  }
}
