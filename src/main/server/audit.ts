/**
 * The audit log: one JSON object per line in `audit.log` in the data dir —
 * who did what to which VM and the result. Callers pass no secrets, and the
 * detail text is still cut short and scrubbed of anything token-shaped.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { join } from 'node:path'

export const AUDIT_FILE = 'audit.log'

export interface AuditRecord {
  userId?: string
  username?: string
  action: string
  vmId?: string
  result: 'ok' | 'denied' | 'error'
  detail?: string
  remote?: string
}

const JWT_LIKE = /eyJ[\w-]+\.[\w-]+\.[\w-]+/g

export class AuditLog {
  private stream: WriteStream | undefined

  constructor(readonly file: string) {}

  static forDataDir(dataDir: string): AuditLog {
    return new AuditLog(join(dataDir, AUDIT_FILE))
  }

  write(rec: AuditRecord): void {
    this.stream ??= createWriteStream(this.file, { flags: 'a', mode: 0o600 })
    const line = {
      time: new Date().toISOString(),
      ...rec,
      ...(rec.detail !== undefined ? { detail: rec.detail.replace(JWT_LIKE, '[token]').slice(0, 500) } : {}),
    }
    this.stream.write(JSON.stringify(line) + '\n')
  }

  close(): Promise<void> {
    const s = this.stream
    this.stream = undefined
    return s ? new Promise(ok => s.end(() => ok())) : Promise.resolve()
  }
}
