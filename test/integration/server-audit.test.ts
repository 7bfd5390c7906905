/**
 * Audit log rotation with a real server: refused messages over real sockets
 * and `voidvm-server user …` commands (separate processes) write the same
 * log past its size limit; the rotated files hold only whole, valid JSON
 * lines and no record is lost. The size and keep options come from the
 * command line or VOIDVM_AUDIT_LOG_* variables.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../src/main/server/index.js'
import { runCli } from '../fixtures/cli.js'
import { connect, refusal } from '../fixtures/ws-client.js'

const cli = runCli

/** audit.log.N … audit.log.1, audit.log: oldest first. */
async function logFiles(dir: string): Promise<string[]> {
  const idx = (n: string) => Number(/\.(\d+)$/.exec(n)?.[1] ?? 0)
  return (await readdir(dir)).filter(n => /^audit\.log(\.\d+)?$/.test(n)).sort((a, b) => idx(b) - idx(a))
}

interface Rec {
  action: string
  username?: string
  vmId?: string
  result: string
  detail?: string
}

/** Every line of every log file, each parsed as JSON (a torn line fails the parse). */
async function readLog(dir: string): Promise<Rec[]> {
  const out: Rec[] = []
  for (const f of await logFiles(dir)) {
    const text = await readFile(join(dir, f), 'utf8')
    expect(text.endsWith('\n'), `${f} ends with a whole line`).toBe(true)
    for (const line of text.slice(0, -1).split('\n')) out.push(JSON.parse(line) as Rec)
  }
  return out
}

const cleanup: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const c of cleanup.reverse()) await c()
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'voidvm-audit-it-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

describe('audit log rotation', () => {
  it('a server and CLI commands writing past the size limit: rotated files of whole JSON lines, nothing lost', async () => {
    const dir = await tempDir()
    const server: RunningServer = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir: dir,
      bridges: [],
      logLevel: 'warn',
      auditLog: { maxBytes: 8 * 1024, keep: 100 },
    })
    cleanup.push(() => server.close())
    await server.users.add('watcher', 'viewer', 'watcher-password', ['*'])
    await server.users.add('target', 'viewer', 'target-password', [])
    const viewer = await connect(server.wsUrl, await server.issueToken('watcher'))

    // CLI commands append to the same log (with the same limit, from the variable) while the server writes.
    const cliRuns = Array.from({ length: 6 }, (_, i) =>
      cli(['user', 'grant', 'target', `cli-${i}-*`, '--data-dir', dir], {
        env: { VOIDVM_AUDIT_LOG_MAX_SIZE: '8K', VOIDVM_AUDIT_LOG_KEEP: '100' },
      }),
    )
    let cliDone = false
    const cliResults = Promise.all(cliRuns).finally(() => (cliDone = true))
    // Refused vm-control messages (a viewer may not control VMs), each audited as denied, sent in
    // batches until the CLI commands are done (and at least 400), so both write the log at once.
    let N = 0
    while (!cliDone || N < 400) {
      const batch = Array.from({ length: 10 }, (_, k) =>
        refusal(viewer.request('vm-control', { vmId: `vm-${N + k}`, action: 'start' })),
      )
      N += batch.length
      // 200 messages/s: under the per-socket rate limit (400/s), so every one is answered FORBIDDEN.
      expect(new Set((await Promise.all(batch)).map(e => e.code))).toEqual(new Set(['FORBIDDEN']))
      await new Promise(r => setTimeout(r, 50))
    }
    expect((await cliResults).map(r => r.code)).toEqual([0, 0, 0, 0, 0, 0])
    await viewer.close()
    await server.close()

    const files = await logFiles(dir)
    // ~140 bytes a line: 400 lines make several files of at most 8 KiB.
    expect(files.length).toBeGreaterThanOrEqual(6)
    expect(files[files.length - 1]).toBe('audit.log')
    for (const f of files) expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600)
    const recs = await readLog(dir)
    const denied = recs.filter(r => r.action === 'vm-control' && r.result === 'denied').map(r => r.vmId)
    expect(denied.sort()).toEqual(Array.from({ length: N }, (_, i) => `vm-${i}`).sort())
    const grants = recs.filter(r => r.action === 'user-grant').map(r => r.detail)
    expect(grants.sort()).toEqual(Array.from({ length: 6 }, (_, i) => `target cli-${i}-*`))
    // Files stay within the limit, save for a line a CLI process may append to a file that another
    // process rotated a moment before (it goes to the renamed file, whole): at most one per command.
    const sizes = await Promise.all(files.map(async f => (await stat(join(dir, f))).size))
    for (const size of sizes) expect(size).toBeLessThanOrEqual(8 * 1024 + 6 * 200)
  })

  it('keeps only N rotated files: the oldest records go, the newest stay', async () => {
    const dir = await tempDir()
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir: dir,
      bridges: [],
      logLevel: 'warn',
      auditLog: { maxBytes: 4096, keep: 2 },
    })
    cleanup.push(() => server.close())
    await server.users.add('v', 'viewer', 'v-password-1', ['*'])
    const c = await connect(server.wsUrl, await server.issueToken('v'))
    for (let i = 0; i < 200; i++) await refusal(c.request('vm-control', { vmId: `vm-${i}`, action: 'stop' }))
    await c.close()
    await server.close()
    expect(await logFiles(dir)).toEqual(['audit.log.2', 'audit.log.1', 'audit.log'])
    const seq = (await readLog(dir)).filter(r => r.action === 'vm-control').map(r => Number(r.vmId?.slice(3)))
    // In order, contiguous, ending with the last one written.
    expect(seq[seq.length - 1]).toBe(199)
    expect(seq).toEqual(Array.from({ length: seq.length }, (_, k) => 200 - seq.length + k))
    expect(seq.length).toBeLessThan(200)
  })

  it('serve and user commands refuse a bad --audit-log-max-size or --audit-log-keep', async () => {
    const dir = await tempDir()
    const small = await cli(['user', 'list', '--data-dir', dir, '--audit-log-max-size', '10'])
    expect(small.code).toBe(2)
    expect(small.stderr).toContain("invalid --audit-log-max-size '10': use at least 1K")
    const words = await cli(['serve', '--port', '0', '--data-dir', dir, '--audit-log-max-size', 'huge'])
    expect(words.code).toBe(2)
    expect(words.stderr).toContain("invalid size 'huge'")
    const keep = await cli(['serve', '--port', '0', '--data-dir', dir], { env: { VOIDVM_AUDIT_LOG_KEEP: '0' } })
    expect(keep.code).toBe(2)
    expect(keep.stderr).toContain("invalid --audit-log-keep '0'")
  })
})
