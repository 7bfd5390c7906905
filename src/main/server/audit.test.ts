import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AUDIT_FILE, AuditLog, parseSize } from './audit.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-audit-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The log's files, oldest first: audit.log.N … audit.log.1, audit.log. */
async function logFiles(): Promise<string[]> {
  const names = (await readdir(dir)).filter(n => /^audit\.log(\.\d+)?$/.test(n))
  const idx = (n: string) => Number(/\.(\d+)$/.exec(n)?.[1] ?? 0)
  return names.sort((a, b) => idx(b) - idx(a))
}

/** Every line of every file, parsed (throws on a torn or invalid line). */
async function records(): Promise<{ file: string; rec: Record<string, unknown> }[]> {
  const out: { file: string; rec: Record<string, unknown> }[] = []
  for (const f of await logFiles()) {
    const text = await readFile(join(dir, f), 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    for (const line of text.slice(0, -1).split('\n'))
      out.push({ file: f, rec: JSON.parse(line) as Record<string, unknown> })
  }
  return out
}

describe('parseSize', () => {
  it('reads bytes and binary K/M/G units', () => {
    expect(parseSize('4096')).toBe(4096)
    expect(parseSize('512K')).toBe(512 * 1024)
    expect(parseSize('10M')).toBe(10 * 1024 * 1024)
    expect(parseSize('10MiB')).toBe(10 * 1024 * 1024)
    expect(parseSize('1g')).toBe(1024 ** 3)
    expect(() => parseSize('ten megs')).toThrow(/invalid size 'ten megs'/)
  })
})

describe('audit log rotation', () => {
  it('rotates by size into audit.log.1 … .N, whole lines only, in order, dropping only the oldest files', async () => {
    const log = AuditLog.forDataDir(dir, { maxBytes: 4096, keep: 3 })
    for (let i = 0; i < 400; i++)
      log.write({ action: 'vm-control:start', vmId: `vm-${i}`, result: 'ok', detail: 'x'.repeat(i % 50) })
    await log.close()
    expect(await logFiles()).toEqual(['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log'])
    for (const f of await logFiles()) {
      const st = await stat(join(dir, f))
      expect(st.size).toBeLessThanOrEqual(4096)
      expect(st.mode & 0o777).toBe(0o600)
    }
    // Oldest to newest, the surviving records are the newest ones, none missing in between.
    const seq = (await records()).map(r => Number(String(r.rec.vmId).slice(3)))
    expect(seq[seq.length - 1]).toBe(399)
    expect(seq).toEqual(Array.from({ length: seq.length }, (_, k) => 400 - seq.length + k))
    // Rotated files were filled close to the limit (a line is < 200 bytes).
    for (const f of ['audit.log.3', 'audit.log.2', 'audit.log.1'])
      expect((await stat(join(dir, f))).size).toBeGreaterThan(4096 - 200)
  })

  it('with enough files kept, nothing is lost', async () => {
    const log = AuditLog.forDataDir(dir, { maxBytes: 2048, keep: 100 })
    for (let i = 0; i < 300; i++) {
      log.write({ action: 'login', username: `u${i}`, result: 'denied' })
      // Some writes arrive while a rotation is under way.
      if (i % 37 === 0) await new Promise(r => setTimeout(r, 1))
    }
    await log.close()
    expect((await logFiles()).length).toBeGreaterThan(5)
    expect((await records()).map(r => r.rec.username)).toEqual(Array.from({ length: 300 }, (_, i) => `u${i}`))
  })

  it('continues an existing log and rotates it when it is already at the limit', async () => {
    await writeFile(join(dir, AUDIT_FILE), JSON.stringify({ action: 'old', detail: 'x'.repeat(2000) }) + '\n', {
      mode: 0o600,
    })
    const log = AuditLog.forDataDir(dir, { maxBytes: 2048, keep: 2 })
    log.write({ action: 'new', result: 'ok' })
    await log.close()
    expect(await logFiles()).toEqual(['audit.log.1', 'audit.log'])
    expect(JSON.parse(await readFile(join(dir, 'audit.log.1'), 'utf8'))).toMatchObject({ action: 'old' })
    expect(JSON.parse(await readFile(join(dir, AUDIT_FILE), 'utf8'))).toMatchObject({ action: 'new' })
  })

  it('refuses a size limit under 1 KiB or a keep count under 1', () => {
    expect(() => AuditLog.forDataDir(dir, { maxBytes: 100 })).toThrow(/at least 1024 bytes/)
    expect(() => AuditLog.forDataDir(dir, { keep: 0 })).toThrow(/use 1-1000/)
  })

  it('several processes writing one log at once: every line is kept, whole and valid', async () => {
    const script = join(dir, 'writer.mts')
    await writeFile(
      script,
      `import { AuditLog } from ${JSON.stringify(join(import.meta.dirname, 'audit.ts'))}
const log = AuditLog.forDataDir(process.argv[2], { maxBytes: 4096, keep: 1000, onError: e => { console.error(e); process.exitCode = 1 } })
for (let i = 0; i < 250; i++) {
  log.write({ action: 'test', username: 'p' + process.argv[3], vmId: String(i), result: 'ok' })
  if (i % 10 === 0) await new Promise(r => setTimeout(r, 1))
}
await log.close()
`,
    )
    const runs = [0, 1, 2, 3].map(p => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir, String(p)], { stdio: 'inherit' })
      return new Promise<number | null>(r => child.once('exit', r))
    })
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0])
    const all = await records()
    expect(all.length).toBe(1000)
    expect((await logFiles()).length).toBeGreaterThan(10)
    for (const p of [0, 1, 2, 3]) {
      // Each writer's own records are all there, in the order it wrote them.
      const mine = all.filter(r => r.rec.username === `p${p}`).map(r => Number(r.rec.vmId))
      expect(mine).toEqual(Array.from({ length: 250 }, (_, i) => i))
    }
    expect((await readdir(dir)).filter(n => n.includes('lock'))).toEqual([])
  }, 60_000)
})
