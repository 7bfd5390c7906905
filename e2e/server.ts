/**
 * Starts the built headless server (`bin/voidvm-server.js serve`) on an
 * ephemeral loopback port for an e2e test, with its own data dir. Users are
 * created with the real CLI (`user add … --password-stdin`) against that
 * data dir, and tokens minted with `token`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface E2eUser {
  username: string
  password: string
  role: 'admin' | 'operator' | 'viewer'
}

export interface E2eServer {
  url: string
  wsUrl: string
  dataDir: string
  /** Adds a user with the CLI; grants default to ['*']; the password is random unless given. */
  addUser(username: string, role: E2eUser['role'], opts?: { password?: string; grants?: string[] }): Promise<E2eUser>
  /** A JWT for the user, from `voidvm-server token`. */
  token(username: string, ttl?: string): Promise<string>
  /** Runs any `voidvm-server` command against this data dir. */
  cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>
  /** Stops the server and removes its data dir, unless `keepDataDir` (to start another server on it). */
  stop(opts?: { keepDataDir?: boolean }): Promise<void>
}

export interface E2eServerOptions {
  /** --libvirt-uri (default test:///default, so no real VM is touched unless asked). */
  libvirtUri?: string
  /** More `serve` arguments. */
  args?: string[]
  env?: Record<string, string>
  /** Listen on this port instead of an ephemeral one (e.g. the port of a server that stopped). */
  port?: number
  /** Use this data dir (e.g. a stopped server's, so its users and tokens stay valid). */
  dataDir?: string
}

const BIN = 'bin/voidvm-server.js'

function runCli(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += String(d)))
    child.stderr.on('data', d => (stderr += String(d)))
    child.once('error', fail)
    child.once('exit', code => ok({ code: code ?? 1, stdout, stderr }))
    child.stdin.end(stdin ?? '')
  })
}

/**
 * `startE2eServer()` / `startE2eServer({ libvirtUri, args, env })`; the older
 * form `startE2eServer(extraArgs, env)` still works.
 */
export async function startE2eServer(
  optsOrArgs: E2eServerOptions | string[] = {},
  legacyEnv: Record<string, string> = {},
): Promise<E2eServer> {
  const opts: E2eServerOptions = Array.isArray(optsOrArgs) ? { args: optsOrArgs, env: legacyEnv } : optsOrArgs
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'voidvm-e2e-')))
  const port = String(opts.port ?? 0)
  const env = { VOIDVM_DATA_DIR: dataDir, ...opts.env }
  const args = ['serve', '--port', port, '--data-dir', dataDir, ...(opts.args ?? [])]
  if (!args.includes('--libvirt-uri')) args.push('--libvirt-uri', opts.libvirtUri ?? 'test:///default')
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, VOIDVM_PORT: port, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
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
  const cli = (cliArgs: string[], stdin?: string) => runCli([...cliArgs, '--data-dir', dataDir], env, stdin)
  const must = async (cliArgs: string[], stdin?: string) => {
    const r = await cli(cliArgs, stdin)
    if (r.code !== 0) throw new Error(`voidvm-server ${cliArgs.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r
  }
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/ws',
    dataDir,
    cli,
    async addUser(username, role, o = {}) {
      const password = o.password ?? randomBytes(12).toString('base64url')
      await must(['user', 'add', username, '--role', role, '--password-stdin'], password + '\n')
      for (const g of o.grants ?? ['*'])
        if (!(role === 'admin' && g === '*')) await must(['user', 'grant', username, g])
      return { username, password, role }
    },
    async token(username, ttl) {
      const r = await must(['token', username, ...(ttl ? ['--ttl', ttl] : [])])
      return r.stdout.trim()
    },
    stop: stopOpts =>
      new Promise<void>(ok => {
        const done = () =>
          stopOpts?.keepDataDir ? ok() : void rm(dataDir, { recursive: true, force: true }).then(() => ok())
        if (child.exitCode !== null) return done()
        child.once('exit', done)
        child.kill('SIGTERM')
      }),
  }
}
