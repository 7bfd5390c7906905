/**
 * The `voidvm-server` CLI (run from source, as a separate process like an
 * admin would) against a data dir shared with a running server.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../src/main/server/index.js'
import { UserStore } from '../../src/main/server/users.js'
import { HEADLESS, ROOT, runCli } from '../fixtures/cli.js'
import { connect } from '../fixtures/ws-client.js'

const cli = runCli

async function upgradeStatus(wsUrl: string, token: string): Promise<number> {
  try {
    const c = await connect(wsUrl, token)
    await c.close()
    return 101
  } catch (err) {
    return (err as { statusCode?: number }).statusCode ?? 0
  }
}

let dir: string
let server: RunningServer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-cli-test-'))
  server = await startServer({ host: '127.0.0.1', port: 0, dataDir: dir, bridges: [], logLevel: 'warn' })
})

afterAll(async () => {
  await server?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('voidvm-server CLI', () => {
  it('user add / token / user remove round trip against a running server', async () => {
    const add = await cli(['user', 'add', 'carol', '--role', 'operator', '--password-stdin', '--data-dir', dir], {
      stdin: 'carol-password-1\n',
    })
    expect(add.stderr).toContain("Added operator 'carol'")
    expect(add.code).toBe(0)

    const grant = await cli(['user', 'grant', 'carol', 'web-*', '--data-dir', dir])
    expect(grant.code).toBe(0)
    const list = await cli(['user', 'list'], { env: { VOIDVM_DATA_DIR: dir } })
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(/carol\s+operator\s+web-\*/)

    const tok = await cli(['token', 'carol', '--ttl', '2h', '--data-dir', dir])
    expect(tok.code).toBe(0)
    const token = tok.stdout.trim()
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)

    // The token works on the running server, and login works with the piped password.
    const c = await connect(server.wsUrl, token)
    const who = await c.request<{ username: string; role: string; expiresAt: string }>('auth', { token })
    expect(who).toMatchObject({ username: 'carol', role: 'operator' })
    const ttl = Date.parse(who.expiresAt) - Date.now()
    expect(ttl).toBeGreaterThan(7100_000)
    expect(ttl).toBeLessThanOrEqual(7200_000)
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'carol', password: 'carol-password-1' }),
    })
    expect(login.status).toBe(200)

    const rm1 = await cli(['user', 'remove', 'carol', '--data-dir', dir])
    expect(rm1.code).toBe(0)
    // Removal revokes: the open socket is told and closed, the token refused from then on.
    expect((await c.next<{ code: string }>('error', undefined, 8000)).code).toBe('UNAUTHORIZED')
    expect((await c.closed).code).toBe(1008)
    expect(await upgradeStatus(server.wsUrl, token)).toBe(401)
    const again = await cli(['token', 'carol', '--data-dir', dir])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain("no user named 'carol'")
  })

  it('user passwd revokes earlier tokens', async () => {
    await cli(['user', 'add', 'dave', '--role', 'viewer', '--password-stdin', '--data-dir', dir], {
      stdin: 'dave-password-1\n',
    })
    const token = (await cli(['token', 'dave', '--data-dir', dir])).stdout.trim()
    expect(await upgradeStatus(server.wsUrl, token)).toBe(101)
    const pw = await cli(['user', 'passwd', 'dave', '--password-stdin', '--data-dir', dir], {
      stdin: 'dave-password-2\n',
    })
    expect(pw.code).toBe(0)
    expect(await upgradeStatus(server.wsUrl, token)).toBe(401)
    const fresh = (await cli(['token', 'dave', '--data-dir', dir])).stdout.trim()
    expect(await upgradeStatus(server.wsUrl, fresh)).toBe(101)
  })

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    const noRole = await cli(['user', 'add', 'erin', '--password-stdin', '--data-dir', dir], { stdin: 'x\n' })
    expect(noRole.code).toBe(2)
    expect(noRole.stderr).toContain('missing --role')
    const badRole = await cli(['user', 'add', 'erin', '--role', 'root', '--password-stdin', '--data-dir', dir], {
      stdin: 'erin-password-1\n',
    })
    expect(badRole.code).toBe(2)
    expect(badRole.stderr).toContain("invalid role 'root'")
    // The role is checked before any password prompt.
    const badRoleNoTty = await cli(['user', 'add', 'erin', '--role', 'root', '--data-dir', dir])
    expect(badRoleNoTty.code).toBe(2)
    expect(badRoleNoTty.stderr).toContain("invalid role 'root'")
    const short = await cli(['user', 'add', 'erin', '--role', 'viewer', '--password-stdin', '--data-dir', dir], {
      stdin: 'short\n',
    })
    expect(short.code).toBe(1)
    expect(short.stderr).toMatch(/at least 8 characters/)
    const noTty = await cli(['user', 'add', 'erin', '--role', 'viewer', '--data-dir', dir])
    expect(noTty.code).toBe(1)
    expect(noTty.stderr).toContain('--password-stdin')
    const badTtl = await cli(['token', 'dave', '--ttl', 'forever', '--data-dir', dir])
    expect(badTtl.code).toBe(1)
    expect(badTtl.stderr).toContain("invalid TTL 'forever'")
    const unknown = await cli(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'frobnicate'")
    const badOpt = await cli(['serve', '--prot', '3000'])
    expect(badOpt.code).toBe(2)
    expect(badOpt.stderr).toContain('--prot')
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    for (const cmd of ['serve', 'user add', 'user remove', 'user passwd', 'user list', 'user grant', 'token'])
      expect(help.stdout).toContain(cmd)
  })

  it('options also come from VOIDVM_* variables (serve on VOIDVM_PORT / VOIDVM_DATA_DIR)', async () => {
    const envDir = await mkdtemp(join(tmpdir(), 'voidvm-cli-env-'))
    const child = spawn(process.execPath, ['--import', 'tsx', HEADLESS, 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        VOIDVM_PORT: '0',
        VOIDVM_DATA_DIR: envDir,
        VOIDVM_LIBVIRT_URI: 'test:///default',
        VOIDVM_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = ''
        child.stdout.on('data', d => {
          out += String(d)
          const m = /listening on (\S+)/.exec(out)
          if (m?.[1]) ok(m[1])
        })
        child.once('exit', code => fail(new Error(`exited ${code}`)))
      })
      const health = (await (await fetch(`${url}/api/health`)).json()) as { hypervisor: { uri: string } }
      expect(health.hypervisor.uri).toBe('test:///default')
      expect((await stat(join(envDir, 'jwt-secret'))).isFile()).toBe(true)
    } finally {
      const exited = new Promise(r => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
      await rm(envDir, { recursive: true, force: true })
    }
  })
})

describe('data dir', () => {
  it('the token secret, users file and audit log are mode 0600 in a 0700 dir', async () => {
    expect((await stat(join(dir, 'jwt-secret'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'users.json'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'audit.log'))).mode & 0o777).toBe(0o600)
    expect((await stat(dir)).mode & 0o077).toBe(0)
    const secret = (await readFile(join(dir, 'jwt-secret'), 'utf8')).trim()
    expect(Buffer.from(secret, 'base64url').length).toBe(32)
    // Passwords are stored only as scrypt hashes.
    const users = await readFile(join(dir, 'users.json'), 'utf8')
    expect(users).not.toContain('dave-password')
    expect(users).toMatch(/"passwordHash": "scrypt\$/)
  })

  it('the users file survives a crash mid-write (atomic rename)', async () => {
    const crashDir = await mkdtemp(join(tmpdir(), 'voidvm-crash-'))
    try {
      // A big file, so that a kill lands inside a write: 1,500 users.
      const store = await UserStore.open(crashDir)
      await store.add('root1', 'admin', 'root1-password')
      const base = JSON.parse(await readFile(store.file, 'utf8')) as { users: Record<string, unknown>[] }
      const template = base.users[0] as Record<string, unknown>
      base.users = Array.from({ length: 1500 }, (_, i) => ({
        ...template,
        id: `id-${i}`,
        username: `user${i}`,
        grants: [`vm-${i}-*`],
      }))
      await writeFile(store.file, JSON.stringify(base, null, 2), { mode: 0o600 })

      // A writer process that rewrites the file as fast as it can, killed with SIGKILL at random moments.
      const script = join(crashDir, 'writer.mts')
      await writeFile(
        script,
        `import { UserStore } from ${JSON.stringify(join(ROOT, 'src/main/server/users.ts'))}
const s = await UserStore.open(process.argv[2])
process.stdout.write('ready\\n')
for (let i = 0; ; i++) await s.grant('user' + (i % 1500), 'extra-' + i)
`,
      )
      // Each write now also takes the users.json lock, so a random kill lands inside a write
      // less often: keep killing (bounded) until two kills have hit one.
      let tornWrites = 0
      for (let round = 0; round < 40 && tornWrites < 2; round++) {
        const child = spawn(process.execPath, ['--import', 'tsx', script, crashDir], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        await new Promise<void>(ok => child.stdout.once('data', () => ok()))
        await new Promise(r => setTimeout(r, 150 + Math.random() * 400))
        const exited = new Promise(r => child.once('exit', r))
        child.kill('SIGKILL')
        await exited
        // A kill that landed mid-write left its torn temp file behind; users.json itself is never torn.
        const leftovers = (await readdir(crashDir)).filter(f => f.endsWith('.tmp'))
        expect(leftovers.every(f => f.startsWith('.users.json.'))).toBe(true)
        tornWrites += leftovers.length
        const after = JSON.parse(await readFile(store.file, 'utf8')) as { users: { username: string }[] }
        expect(after.users.length).toBe(1500)
        // Opening the store again reads the complete file and removes the dead writer's temp file.
        const reopened = await UserStore.open(crashDir)
        expect(reopened.get('user1499')?.grants[0]).toBe('vm-1499-*')
        expect((await readdir(crashDir)).filter(f => f.endsWith('.tmp'))).toEqual([])
      }
      // The test did hit writes in progress (not only the gaps between them).
      expect(tornWrites).toBeGreaterThan(0)
      // The dead writers' lock is no obstacle: the next change takes it over and lands.
      const next = await UserStore.open(crashDir)
      await next.grant('user7', 'after-crash')
      expect((await UserStore.open(crashDir)).get('user7')?.grants).toContain('after-crash')
    } finally {
      await rm(crashDir, { recursive: true, force: true })
    }
  })
})
