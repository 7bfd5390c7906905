/**
 * Users, roles and VM grants, kept in `users.json` in the data dir. Every
 * change is written atomically (temp file + rename), so a crash mid-write
 * never loses the file. Passwords are stored as scrypt hashes only.
 *
 * The running server and the CLI are separate processes sharing the file:
 * `refresh()` re-reads it when it changed on disk, which is how `user passwd`
 * and `user remove` revoke the tokens of a running server. Every change is a
 * read-modify-write under an exclusive lock file (lockfile.ts), so concurrent
 * writers (several CLI commands, the server) never lose each other's changes.
 */
import { randomBytes, randomUUID, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ROLES, type Role } from '../../shared/protocol.js'
import { ensureDataDir, writeFileAtomic } from './datadir.js'
import { LockTimeoutError, withLock, type LockOptions } from './lockfile.js'

export const USERS_FILE = 'users.json'

export interface UserRecord {
  id: string
  username: string
  role: Role
  /** Glob patterns on VM names ('*' = all). */
  grants: string[]
  /** `scrypt$N$r$p$salt$hash` (base64). */
  passwordHash: string
  /** Bumped by a password change; tokens carry it, so older tokens stop working. */
  tokenVersion: number
  createdAt: string
}

/** A user as shown to callers (never the hash). */
export type PublicUser = Omit<UserRecord, 'passwordHash'>

interface UsersFile {
  version: 1
  users: UserRecord[]
}

export class UserStoreError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UserStoreError'
  }
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
export const MIN_PASSWORD_LENGTH = 8
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64 } as const

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((ok, fail) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? fail(err) : ok(key))))
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 << 20 })
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

export async function verifyPasswordHash(password: string, hash: string): Promise<boolean> {
  const parts = hash.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const salt = Buffer.from(parts[4] ?? '', 'base64')
  const expected = Buffer.from(parts[5] ?? '', 'base64')
  if (!N || !r || !p || expected.length === 0) return false
  const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 64 << 20 })
  return timingSafeEqual(key, expected)
}

// A hash of a random password: checked against when the username is unknown, so
// a wrong username takes as long as a wrong password.
let dummyHash: Promise<string> | undefined

const globCache = new Map<string, RegExp>()
/** Glob on VM names: `*` any run of characters, `?` one character; everything else literal. */
export function globToRegExp(pattern: string): RegExp {
  let re = globCache.get(pattern)
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, ch => (ch === '*' ? '.*' : ch === '?' ? '.' : '\\' + ch))
    re = new RegExp(`^${body}$`, 's')
    if (globCache.size > 1000) globCache.clear()
    globCache.set(pattern, re)
  }
  return re
}

export function grantsMatch(grants: readonly string[], vmName: string): boolean {
  return grants.some(g => globToRegExp(g).test(vmName))
}

export function validateUsername(name: string): void {
  if (!USERNAME.test(name))
    throw new UserStoreError(
      `invalid user name '${name}': use 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit`,
    )
}

export function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new UserStoreError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters long`)
  if (password.length > 1024) throw new UserStoreError('the password must be at most 1024 characters long')
}

export function validateRole(role: string): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role))
    throw new UserStoreError(`invalid role '${role}': use one of ${ROLES.join(', ')}`)
}

export function validateGrant(pattern: string): void {
  if (pattern.length === 0 || pattern.length > 256 || [...pattern].some(ch => ch.charCodeAt(0) < 0x20))
    throw new UserStoreError(`invalid VM pattern '${pattern}': use a glob of 1-256 printable characters ('*' = all)`)
}

function publicUser(u: UserRecord): PublicUser {
  const { passwordHash: _hash, ...rest } = u
  return { ...rest, grants: [...rest.grants] }
}

function parseUsersFile(text: string, file: string): UsersFile {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new UserStoreError(`${file} is not valid JSON; restore it from a backup or remove it`)
  }
  const users = (raw as { users?: unknown }).users
  if (!Array.isArray(users)) throw new UserStoreError(`${file} has no "users" list`)
  const out: UserRecord[] = []
  for (const u of users as Partial<UserRecord>[]) {
    if (
      typeof u.id !== 'string' ||
      typeof u.username !== 'string' ||
      typeof u.passwordHash !== 'string' ||
      !(ROLES as readonly string[]).includes(u.role as string)
    )
      throw new UserStoreError(`${file} has a malformed user entry`)
    out.push({
      id: u.id,
      username: u.username,
      role: u.role as Role,
      grants: Array.isArray(u.grants) ? u.grants.filter((g): g is string => typeof g === 'string') : [],
      passwordHash: u.passwordHash,
      tokenVersion: typeof u.tokenVersion === 'number' ? u.tokenVersion : 1,
      createdAt: typeof u.createdAt === 'string' ? u.createdAt : new Date(0).toISOString(),
    })
  }
  return { version: 1, users: out }
}

export class UserStore {
  private users = new Map<string, UserRecord>()
  private byIdMap = new Map<string, UserRecord>()
  private stamp = ''
  readonly file: string

  private constructor(
    readonly dataDir: string,
    private readonly lockOptions: LockOptions,
  ) {
    this.file = join(dataDir, USERS_FILE)
  }

  /** Opens (and creates, if needed) the data dir's user store. */
  static async open(dataDir: string, lockOptions: LockOptions = {}): Promise<UserStore> {
    await ensureDataDir(dataDir)
    const store = new UserStore(dataDir, lockOptions)
    await store.removeStaleTempFiles()
    await store.refresh()
    return store
  }

  /** Temp files of writers that died mid-write (their pid is gone) are removed. */
  private async removeStaleTempFiles(): Promise<void> {
    const names = await readdir(this.dataDir).catch(() => [] as string[])
    for (const name of names) {
      const m = /^\.users\.json\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)
      if (!m) continue
      const pid = Number(m[1])
      let alive = pid === process.pid
      if (!alive) {
        try {
          process.kill(pid, 0)
          alive = true
        } catch (err) {
          alive = (err as NodeJS.ErrnoException).code === 'EPERM'
        }
      }
      if (!alive) await rm(join(this.dataDir, name), { force: true })
    }
  }

  /** Re-reads the file if it changed on disk. Returns true when it did. */
  async refresh(): Promise<boolean> {
    let stamp: string
    try {
      const st = await stat(this.file)
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      stamp = 'none'
    }
    if (stamp === this.stamp) return false
    const data =
      stamp === 'none' ? { version: 1, users: [] } : parseUsersFile(await readFile(this.file, 'utf8'), this.file)
    this.users = new Map(data.users.map(u => [u.username, u]))
    this.byIdMap = new Map(data.users.map(u => [u.id, u]))
    this.stamp = stamp
    return true
  }

  /**
   * Read-modify-write under the store's lock: re-reads the file, lets `change`
   * modify the in-memory users, and writes the result. When the change or
   * the write fails, the next call re-reads the file instead of trusting memory.
   */
  private async update<T>(change: () => T | Promise<T>): Promise<T> {
    try {
      return await withLock(
        `${this.file}.lock`,
        async () => {
          await this.refresh()
          const out = await change()
          await this.save()
          return out
        },
        this.lockOptions,
      )
    } catch (err) {
      // Memory may hold a change that never reached the file: read the file again.
      this.stamp = ''
      await this.refresh().catch(() => undefined)
      if (err instanceof LockTimeoutError) throw new UserStoreError(`cannot change the users: ${err.message}`)
      throw err
    }
  }

  private async save(): Promise<void> {
    const body: UsersFile = { version: 1, users: [...this.users.values()] }
    await writeFileAtomic(this.file, JSON.stringify(body, null, 2) + '\n', 0o600)
    const st = await stat(this.file)
    this.stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
    this.byIdMap = new Map([...this.users.values()].map(u => [u.id, u]))
  }

  list(): PublicUser[] {
    return [...this.users.values()].map(publicUser)
  }

  get(username: string): PublicUser | undefined {
    const u = this.users.get(username)
    return u && publicUser(u)
  }

  getById(id: string): PublicUser | undefined {
    const u = this.byIdMap.get(id)
    return u && publicUser(u)
  }

  /**
   * The live record without copying (for per-message checks on hot paths).
   * Callers must not modify it.
   */
  peek(id: string): Readonly<Pick<UserRecord, 'role' | 'grants' | 'tokenVersion'>> | undefined {
    return this.byIdMap.get(id)
  }

  private mustGet(username: string): UserRecord {
    const u = this.users.get(username)
    if (!u) throw new UserStoreError(`no user named '${username}'`)
    return u
  }

  /**
   * Adds a user. Without explicit grants an admin may reach every VM and other
   * roles none until `user grant` gives them some.
   */
  async add(username: string, role: string, password: string, grants?: string[]): Promise<PublicUser> {
    validateUsername(username)
    validateRole(role)
    validatePassword(password)
    const g = grants ?? (role === 'admin' ? ['*'] : [])
    g.forEach(validateGrant)
    await this.refresh()
    if (this.users.has(username)) throw new UserStoreError(`a user named '${username}' already exists`)
    // Hashed before taking the lock: scrypt is the slow part, and others wait for the lock.
    const passwordHash = await hashPassword(password)
    return this.update(() => {
      if (this.users.has(username)) throw new UserStoreError(`a user named '${username}' already exists`)
      const user: UserRecord = {
        id: randomUUID(),
        username,
        role,
        grants: [...new Set(g)],
        passwordHash,
        tokenVersion: 1,
        createdAt: new Date().toISOString(),
      }
      this.users.set(username, user)
      return publicUser(user)
    })
  }

  /** Removes a user; their tokens stop working at once. */
  async remove(username: string): Promise<void> {
    await this.update(() => {
      this.mustGet(username)
      this.users.delete(username)
    })
  }

  /** Sets a new password and revokes every token issued before. */
  async setPassword(username: string, password: string): Promise<void> {
    validatePassword(password)
    const passwordHash = await hashPassword(password)
    await this.update(() => {
      const u = this.mustGet(username)
      u.passwordHash = passwordHash
      u.tokenVersion += 1
    })
  }

  /** Revokes every token of the user without changing the password. */
  async revokeTokens(username: string): Promise<void> {
    await this.update(() => {
      this.mustGet(username).tokenVersion += 1
    })
  }

  async grant(username: string, pattern: string): Promise<PublicUser> {
    validateGrant(pattern)
    return this.update(() => {
      const u = this.mustGet(username)
      if (!u.grants.includes(pattern)) u.grants.push(pattern)
      return publicUser(u)
    })
  }

  async ungrant(username: string, pattern: string): Promise<PublicUser> {
    return this.update(() => {
      const u = this.mustGet(username)
      u.grants = u.grants.filter(g => g !== pattern)
      return publicUser(u)
    })
  }

  async setRole(username: string, role: string): Promise<PublicUser> {
    validateRole(role)
    return this.update(() => {
      const u = this.mustGet(username)
      u.role = role
      return publicUser(u)
    })
  }

  /** The user when the password matches; undefined otherwise (same cost either way). */
  async verifyPassword(username: string, password: string): Promise<PublicUser | undefined> {
    await this.refresh()
    const u = this.users.get(username)
    if (!u) {
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
      await verifyPasswordHash(password, await dummyHash)
      return undefined
    }
    return (await verifyPasswordHash(password, u.passwordHash)) ? publicUser(u) : undefined
  }

  /**
   * Makes sure a user exists (for the desktop app's local admin): creates it
   * with a random password if absent and returns it.
   */
  async ensureUser(username: string, role: Role = 'admin', grants: string[] = ['*']): Promise<PublicUser> {
    await this.refresh()
    const existing = this.get(username)
    if (existing) return existing
    try {
      return await this.add(username, role, randomBytes(24).toString('base64url'), grants)
    } catch (err) {
      // Another process created it in the meantime.
      const created = (await this.refresh(), this.get(username))
      if (created) return created
      throw err
    }
  }
}
