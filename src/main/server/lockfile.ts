/**
 * An exclusive lock file for read-modify-write of files in the data dir that
 * several processes change (the CLI and a running server share users.json).
 * The atomic rename in writeFileAtomic prevents torn files; this lock
 * prevents lost updates, where two writers read the same old file and the
 * second rename drops the first one's change.
 *
 * The lock is `<file>.lock`, created with O_EXCL (`wx`) and holding the
 * owner's pid, host name, start time and a random nonce. A lock whose owner
 * is gone (its pid no longer exists on this host) or that has not been
 * refreshed for `staleMs` (the owner refreshes its mtime while it works) is
 * taken over; otherwise acquiring waits, and fails with LockTimeoutError
 * naming the owner after `timeoutMs`.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { open, readFile, rename, rm, stat, utimes } from 'node:fs/promises'

export interface LockOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number
  /** A lock not refreshed for this long is stale even if its pid looks alive (pid reuse, frozen owner). Default 30 s. */
  staleMs?: number
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000
export const DEFAULT_LOCK_STALE_MS = 30_000
/** A lock file left empty (its creator died between create and write) is stale after this long. */
const EMPTY_LOCK_STALE_MS = 5_000

interface LockInfo {
  pid: number
  host: string
  time: string
  nonce: string
}

export class LockTimeoutError extends Error {
  constructor(
    message: string,
    readonly lockFile: string,
  ) {
    super(message)
    this.name = 'LockTimeoutError'
  }
}

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string')
      return { pid: v.pid, host: v.host, time: typeof v.time === 'string' ? v.time : '', nonce: v.nonce }
  } catch {
    // Empty or partly written: judged by age alone.
  }
  return undefined
}

interface Observed {
  text: string
  info: LockInfo | undefined
  mtimeMs: number
}

async function observe(lockFile: string): Promise<Observed | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)])
    return { text, info: parseInfo(text), mtimeMs: st.mtimeMs }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Why the observed lock is stale, or undefined while its owner may still be working. */
function staleReason(o: Observed, staleMs: number): string | undefined {
  const age = Date.now() - o.mtimeMs
  if (!o.info) return age > Math.min(EMPTY_LOCK_STALE_MS, staleMs) ? 'it has no owner recorded' : undefined
  if (o.info.host === hostname() && !pidAlive(o.info.pid)) return `its process ${o.info.pid} is gone`
  if (age > staleMs) return `it was not refreshed for ${Math.round(age / 1000)} s`
  return undefined
}

function describeOwner(o: Observed | undefined): string {
  if (!o?.info) return 'another process'
  const since = Date.parse(o.info.time)
  const age = Number.isFinite(since) ? `, since ${Math.max(0, Math.round((Date.now() - since) / 1000))} s ago` : ''
  return `process ${o.info.pid} on ${o.info.host}${age}`
}

async function tryCreate(lockFile: string, content: string): Promise<boolean> {
  let fh
  try {
    fh = await open(lockFile, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try {
    await fh.writeFile(content)
  } finally {
    await fh.close()
  }
  return true
}

/**
 * Removes a stale lock, unless it changed since it was judged stale. Removal
 * is guarded by a second O_EXCL file, so two processes that both saw the same
 * stale lock cannot have one of them remove the fresh lock the other just took.
 */
async function removeStale(lockFile: string, seen: Observed, staleMs: number): Promise<boolean> {
  const guard = `${lockFile}.takeover`
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString(), nonce: '' })
  if (!(await tryCreate(guard, mine))) {
    // Another process is taking over right now; only a guard whose owner died is cleared here.
    const g = await observe(guard)
    if (g && staleReason(g, EMPTY_LOCK_STALE_MS)) {
      const aside = `${guard}.${process.pid}.${randomBytes(4).toString('hex')}`
      await rename(guard, aside).catch(() => undefined)
      await rm(aside, { force: true })
    }
    return false
  }
  try {
    const now = await observe(lockFile)
    if (now && now.text === seen.text && now.mtimeMs === seen.mtimeMs && staleReason(now, staleMs)) {
      await rm(lockFile, { force: true })
      return true
    }
    return false
  } finally {
    await rm(guard, { force: true })
  }
}

/** A held lock; release() removes it (only if it is still this holder's). */
export interface HeldLock {
  readonly file: string
  release(): Promise<void>
}

export async function acquireLock(lockFile: string, opts: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS
  const staleMs = opts.staleMs ?? DEFAULT_LOCK_STALE_MS
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    time: new Date().toISOString(),
    nonce: randomBytes(8).toString('hex'),
  }
  const content = JSON.stringify(info) + '\n'
  const deadline = Date.now() + timeoutMs
  let delay = 5
  for (;;) {
    if (await tryCreate(lockFile, content)) break
    const seen = await observe(lockFile)
    // Released between the two calls: try again at once.
    if (!seen) continue
    // A stale lock removed: try again at once. Otherwise (someone else is taking it over, or the
    // owner is alive) wait and retry.
    if (staleReason(seen, staleMs) && (await removeStale(lockFile, seen, staleMs))) continue
    if (Date.now() >= deadline)
      throw new LockTimeoutError(
        `${lockFile} is held by ${describeOwner(seen)}; gave up after ${Math.round(timeoutMs / 1000)} s. ` +
          'Another voidvm-server command may still be running: retry, or remove the lock file if no such process exists',
        lockFile,
      )
    // Jittered back-off, so waiting processes do not retry in lock step.
    await new Promise(r => setTimeout(r, delay + Math.random() * delay))
    delay = Math.min(delay * 2, 100)
  }
  // Keep the lock fresh while the holder works, so a slow holder is not taken for a dead one.
  const refresh = setInterval(
    () => {
      const t = new Date()
      void utimes(lockFile, t, t).catch(() => undefined)
    },
    Math.max(50, staleMs / 3),
  )
  refresh.unref()
  let released = false
  return {
    file: lockFile,
    async release() {
      if (released) return
      released = true
      clearInterval(refresh)
      const now = await observe(lockFile).catch(() => undefined)
      // Taken over (this holder was judged stale): the lock is someone else's now.
      if (now?.info?.nonce === info.nonce) await rm(lockFile, { force: true })
    },
  }
}

// Holders in this process, per lock file: in-process callers queue here
// instead of polling a lock file their own process holds.
const localQueues = new Map<string, Promise<unknown>>()

/** Runs `fn` holding the lock `lockFile`; the lock is released however fn ends. */
export async function withLock<T>(lockFile: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const prev = localQueues.get(lockFile) ?? Promise.resolve()
  const run = prev
    .catch(() => undefined)
    .then(async () => {
      const lock = await acquireLock(lockFile, opts)
      try {
        return await fn()
      } finally {
        await lock.release()
      }
    })
  localQueues.set(lockFile, run)
  try {
    return await run
  } finally {
    if (localQueues.get(lockFile) === run) localQueues.delete(lockFile)
  }
}
