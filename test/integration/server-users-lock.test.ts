/**
 * Concurrent writers of the users store: `voidvm-server user …` commands
 * (separate processes, run from source like server-cli.test.ts) and a running
 * server changing users at the same moment lose none of each other's
 * changes, a lock left by a dead process is taken over, and a lock held by a
 * live one ends in a clear error after the timeout.
 */
import { spawn } from 'node:child_process'
import { hostname, tmpdir } from 'node:os'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../src/main/server/index.js'
import { runCli, type CliResult } from '../fixtures/cli.js'

const cli = (args: string[], stdin = ''): Promise<CliResult> => runCli(args, { stdin })

interface StoredUser {
  username: string
  role: string
  grants: string[]
}

async function storedUsers(dir: string): Promise<StoredUser[]> {
  return (JSON.parse(await readFile(join(dir, 'users.json'), 'utf8')) as { users: StoredUser[] }).users
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise(r => child.once('exit', r))
  return child.pid ?? 0
}

let dir: string
let server: RunningServer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-users-lock-'))
  server = await startServer({ host: '127.0.0.1', port: 0, dataDir: dir, bridges: [], logLevel: 'warn' })
})

afterAll(async () => {
  await server?.close()
  await rm(dir, { recursive: true, force: true })
})

describe('concurrent changes to the users store', () => {
  it('10 concurrent `user add` commands and a running server adding users at the same time: every user is there', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `cli-user-${i}`)
    const runs = names.map(n =>
      cli(['user', 'add', n, '--role', 'viewer', '--password-stdin', '--data-dir', dir], `${n}-password\n`),
    )
    // The server writes the same file meanwhile (as the desktop app does for its local admin).
    const serverSide = Array.from({ length: 5 }, (_, i) =>
      server.users.add(`server-user-${i}`, 'operator', `server-user-${i}-password`, [`vm-${i}`]),
    )
    const results = await Promise.all(runs)
    await Promise.all(serverSide)
    for (const [i, r] of results.entries()) {
      expect(r.stderr).toContain(`Added viewer '${names[i]}'`)
      expect(r.code).toBe(0)
    }
    const stored = (await storedUsers(dir)).map(u => u.username).sort()
    expect(stored).toEqual([...names, ...Array.from({ length: 5 }, (_, i) => `server-user-${i}`)].sort())
    // The CLI agrees, and every added user can log in on the running server.
    const list = await cli(['user', 'list', '--data-dir', dir])
    for (const n of names) expect(list.stdout).toMatch(new RegExp(`^${n}\\s+viewer`, 'm'))
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'cli-user-7', password: 'cli-user-7-password' }),
    })
    expect(login.status).toBe(200)
    // No lock is left behind.
    await expect(stat(join(dir, 'users.json.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
  }, 120_000)

  it('10 concurrent `user grant` commands on one user: all 10 grants are kept', async () => {
    const patterns = Array.from({ length: 10 }, (_, i) => `web-${i}-*`)
    const results = await Promise.all(patterns.map(p => cli(['user', 'grant', 'cli-user-0', p, '--data-dir', dir])))
    expect(results.map(r => r.code)).toEqual(patterns.map(() => 0))
    const u = (await storedUsers(dir)).find(x => x.username === 'cli-user-0')
    expect(u?.grants.sort()).toEqual([...patterns].sort())
  }, 120_000)

  it('a lock left by a dead process is taken over at once', async () => {
    const pid = await deadPid()
    const lockFile = join(dir, 'users.json.lock')
    await writeFile(
      lockFile,
      JSON.stringify({ pid, host: hostname(), time: new Date().toISOString(), nonce: 'crashed-writer' }),
    )
    const r = await cli(
      ['user', 'add', 'after-crash', '--role', 'viewer', '--password-stdin', '--data-dir', dir],
      'after-crash-pw\n',
    )
    expect(r.stderr).toContain("Added viewer 'after-crash'")
    expect(r.code).toBe(0)
    // Well inside the 10 s lock timeout: the dead owner was recognised, not waited out.
    expect(r.ms).toBeLessThan(8000)
    expect((await storedUsers(dir)).some(u => u.username === 'after-crash')).toBe(true)
    await expect(stat(lockFile)).rejects.toMatchObject({ code: 'ENOENT' })
  }, 60_000)

  it('a lock held by a live process: the command waits, then fails with a clear error and changes nothing', async () => {
    const lockFile = join(dir, 'users.json.lock')
    // This test process is alive and "holds" the lock for the whole run.
    const owner = JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString(), nonce: 'busy' })
    await writeFile(lockFile, owner)
    const before = await readFile(join(dir, 'users.json'), 'utf8')
    try {
      const r = await cli(['user', 'remove', 'cli-user-1', '--data-dir', dir])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`cannot change the users: ${lockFile} is held by process ${process.pid}`)
      expect(r.stderr).toContain('gave up after 10 s')
      expect(r.stderr).toContain('remove the lock file if no such process exists')
      expect(r.ms).toBeGreaterThanOrEqual(10_000)
      expect(await readFile(join(dir, 'users.json'), 'utf8')).toBe(before)
      expect(await readFile(lockFile, 'utf8')).toBe(owner)
    } finally {
      await rm(lockFile, { force: true })
    }
    // Once the holder is done, the same command goes through.
    const again = await cli(['user', 'remove', 'cli-user-1', '--data-dir', dir])
    expect(again.code).toBe(0)
    expect((await storedUsers(dir)).some(u => u.username === 'cli-user-1')).toBe(false)
  }, 60_000)
})
