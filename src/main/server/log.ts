/**
 * A small leveled logger for the server: one line per event on stderr. Fields
 * whose names look like secrets are replaced before printing, so a careless
 * caller cannot leak a password or token into the log.
 */
import type { Logger } from './bridge.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

const SECRET_KEY = /pass(word|phrase)?|token|secret|private_?key|credential|authorization|cookie|jwt/i

/** Copies `fields` with secret-looking keys masked (recursively, bounded depth). */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(v => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)
  return out
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = l => process.stderr.write(l),
): Logger {
  const min = LEVELS[level]
  const emit = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return
    const extra = fields && Object.keys(fields).length > 0 ? ' ' + JSON.stringify(redact(fields)) : ''
    write(`${new Date().toISOString()} ${lvl} ${msg}${extra}\n`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  }
}
