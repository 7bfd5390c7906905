// Helpers shared by the libvirt-over-SSH test files: what the SSH server ran,
// and `voidvm-server serve` as a child process on a qemu+ssh:// URI.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { TestSshd } from '../fixtures/sshd.js'

const ROOT = resolve(import.meta.dirname, '../..')

/** Command lines of the processes under `root` (from /proc): what the SSH server actually ran. */
export async function commandsUnder(root: number): Promise<string[]> {
  const parent = new Map<number, number>()
  const cmd = new Map<number, string>()
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '')
    if (!stat) continue
    parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    const line = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')
    cmd.set(Number(name), line.split('\0').filter(Boolean).join(' '))
  }
  const out: string[] = []
  for (const [pid, c] of cmd) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p))
      if (p === root) {
        out.push(c)
        break
      }
  }
  return out
}

export async function sshdPid(sshd: TestSshd): Promise<number> {
  return Number((await readFile(join(sshd.dir, 'sshd.pid'), 'utf8')).trim())
}

export interface ServedProcess {
  proc: ChildProcess
  out: { stdout: string; stderr: string }
}

/** `voidvm-server serve` on an ephemeral port with `--libvirt-uri uri`; `env` is laid over this process's. */
export function serveLibvirtUri(uri: string, dataDir: string, env: Record<string, string>): ServedProcess {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/main/headless.ts'),
      'serve',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--libvirt-uri',
      uri,
    ],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const out = { stdout: '', stderr: '' }
  proc.stdout?.on('data', d => (out.stdout += String(d)))
  proc.stderr?.on('data', d => (out.stderr += String(d)))
  return { proc, out }
}

export function stopChild(proc: ChildProcess): Promise<void> {
  return new Promise<void>(r => {
    if (proc.exitCode !== null || proc.signalCode !== null) return r()
    proc.once('exit', () => r())
    proc.kill('SIGTERM')
  })
}

export async function waitUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  context: () => string,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await Promise.resolve()
      .then(check)
      .catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms; server said: ${context().slice(-1000)}`)
    await new Promise(r => setTimeout(r, 200))
  }
}

/** The server's URL once it logs that it listens. */
export function listeningUrl(s: ServedProcess): Promise<string> {
  return waitUntil(
    () => /listening on (\S+)/.exec(s.out.stdout)?.[1],
    30_000,
    () => s.out.stderr,
  )
}

/** /api/health's hypervisor part. */
export async function hypervisorHealth(url: string): Promise<{ connected: boolean; uri: string }> {
  const h = (await (await fetch(new URL('/api/health', url))).json()) as {
    hypervisor: { connected: boolean; uri: string }
  }
  return h.hypervisor
}
