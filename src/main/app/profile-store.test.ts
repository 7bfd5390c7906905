import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ProfileStore, ProfileStoreError, type SecretCipher } from './profile-store.js'

/** A real AES-256-GCM cipher standing in for safeStorage (which needs the Electron runtime). */
function aesCipher(key = randomBytes(32), available = true): SecretCipher {
  return {
    isAvailable: () => available,
    encrypt(plain) {
      const iv = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', key, iv)
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()])
      return Buffer.concat([iv, c.getAuthTag(), body])
    },
    decrypt(data) {
      const d = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12))
      d.setAuthTag(data.subarray(12, 28))
      return Buffer.concat([d.update(data.subarray(28)), d.final()]).toString('utf8')
    },
  }
}

const FP = 'AB:'.repeat(31) + 'CD'
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA'

let dir: string
let file: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-profiles-'))
  file = join(dir, 'userData', 'profiles.json')
})
afterEach(() => rm(dir, { recursive: true }))

describe('profile store', () => {
  it('saves, lists, updates and removes profiles, persisting across instances', async () => {
    const key = randomBytes(32)
    const store = new ProfileStore(file, aesCipher(key))
    expect(await store.list()).toEqual([])
    const p = await store.save({ name: 'Lab', url: 'https://lab.example:3443', username: 'alice', token: TOKEN })
    expect(p).toMatchObject({ name: 'Lab', url: 'https://lab.example:3443', username: 'alice', hasToken: true })
    expect(p.id).toMatch(/^[0-9a-f-]{36}$/)

    const again = new ProfileStore(file, aesCipher(key))
    expect(await again.list()).toEqual([p])
    expect(await again.getToken(p.id)).toBe(TOKEN)

    // Renaming without a token keeps the stored token.
    const renamed = await again.save({ id: p.id, name: 'Lab 2', url: 'https://lab.example:3443' })
    expect(renamed).toMatchObject({ name: 'Lab 2', hasToken: true })
    expect(await again.getToken(p.id)).toBe(TOKEN)

    await again.remove(p.id)
    expect(await new ProfileStore(file, aesCipher(key)).list()).toEqual([])
  })

  it('never writes the token in clear text and keeps the file private', async () => {
    const store = new ProfileStore(file, aesCipher())
    await store.save({ name: 'Lab', url: 'https://lab.example', token: TOKEN })
    const text = await readFile(file, 'utf8')
    expect(text).not.toContain(TOKEN)
    expect(text).not.toContain('c2lnbmF0dXJl')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('cannot read tokens with another key and returns null instead of garbage', async () => {
    const p = await new ProfileStore(file, aesCipher()).save({ name: 'Lab', url: 'https://h', token: TOKEN })
    expect(await new ProfileStore(file, aesCipher()).getToken(p.id)).toBeNull()
  })

  it('refuses to store a token when no OS key store is available, and stores nothing', async () => {
    const store = new ProfileStore(file, aesCipher(undefined, false))
    await expect(store.save({ name: 'Lab', url: 'https://h', token: TOKEN })).rejects.toThrow(/no OS key store/)
    expect(await store.list()).toEqual([])
    // Without a token it saves fine.
    await expect(store.save({ name: 'Lab', url: 'https://h' })).resolves.toMatchObject({ hasToken: false })
  })

  it('pins certificates per profile and drops the pin and token when the host changes', async () => {
    const store = new ProfileStore(file, aesCipher())
    const p = await store.save({ name: 'Lab', url: 'wss://Lab.Example:3443/ws', token: TOKEN })
    const other = await store.save({ name: 'Other', url: 'https://other.example' })
    expect(await store.pinsForHost('lab.example')).toEqual([])
    const pinned = await store.trustCertificate(p.id, FP.toLowerCase())
    expect(pinned.certificateFingerprint).toBe(FP)
    expect(await store.pinsForHost('lab.example')).toEqual([FP])
    expect(await store.pinsForHost('other.example')).toEqual([])
    // Same host, new port: the pin stays.
    await store.save({ id: p.id, name: 'Lab', url: 'https://lab.example:4443' })
    expect(await store.pinsForHost('lab.example')).toEqual([FP])
    // Another host: a pin made for lab.example must not follow the profile.
    const moved = await store.save({ id: p.id, name: 'Lab', url: 'https://elsewhere.example' })
    expect(moved).toMatchObject({ hasToken: false })
    expect(moved.certificateFingerprint).toBeUndefined()
    expect(await store.pinsForHost('elsewhere.example')).toEqual([])
    await expect(store.trustCertificate(other.id, 'nope')).rejects.toThrow(/SHA-256/)
  })

  it('reports unknown ids and corrupt files clearly', async () => {
    const store = new ProfileStore(file, aesCipher())
    await expect(store.remove('missing')).rejects.toThrow(ProfileStoreError)
    await expect(store.getToken('missing')).rejects.toThrow(/no profile with id 'missing'/)
    await expect(store.save({ id: 'missing', name: 'x', url: 'https://h' })).rejects.toThrow(/no profile/)
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '{"version":1,"profiles":[{"id":3}]}')
    await expect(new ProfileStore(bad, aesCipher()).list()).rejects.toThrow(/not a valid profile file/)
    await writeFile(bad, '{oops')
    await expect(new ProfileStore(bad, aesCipher()).list()).rejects.toThrow(/not valid JSON/)
  })

  it('serialises concurrent saves without losing any', async () => {
    const store = new ProfileStore(file, aesCipher())
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.save({ name: `S${i}`, url: `https://h${i}.example` })))
    const names = (await new ProfileStore(file, aesCipher()).list()).map(p => p.name).sort()
    expect(names).toHaveLength(20)
  })
})
