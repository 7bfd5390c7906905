/**
 * Starts the built headless server (`bin/voidvm-server.js serve`) on an
 * ephemeral loopback port for an e2e test, with its own data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface E2eServer {
  url: string
  dataDir: string
  stop(): Promise<void>
}

export async function startE2eServer(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<E2eServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'voidvm-e2e-'))
  const child: ChildProcess = spawn(
    process.execPath,
    ['bin/voidvm-server.js', 'serve', '--port', '0', '--data-dir', dataDir, ...extraArgs],
    { env: { ...process.env, VOIDVM_PORT: '0', VOIDVM_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.on('data', d => (stderr += String(d)))
  const url = await new Promise<string>((ok, fail) => {
    let out = ''
    const timer = setTimeout(() => fail(new Error(`server did not start in 20 s: ${stderr}`)), 20_000)
    child.stdout?.on('data', d => {
      out += String(d)
      const m = /listening on (\S+)/.exec(out)
      if (m?.[1]) {
        clearTimeout(timer)
        ok(m[1])
      }
    })
    child.once('exit', code => {
      clearTimeout(timer)
      fail(new Error(`server exited with ${code}: ${stderr}`))
    })
  })
  return {
    url,
    dataDir,
    stop: () =>
      new Promise<void>(ok => {
        if (child.exitCode !== null) return ok()
        child.once('exit', () => ok())
        child.kill('SIGTERM')
      }),
  }
}
