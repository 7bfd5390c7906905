/**
 * Tokens: JWT HS256 signed with a secret generated on first run and kept in
 * the data dir with mode 0600. A token names the user's id and the user's
 * token version; a password change or removal makes older tokens invalid.
 */
import { randomBytes, randomUUID, webcrypto } from 'node:crypto'
import { chmod, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { ensureDataDir, writeFileAtomic } from './datadir.js'
import type { PublicUser, UserStore } from './users.js'

export const SECRET_FILE = 'jwt-secret'
export const DEFAULT_TOKEN_TTL_SECONDS = 12 * 3600
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600
const ISSUER = 'voidvm'

/** Reads the token secret, creating it (32 random bytes, mode 0600) on first run. */
export async function loadOrCreateSecret(dataDir: string): Promise<Uint8Array> {
  await ensureDataDir(dataDir)
  const file = join(dataDir, SECRET_FILE)
  try {
    const text = (await readFile(file, 'utf8')).trim()
    const st = await stat(file)
    // Tighten a secret someone loosened by hand rather than keep serving with it world-readable.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) await chmod(file, 0o600)
    const key = Buffer.from(text, 'base64url')
    if (key.length < 32) throw new Error(`${file} is too short; delete it to generate a new secret`)
    return new Uint8Array(key)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = randomBytes(32)
  try {
    await writeFileAtomic(file, key.toString('base64url') + '\n', 0o600)
  } catch (err) {
    throw new Error(`cannot write the token secret ${file}: ${(err as Error).message}`, { cause: err })
  }
  // Another process may have raced us; whoever renamed last won, so read back.
  return new Uint8Array(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64url'))
}

/** "90s", "15m", "12h", "7d" or a number of seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(text.trim())
  if (!m) throw new Error(`invalid TTL '${text}': use a number with s, m, h or d (e.g. 12h)`)
  const n = Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's').toLowerCase() as 's'] ?? 1)
  if (n <= 0 || n > MAX_TOKEN_TTL_SECONDS) throw new Error(`invalid TTL '${text}': must be between 1s and 366d`)
  return n
}

export interface IssuedToken {
  token: string
  expiresAt: string
}

export interface VerifiedToken {
  user: PublicUser
  expiresAt: Date
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TokenError'
  }
}

export class TokenService {
  constructor(
    private readonly secret: webcrypto.CryptoKey,
    private readonly users: UserStore,
  ) {}

  static async create(dataDir: string, users: UserStore): Promise<TokenService> {
    const raw = await loadOrCreateSecret(dataDir)
    // Imported once: jose would otherwise import the raw secret again for every token it signs or checks.
    const key = await webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ])
    return new TokenService(key, users)
  }

  async issue(user: PublicUser, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS): Promise<IssuedToken> {
    if (!(ttlSeconds > 0 && ttlSeconds <= MAX_TOKEN_TTL_SECONDS)) throw new TokenError('invalid token TTL')
    const now = Math.floor(Date.now() / 1000)
    const exp = now + Math.floor(ttlSeconds)
    const token = await new SignJWT({ name: user.username, ver: user.tokenVersion })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(user.id)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.secret)
    return { token, expiresAt: new Date(exp * 1000).toISOString() }
  }

  /** Verifies signature, expiry and revocation; throws TokenError with a reason a client may see. */
  async verify(token: string): Promise<VerifiedToken> {
    if (token.length > 4096) throw new TokenError('token is too long')
    let payload
    try {
      ;({ payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], issuer: ISSUER }))
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('token has expired')
      throw new TokenError('token is invalid')
    }
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw new TokenError('token is invalid')
    await this.users.refresh()
    const user = this.users.getById(payload.sub)
    if (!user) throw new TokenError('token was revoked (the user no longer exists)')
    if (payload.ver !== user.tokenVersion) throw new TokenError('token was revoked (the password was changed)')
    return { user, expiresAt: new Date(payload.exp * 1000) }
  }
}
