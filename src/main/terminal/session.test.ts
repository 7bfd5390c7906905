// Pure logic of a session (decoding, flow control, idle timeout, single close)
// over an in-memory backend; the real SSH and serial paths are covered by
// test/integration/terminal*.test.ts.
import { describe, expect, it, vi } from 'vitest'
import type { CloseInfo, TerminalBackend } from './backend.js'
import { REASONS, TerminalSession } from './session.js'

class MemoryBackend implements TerminalBackend {
  readonly type = 'ssh' as const
  paused = false
  written: string[] = []
  closedWith: string | undefined
  private dataCb: ((c: Buffer) => void) | undefined
  private closeCbs: Array<(i: CloseInfo) => void> = []
  onData(cb: (c: Buffer) => void) {
    this.dataCb = cb
  }
  onClose(cb: (i: CloseInfo) => void) {
    this.closeCbs.push(cb)
  }
  emit(b: Buffer) {
    this.dataCb?.(b)
  }
  end(info: CloseInfo) {
    for (const cb of this.closeCbs) cb(info)
  }
  write(s: string) {
    this.written.push(s)
  }
  resize() {}
  pause() {
    this.paused = true
  }
  resume() {
    this.paused = false
  }
  close(reason: string) {
    this.closedWith = reason
    this.end({ reason })
  }
}

function setup(opts: { highWaterBytes?: number; idleTimeoutMs?: number } = {}) {
  const backend = new MemoryBackend()
  const out: string[] = []
  let buffered = 0
  let drain: (() => void) | undefined
  const s = new TerminalSession(
    's1',
    'vm',
    'uuid',
    backend,
    {
      output: t => {
        out.push(t)
        buffered += Buffer.byteLength(t)
      },
      bufferedAmount: () => buffered,
      onDrain: cb => (drain = cb),
    },
    { highWaterBytes: opts.highWaterBytes ?? 1000, idleTimeoutMs: opts.idleTimeoutMs ?? 0 },
  )
  s.start()
  return {
    s,
    backend,
    out,
    drainAll: () => {
      buffered = 0
      const d = drain
      drain = undefined
      d?.()
    },
  }
}

describe('TerminalSession', () => {
  it('delivers 虚拟机 whole when its bytes are split across chunks', () => {
    const { backend, out } = setup()
    const b = Buffer.from('虚拟机', 'utf8')
    backend.emit(b.subarray(0, 4))
    backend.emit(b.subarray(4, 8))
    backend.emit(b.subarray(8))
    expect(out).toEqual(['虚', '拟', '机'])
  })

  it('pauses the backend past the high-water mark and resumes on drain', () => {
    const { s, backend, drainAll } = setup({ highWaterBytes: 100 })
    backend.emit(Buffer.alloc(60, 'y'))
    expect(backend.paused).toBe(false)
    backend.emit(Buffer.alloc(60, 'y'))
    expect(backend.paused).toBe(true)
    expect(s.pauses).toBe(1)
    drainAll()
    expect(backend.paused).toBe(false)
  })

  it('closes once, with the exit status, and stops output afterwards', () => {
    const { s, backend, out } = setup()
    const closes: CloseInfo[] = []
    s.onClose(i => closes.push(i))
    backend.end({ reason: REASONS.exit, exitCode: 3 })
    s.close(REASONS.clientDisconnect)
    backend.emit(Buffer.from('late'))
    expect(closes).toEqual([{ reason: 'exit', exitCode: 3 }])
    expect(out).toEqual([])
    expect(s.isClosed).toBe(true)
  })

  it('closes an idle session, and activity postpones it', () => {
    vi.useFakeTimers()
    try {
      const { s, backend } = setup({ idleTimeoutMs: 1000 })
      vi.advanceTimersByTime(800)
      s.write('x')
      vi.advanceTimersByTime(800)
      expect(s.isClosed).toBe(false)
      vi.advanceTimersByTime(300)
      expect(s.isClosed).toBe(true)
      expect(backend.closedWith).toBe(REASONS.idleTimeout)
    } finally {
      vi.useRealTimers()
    }
  })
})
