/**
 * Saved remote servers, in a JSON file in userData. Tokens are stored only
 * encrypted, through an injected cipher (Electron's safeStorage in the app,
 * a plain AES key in tests); without a working cipher no token is stored at
 * all. Certificate pins for trust on first use live with the profile.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { ServerProfile } from '../../preload/api.js'
import { readJsonFile, writeJsonFileAtomic } from './json-file.js'
import { normalizeFingerprint, FINGERPRINT_RE } from './security.js'
import type { ProfileInput } from './ipc.js'

export interface SecretCipher {
  /** False when the OS offers no real key store (then tokens are refused). */
  isAvailable(): boolean
  encrypt(plain: string): Buffer
  decrypt(data: Buffer): string
}

const storedProfile = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  username: z.string().optional(),
  /** base64 of the cipher's output; never the token itself. */
  tokenEncrypted: z.string().optional(),
  certificateFingerprint: z.string().optional(),
})
type StoredProfile = z.infer<typeof storedProfile>

const storeFile = z.object({ version: z.literal(1), profiles: z.array(storedProfile) })

export class ProfileStoreError extends Error {
  override name = 'ProfileStoreError'
}

export class ProfileStore {
  private cache: StoredProfile[] | null = null
  /** Serialises writes so two saves never interleave. */
  private chain: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly file: string,
    private readonly cipher: SecretCipher,
  ) {}

  private async load(): Promise<StoredProfile[]> {
    if (this.cache) return this.cache
    const raw = await readJsonFile(this.file)
    if (raw === undefined) return (this.cache = [])
    const parsed = storeFile.safeParse(raw)
    if (!parsed.success) {
      throw new ProfileStoreError(`${this.file} is not a valid profile file; fix or delete it`)
    }
    return (this.cache = parsed.data.profiles)
  }

  private mutate<T>(fn: (profiles: StoredProfile[]) => T): Promise<T> {
    const run = this.chain.then(async () => {
      const next = [...(await this.load())]
      const result = fn(next)
      await writeJsonFileAtomic(this.file, { version: 1, profiles: next })
      this.cache = next
      return result
    })
    this.chain = run.catch(() => undefined)
    return run
  }

  private static view(p: StoredProfile): ServerProfile {
    return {
      id: p.id,
      name: p.name,
      url: p.url,
      ...(p.username !== undefined ? { username: p.username } : {}),
      hasToken: p.tokenEncrypted !== undefined,
      ...(p.certificateFingerprint !== undefined ? { certificateFingerprint: p.certificateFingerprint } : {}),
    }
  }

  async list(): Promise<ServerProfile[]> {
    return (await this.load()).map(ProfileStore.view)
  }

  /**
   * Creates (no id) or updates a profile. An absent token keeps the stored
   * one; an absent fingerprint keeps the pin unless the host changed, since a
   * pin is only valid for the host it was made for.
   */
  async save(input: ProfileInput): Promise<ServerProfile> {
    let tokenEncrypted: string | undefined
    if (input.token !== undefined) {
      if (!this.cipher.isAvailable()) {
        throw new ProfileStoreError(
          'no OS key store is available to encrypt the token (on Linux: a running Secret Service such as GNOME Keyring or KWallet); the profile was not saved — save it without the token and log in each time',
        )
      }
      tokenEncrypted = this.cipher.encrypt(input.token).toString('base64')
    }
    return await this.mutate(profiles => {
      const idx = input.id === undefined ? -1 : profiles.findIndex(p => p.id === input.id)
      if (input.id !== undefined && idx < 0) throw new ProfileStoreError(`no profile with id '${input.id}'`)
      const prev = idx >= 0 ? profiles[idx] : undefined
      const hostChanged = prev !== undefined && hostOf(prev.url) !== hostOf(input.url)
      const next: StoredProfile = {
        id: prev?.id ?? randomUUID(),
        name: input.name,
        url: input.url,
        ...(input.username !== undefined ? { username: input.username } : {}),
      }
      const tok = tokenEncrypted ?? (hostChanged ? undefined : prev?.tokenEncrypted)
      if (tok !== undefined) next.tokenEncrypted = tok
      const fp = input.certificateFingerprint ?? (hostChanged ? undefined : prev?.certificateFingerprint)
      if (fp !== undefined) next.certificateFingerprint = fp
      if (idx >= 0) profiles[idx] = next
      else profiles.push(next)
      return ProfileStore.view(next)
    })
  }

  remove(id: string): Promise<void> {
    return this.mutate(profiles => {
      const idx = profiles.findIndex(p => p.id === id)
      if (idx < 0) throw new ProfileStoreError(`no profile with id '${id}'`)
      profiles.splice(idx, 1)
    })
  }

  async getToken(id: string): Promise<string | null> {
    const p = (await this.load()).find(x => x.id === id)
    if (!p) throw new ProfileStoreError(`no profile with id '${id}'`)
    if (p.tokenEncrypted === undefined) return null
    try {
      return this.cipher.decrypt(Buffer.from(p.tokenEncrypted, 'base64'))
    } catch {
      // A token encrypted under another OS account or key store cannot be read; the user logs in again.
      return null
    }
  }

  /** Pins a certificate fingerprint to a profile after the user accepted it. */
  trustCertificate(id: string, fingerprint: string): Promise<ServerProfile> {
    const fp = normalizeFingerprint(fingerprint)
    if (!FINGERPRINT_RE.test(fp)) return Promise.reject(new ProfileStoreError('not a SHA-256 fingerprint'))
    return this.mutate(profiles => {
      const p = profiles.find(x => x.id === id)
      if (!p) throw new ProfileStoreError(`no profile with id '${id}'`)
      p.certificateFingerprint = fp
      return ProfileStore.view(p)
    })
  }

  /** Every fingerprint pinned by a profile whose server is on this host name. */
  async pinsForHost(hostname: string): Promise<string[]> {
    const h = hostname.toLowerCase().replace(/^\[|\]$/g, '')
    return (await this.load())
      .filter(p => p.certificateFingerprint !== undefined && hostOf(p.url) === h)
      .map(p => p.certificateFingerprint!)
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase().replace(/^\[|\]$/g, '')
  } catch {
    return ''
  }
}
