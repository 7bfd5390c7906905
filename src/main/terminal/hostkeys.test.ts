import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { HostKeyStore, KNOWN_HOSTS_FILE, keyTypeOf, sha256Fingerprint } from './hostkeys.js'

const run = promisify(execFile)
let dir: string | undefined
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
  dir = undefined
})

describe('host key pinning', () => {
  it('computes the same SHA-256 fingerprint as ssh-keygen', async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-hk-'))
    const key = join(dir, 'k')
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
    const pub = (await readFile(`${key}.pub`, 'utf8')).split(' ')
    const blob = Buffer.from(pub[1] ?? '', 'base64')
    const { stdout } = await run('ssh-keygen', ['-lf', `${key}.pub`, '-E', 'sha256'])
    expect(sha256Fingerprint(blob)).toBe(stdout.split(' ')[1])
    expect(keyTypeOf(blob)).toBe('ssh-ed25519')
  })

  it('pins on first use, matches the same key, refuses a different one, persists 0600', async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-hk-'))
    const a = Buffer.from('key-a'),
      b = Buffer.from('key-b')
    const store = new HostKeyStore(dir)
    const k = HostKeyStore.pinKey('uuid-1', 22)
    expect((await store.check(k, a, { host: '10.0.0.2', vmName: 'vm' })).status).toBe('pinned')
    expect((await store.check(k, a, { host: '10.0.0.2', vmName: 'vm' })).status).toBe('match')
    const again = new HostKeyStore(dir)
    const r = await again.check(k, b, { host: '10.0.0.2', vmName: 'vm' })
    expect(r).toMatchObject({ status: 'mismatch', pinned: sha256Fingerprint(a), fingerprint: sha256Fingerprint(b) })
    expect((await stat(join(dir, KNOWN_HOSTS_FILE))).mode & 0o777).toBe(0o600)
  })

  it('pins concurrent first connects once and refuses a corrupt file instead of forgetting pins', async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-hk-'))
    const store = new HostKeyStore(dir)
    const k = HostKeyStore.pinKey('uuid-2', 2222)
    const rs = await Promise.all([
      store.check(k, Buffer.from('x'), { host: 'h', vmName: 'v' }),
      store.check(k, Buffer.from('y'), { host: 'h', vmName: 'v' }),
    ])
    expect(rs.map(r => r.status)).toEqual(['pinned', 'mismatch'])
    await writeFile(join(dir, KNOWN_HOSTS_FILE), '{oops')
    await expect(new HostKeyStore(dir).check(k, Buffer.from('x'), { host: 'h', vmName: 'v' })).rejects.toThrow()
  })

  it('sees an entry the admin deleted at once and never writes it back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-hk-'))
    const file = join(dir, KNOWN_HOSTS_FILE)
    const store = new HostKeyStore(dir)
    const k1 = HostKeyStore.pinKey('uuid-1', 22)
    const k2 = HostKeyStore.pinKey('uuid-2', 22)
    const k3 = HostKeyStore.pinKey('uuid-3', 22)
    await store.check(k1, Buffer.from('old'), { host: 'h1' })
    await store.check(k2, Buffer.from('two'), { host: 'h2' })
    // The admin removes k1, as the HOST_KEY_MISMATCH message says, with the server running.
    const db = JSON.parse(await readFile(file, 'utf8')) as { hosts: Record<string, unknown> }
    delete db.hosts[k1]
    await writeFile(file, JSON.stringify(db))
    // Another VM gets pinned: the removed entry does not come back.
    expect((await store.check(k3, Buffer.from('three'), { host: 'h3' })).status).toBe('pinned')
    const after = JSON.parse(await readFile(file, 'utf8')) as { hosts: Record<string, unknown> }
    expect(Object.keys(after.hosts).sort()).toEqual([k2, k3])
    // The changed key is accepted on first use again.
    expect(await store.check(k1, Buffer.from('new'), { host: 'h1' })).toEqual({
      status: 'pinned',
      fingerprint: sha256Fingerprint(Buffer.from('new')),
    })
    expect((await store.check(k1, Buffer.from('old'), { host: 'h1' })).status).toBe('mismatch')
  })

  it('merges pins written by two stores on one file instead of overwriting each other', async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-hk-'))
    const s1 = new HostKeyStore(dir)
    const s2 = new HostKeyStore(dir)
    await s1.check('a:22', Buffer.from('a'), { host: 'a' })
    await s2.check('b:22', Buffer.from('b'), { host: 'b' })
    await s1.check('c:22', Buffer.from('c'), { host: 'c' })
    for (const k of ['a:22', 'b:22', 'c:22']) expect(await s2.get(k)).toBeDefined()
    expect((await s1.check('b:22', Buffer.from('other'), { host: 'b' })).status).toBe('mismatch')
  })
})
