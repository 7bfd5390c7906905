import { spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireLock, LockTimeoutError, pidAlive, withLock } from './lockfile.js'

let dir: string
let lock: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-lock-'))
  lock = join(dir, 'data.json.lock')
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise(r => child.once('exit', r))
  expect(pidAlive(child.pid ?? 0)).toBe(false)
  return child.pid ?? 0
}

function ownerFile(pid: number, time = new Date()): string {
  return JSON.stringify({ pid, host: hostname(), time: time.toISOString(), nonce: 'someone-else' }) + '\n'
}

describe('lock file', () => {
  it('is created exclusively with the owner recorded, mode 0600, and removed on release', async () => {
    const held = await acquireLock(lock)
    const info = JSON.parse(await readFile(lock, 'utf8')) as { pid: number; host: string }
    expect(info).toMatchObject({ pid: process.pid, host: hostname() })
    expect((await stat(lock)).mode & 0o777).toBe(0o600)
    await held.release()
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('serialises read-modify-write of callers in one process', async () => {
    const file = join(dir, 'counter')
    await writeFile(file, '0')
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withLock(lock, async () => {
          const n = Number(await readFile(file, 'utf8'))
          await new Promise(r => setTimeout(r, 2))
          await writeFile(file, String(n + 1))
        }),
      ),
    )
    expect(await readFile(file, 'utf8')).toBe('20')
    expect(await readdir(dir)).toEqual(['counter'])
  })

  it('a lock held by a live process makes others wait, then fail with an error naming the owner', async () => {
    const owner = ownerFile(process.pid)
    await writeFile(lock, owner)
    const t0 = Date.now()
    const err = await acquireLock(lock, { timeoutMs: 400 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LockTimeoutError)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390)
    expect((err as Error).message).toContain(`${lock} is held by process ${process.pid} on ${hostname()}`)
    expect((err as Error).message).toContain('gave up after')
    // The owner's lock is left alone.
    expect(await readFile(lock, 'utf8')).toBe(owner)
  })

  it('a waiting caller gets the lock as soon as the holder releases it', async () => {
    const first = await acquireLock(lock)
    setTimeout(() => void first.release(), 150)
    const t0 = Date.now()
    const second = await acquireLock(lock, { timeoutMs: 5000 })
    expect(Date.now() - t0).toBeLessThan(2000)
    await second.release()
  })

  it('takes over a lock whose process is gone, at once', async () => {
    const pid = await deadPid()
    await writeFile(lock, ownerFile(pid))
    const t0 = Date.now()
    const held = await acquireLock(lock, { timeoutMs: 5000 })
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid })
    await held.release()
  })

  it('takes over a lock not refreshed for staleMs even if its pid exists (pid reuse, frozen owner)', async () => {
    await writeFile(lock, ownerFile(process.pid))
    const old = new Date(Date.now() - 5000)
    await utimes(lock, old, old)
    const held = await acquireLock(lock, { timeoutMs: 2000, staleMs: 1000 })
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid })
    expect(JSON.parse(await readFile(lock, 'utf8')).nonce).not.toBe('someone-else')
    await held.release()
  })

  it('takes over an empty lock file (its creator died before writing) once it is a few seconds old', async () => {
    await writeFile(lock, '')
    await expect(acquireLock(lock, { timeoutMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError)
    const old = new Date(Date.now() - 10_000)
    await utimes(lock, old, old)
    const held = await acquireLock(lock, { timeoutMs: 2000 })
    await held.release()
  })

  it('many processes taking over the same stale lock at once still exclude each other', async () => {
    const pid = await deadPid()
    await writeFile(lock, ownerFile(pid))
    const counter = join(dir, 'counter')
    await writeFile(counter, '0')
    const script = join(dir, 'worker.mts')
    await writeFile(
      script,
      `import { readFile, writeFile } from 'node:fs/promises'
import { withLock } from ${JSON.stringify(join(import.meta.dirname, 'lockfile.ts'))}
for (let i = 0; i < 5; i++)
  await withLock(process.argv[2], async () => {
    const n = Number(await readFile(process.argv[3], 'utf8'))
    await new Promise(r => setTimeout(r, 5))
    await writeFile(process.argv[3], String(n + 1))
  })
`,
    )
    const runs = Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, lock, counter], { stdio: 'inherit' })
      return new Promise<number | null>(r => child.once('exit', r))
    })
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0, 0, 0])
    expect(await readFile(counter, 'utf8')).toBe('30')
    expect((await readdir(dir)).sort()).toEqual(['counter', 'worker.mts'])
  }, 60_000)

  it('release does not remove a lock that was taken over by someone else', async () => {
    const held = await acquireLock(lock)
    await writeFile(lock, ownerFile(process.pid))
    await held.release()
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ nonce: 'someone-else' })
  })
})
