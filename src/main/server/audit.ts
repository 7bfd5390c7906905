/**
 * The audit log: one JSON object per line in `audit.log` in the data dir —
 * who did what to which VM and the result. Callers pass no secrets, and the
 * detail text is still cut short and scrubbed of anything token-shaped.
 *
 * The log is rotated by size: when the next line would take `audit.log` past
 * `maxBytes`, it becomes `audit.log.1` (`.1` becomes `.2` …, up to `keep`
 * files; the oldest is dropped). Lines are written whole and rotation happens
 * only between lines, so no line is torn or split across files. The server
 * and CLI commands may append to the same log at once: appends use O_APPEND,
 * and rotation runs under the log's lock file, after checking that nobody
 * else rotated first.
 */
import { open, rename, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { withLock } from './lockfile.js'

export const AUDIT_FILE = 'audit.log'
export const DEFAULT_AUDIT_MAX_BYTES = 10 * 1024 * 1024
export const DEFAULT_AUDIT_KEEP = 5

export interface AuditRecord {
  userId?: string
  username?: string
  action: string
  vmId?: string
  result: 'ok' | 'denied' | 'error'
  detail?: string
  remote?: string
}

export interface AuditLogOptions {
  /** Rotate before the log would grow past this many bytes (default 10 MiB). */
  maxBytes?: number
  /** Rotated files kept: audit.log.1 … audit.log.N (default 5). */
  keep?: number
  /** Called when the log cannot be written (the caller logs it). */
  onError?: (err: unknown) => void
}

const JWT_LIKE = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g

/** Parses a size such as `10485760`, `512K`, `10M`, `10MiB` or `1G` (binary units). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(text)
  if (!m) throw new Error(`invalid size '${text}': use bytes or a number with K, M or G (e.g. 10M)`)
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g']
  return Math.floor(Number(m[1]) * unit)
}

export class AuditLog {
  readonly maxBytes: number
  readonly keep: number
  private readonly onError: (err: unknown) => void
  private queue: string[] = []
  private pumping: Promise<void> | undefined
  private fh: FileHandle | undefined
  private closed = false

  constructor(
    readonly file: string,
    opts: AuditLogOptions = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES
    this.keep = opts.keep ?? DEFAULT_AUDIT_KEEP
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 1024)
      throw new Error(`audit log size limit ${this.maxBytes} is too small: use at least 1024 bytes`)
    if (!Number.isInteger(this.keep) || this.keep < 1 || this.keep > 1000)
      throw new Error(`audit log keep count ${this.keep} is invalid: use 1-1000`)
    this.onError = opts.onError ?? (() => undefined)
  }

  static forDataDir(dataDir: string, opts: AuditLogOptions = {}): AuditLog {
    return new AuditLog(join(dataDir, AUDIT_FILE), opts)
  }

  /** Queues one record; it reaches the file shortly (flush() / close() wait for it). */
  write(rec: AuditRecord): void {
    if (this.closed) return
    const line = {
      time: new Date().toISOString(),
      ...rec,
      ...(rec.detail !== undefined ? { detail: rec.detail.replace(JWT_LIKE, '[token]').slice(0, 500) } : {}),
    }
    this.queue.push(JSON.stringify(line) + '\n')
    this.pumping ??= this.pump().finally(() => (this.pumping = undefined))
  }

  /** Resolves once every record written so far is in the file. */
  async flush(): Promise<void> {
    while (this.pumping) await this.pumping
  }

  async close(): Promise<void> {
    this.closed = true
    await this.flush()
    const fh = this.fh
    this.fh = undefined
    await fh?.close()
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const lines = this.queue
      this.queue = []
      try {
        await this.append(lines)
      } catch (err) {
        this.onError(err)
        await this.fh?.close().catch(() => undefined)
        this.fh = undefined
      }
    }
  }

  /** Opens the log (again, if another process rotated it away) and returns its current size. */
  private async current(): Promise<{ fh: FileHandle; size: number; ino: number }> {
    if (this.fh) {
      const [onDisk, mine] = await Promise.all([stat(this.file).catch(() => undefined), this.fh.stat()])
      if (onDisk?.ino === mine.ino) return { fh: this.fh, size: mine.size, ino: mine.ino }
      await this.fh.close()
      this.fh = undefined
    }
    this.fh = await open(this.file, 'a', 0o600)
    const st = await this.fh.stat()
    return { fh: this.fh, size: st.size, ino: st.ino }
  }

  private async append(lines: string[]): Promise<void> {
    let i = 0
    let overLimit = false
    while (i < lines.length) {
      const { fh, size, ino } = await this.current()
      // As many whole lines as fit; a single line longer than the limit goes alone into a fresh file.
      let chunk = ''
      let bytes = 0
      while (i < lines.length) {
        const n = Buffer.byteLength(lines[i] as string)
        if (!overLimit && size + bytes + n > this.maxBytes && size + bytes > 0) break
        chunk += lines[i]
        bytes += n
        i++
      }
      if (bytes === 0) {
        // A failed rotation lets this batch grow the file past the limit rather than lose it.
        overLimit = !(await this.rotate(ino))
        continue
      }
      await fh.write(chunk)
    }
  }

  /**
   * Shifts audit.log → .1 → .2 … unless another writer already rotated the
   * file this one has open. False when it could not rotate.
   */
  private async rotate(ino: number): Promise<boolean> {
    try {
      await withLock(
        `${this.file}.lock`,
        async () => {
          const st = await stat(this.file).catch(() => undefined)
          if (st?.ino !== ino) return
          for (let k = this.keep - 1; k >= 1; k--)
            await rename(`${this.file}.${k}`, `${this.file}.${k + 1}`).catch((err: NodeJS.ErrnoException) => {
              if (err.code !== 'ENOENT') throw err
            })
          await rename(this.file, `${this.file}.1`)
        },
        { timeoutMs: 5000 },
      )
      await this.fh?.close().catch(() => undefined)
      this.fh = undefined
      return true
    } catch (err) {
      this.onError(err)
      return false
    }
  }
}
