/**
 * docs/protocol.md stays complete: its error-code table is generated from
 * src/shared/errors.ts (run with VOIDVM_UPDATE_DOCS=1 to rewrite it), and it
 * documents every client message, server message, topic and system event.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../shared/errors.js'
import { CLIENT_MESSAGES, SYSTEM_EVENTS, TOPICS, VM_ACTIONS, VM_STATUSES } from '../../shared/protocol.js'

const DOC = resolve(import.meta.dirname, '../../../docs/protocol.md')
const BEGIN =
  '<!-- prettier-ignore-start -->\n<!-- error-codes: generated from src/shared/errors.ts; a unit test checks it -->'
const END = '<!-- prettier-ignore-end -->'

export function errorCodeTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, text]) => `| \`${code}\` | ${text.replace(/\|/g, '\\|')} |`)
  return ['| Code | Meaning |', '| --- | --- |', ...rows].join('\n')
}

describe('docs/protocol.md', () => {
  it('has the error-code table generated from src/shared/errors.ts', async () => {
    let doc = await readFile(DOC, 'utf8')
    const start = doc.indexOf(BEGIN)
    const end = doc.indexOf(END)
    expect(start).toBeGreaterThanOrEqual(0)
    expect(end).toBeGreaterThan(start)
    const want = `${BEGIN}\n${errorCodeTable()}\n${END}`
    if (process.env.VOIDVM_UPDATE_DOCS === '1') {
      doc = doc.slice(0, start) + want + doc.slice(end + END.length)
      await writeFile(DOC, doc)
    }
    expect(doc.slice(start, end + END.length)).toBe(want)
  })

  it('documents every message type, topic, action, status and event', async () => {
    const doc = await readFile(DOC, 'utf8')
    for (const type of Object.keys(CLIENT_MESSAGES)) {
      expect(doc).toContain(`### \`${type}\``)
      expect(doc).toContain(type === 'auth' ? 'auth-response' : `<type>-response`)
    }
    for (const push of [
      'vm-status',
      'system-monitor',
      'system-event',
      'error',
      'vnc-data',
      'vnc-closed',
      'terminal-output',
      'terminal-closed',
    ])
      expect(doc).toContain(`### \`${push}\``)
    for (const t of TOPICS) expect(doc).toContain(`| \`${t}\` |`)
    for (const a of VM_ACTIONS) expect(doc).toContain(`\`${a}\``)
    for (const s of VM_STATUSES) expect(doc).toContain(`\`${s}\``)
    for (const e of SYSTEM_EVENTS) expect(doc).toContain(`\`${e}\``)
  })
})
