// voidvm-server on a qemu+ssh:// URI pins the host key on first use (DESIGN:
// "SSH host keys are pinned on first use; a changed key is an error"), against
// OpenSSH's sshd letting root in by key (test/fixtures/sshd.ts) and the system
// libvirtd behind virt-ssh-helper.
//
// To show that an impostor never gets our credentials, the sshd authorizes
// keys only through an AuthorizedKeysCommand that records each public key a
// client offers and then prints the fixture's authorized_keys: sshd runs it
// for every publickey request, so a key offered after the key change would
// leave a line. (sshd insists that the command and every directory above it be
// root-owned and not writable by others, hence /run, not /tmp.)
//
// Also: `serve` with a libvirt URI that can never work exits 2 at start with a
// one-line error, and a password in the URI never reaches its output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { runCli } from '../fixtures/cli.js'
import { hypervisorHealth, listeningUrl, serveLibvirtUri, stopChild, waitUntil } from './libvirt-ssh-helpers.js'

const run = promisify(execFile)
const PIN_FILE = 'libvirt-known-hosts.json'

interface PinFile {
  version: number
  hosts: Record<string, { fingerprint: string; host: string; keyType: string }>
}

describe('voidvm-server pins the SSH host key of a qemu+ssh:// libvirt on first use', () => {
  let sshd: TestSshd
  let dir: string
  let dataDir: string
  let hookDir: string
  let offeredLog: string
  let clientKeyFingerprint: string
  let firstHostKey: string
  let hostPort: string
  let uri: string
  const children: ChildProcess[] = []

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true })
    hostPort = `127.0.0.1:${sshd.port}`
    uri = `qemu+ssh://root@${hostPort}/system`
    firstHostKey = sshd.hostKeyFingerprint
    dir = await mkdtemp(join(tmpdir(), 'voidvm-lvpin-'))
    dataDir = join(dir, 'data')
    clientKeyFingerprint = (
      await run('ssh-keygen', ['-lf', join(sshd.dir, 'client_ed25519'), '-E', 'sha256'])
    ).stdout.split(' ')[1]!
    // The recorder of offered keys, and the only source of authorized keys (sshd 9.2 asks the command only
    // when AuthorizedKeysFile has no match).
    hookDir = `/run/voidvm-lvpin-${process.pid}`
    await mkdir(hookDir, { mode: 0o755 })
    await chmod(hookDir, 0o755)
    offeredLog = join(hookDir, 'offered.log')
    await writeFile(offeredLog, '')
    const hook = join(hookDir, 'offered.sh')
    const authorized = join(sshd.dir, 'authorized_keys')
    await writeFile(hook, `#!/bin/sh\necho "$1 $2" >> ${offeredLog}\ncat ${authorized}\n`, { mode: 0o755 })
    const config = join(sshd.dir, 'sshd_config')
    const text = (await readFile(config, 'utf8')).replace(`AuthorizedKeysFile ${authorized}`, 'AuthorizedKeysFile none')
    expect(text).toContain('AuthorizedKeysFile none')
    await writeFile(config, text + `AuthorizedKeysCommand ${hook} %u %f\nAuthorizedKeysCommandUser root\n`)
    await sshd.restart()
  })

  afterAll(async () => {
    for (const c of children) await stopChild(c)
    await sshd?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
    if (hookDir) await rm(hookDir, { recursive: true, force: true })
  })

  const serve = (env: Record<string, string> = {}) => {
    const s = serveLibvirtUri(uri, dataDir, {
      VOIDVM_LIBVIRT_SSH_KEY: join(sshd.dir, 'client_ed25519'),
      VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT: '',
      VOIDVM_LIBVIRT_SSH_PASSWORD: '',
      SSH_AUTH_SOCK: '',
      ...env,
    })
    children.push(s.proc)
    return s
  }
  const pins = async () => JSON.parse(await readFile(join(dataDir, PIN_FILE), 'utf8')) as PinFile
  const offered = async () => (await readFile(offeredLog, 'utf8')).split('\n').filter(Boolean)
  const connected = (url: string, s: { out: { stderr: string } }) =>
    waitUntil(
      async () => ((await hypervisorHealth(url)).connected ? true : undefined),
      40_000,
      () => s.out.stderr,
    )

  let first: ReturnType<typeof serve>

  it('pins the key of the first host it logs in to: file 0600 with its fingerprint, logged once', async () => {
    first = serve()
    const url = await listeningUrl(first)
    await connected(url, first)
    const st = await stat(join(dataDir, PIN_FILE))
    expect(st.mode & 0o777).toBe(0o600)
    const db = await pins()
    expect(Object.keys(db.hosts)).toEqual([hostPort])
    expect(db.hosts[hostPort]).toMatchObject({ fingerprint: firstHostKey, host: '127.0.0.1', keyType: 'ssh-ed25519' })
    const line = `pinned SSH host key ${firstHostKey} for ${hostPort}`
    expect(first.out.stderr.split(line).length - 1).toBe(1)
    // The recorder works: the client's key was offered to the genuine host.
    expect(await offered()).toContain(`root ${clientKeyFingerprint}`)
  }, 60_000)

  it('refuses the host once its key changed, on reconnect and in a new process, offering it no key', async () => {
    const url = await listeningUrl(first)
    const before = await offered()
    // Killing sshd ends the server's session too (a plain stop leaves sessions running).
    await sshd.kill()
    await sshd.restart({ newHostKey: true })
    const newHostKey = sshd.hostKeyFingerprint
    expect(newHostKey).not.toBe(firstHostKey)
    // The running server loses its session and reconnects to the impostor.
    const refusal = await waitUntil(
      () => first.out.stderr.split('\n').find(l => l.includes(newHostKey)),
      40_000,
      () => first.out.stderr,
    )
    expect(refusal).toContain(`host key ${newHostKey} does not match the pinned ${firstHostKey}`)
    expect(refusal).toContain(join(dataDir, PIN_FILE))
    expect(refusal).toContain(`pinned on first use for ${hostPort} in`)
    expect((await hypervisorHealth(url)).connected).toBe(false)

    // A server started afresh on the same data dir refuses it too.
    const fresh = serve()
    const freshUrl = await listeningUrl(fresh)
    await waitUntil(
      () =>
        fresh.out.stderr.includes(`host key ${newHostKey} does not match the pinned ${firstHostKey}`) ? 1 : undefined,
      40_000,
      () => fresh.out.stderr,
    )
    expect((await hypervisorHealth(freshUrl)).connected).toBe(false)
    await stopChild(fresh.proc)

    // Neither offered its key to the changed host, and the pin stayed.
    expect(await offered()).toEqual(before)
    expect((await pins()).hosts[hostPort]?.fingerprint).toBe(firstHostKey)
    expect((await hypervisorHealth(url)).connected).toBe(false)
    expect(first.out.stderr).not.toContain(`pinned SSH host key ${newHostKey}`)
  }, 120_000)

  it('connects when VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT names the new key, whatever the file pins', async () => {
    const s = serve({ VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT: sshd.hostKeyFingerprint })
    try {
      await connected(await listeningUrl(s), s)
      // The file is left as it was: the configured fingerprint is not a pin.
      expect((await pins()).hosts[hostPort]?.fingerprint).toBe(firstHostKey)
      expect(s.out.stderr).not.toContain('pinned SSH host key')
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('keeps retrying, and takes the new key once an admin deletes the entry from the file', async () => {
    const url = await listeningUrl(first)
    expect((await hypervisorHealth(url)).connected).toBe(false)
    const db = await pins()
    delete db.hosts[hostPort]
    await writeFile(join(dataDir, PIN_FILE), JSON.stringify(db, null, 2) + '\n')
    await connected(url, first)
    expect((await pins()).hosts[hostPort]?.fingerprint).toBe(sshd.hostKeyFingerprint)
    expect(first.out.stderr).toContain(`pinned SSH host key ${sshd.hostKeyFingerprint} for ${hostPort}`)
  }, 60_000)
})

describe('voidvm-server serve with a libvirt URI that can never work', () => {
  let dataDir: string

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'voidvm-lvuri-'))
  })

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  const secret = `s3cret-${randomBytes(5).toString('hex')}`
  const cases: { uri: string; problem: RegExp; via?: 'env' }[] = [
    { uri: `qemu+tcp://bob:${secret}@example.org/system`, problem: /transport "tcp" is not supported/ },
    { uri: `qemu+ssh://bob:${secret}@example.org/system`, problem: /carries a password in its user part/ },
    { uri: `qemu+ssh:/bob:${secret}@example.org/system`, problem: /invalid libvirt URI/ },
    { uri: 'qemu+ssh:///system', problem: /names no SSH host/ },
    { uri: `qemu+tcp://bob:${secret}@example.org/system`, problem: /transport "tcp" is not supported/, via: 'env' },
  ]

  for (const c of cases)
    it(`exits 2 at start on ${c.uri.replace(secret, '…')}${c.via ? ' (VOIDVM_LIBVIRT_URI)' : ''}`, async () => {
      const args = ['serve', '--port', '0', '--data-dir', dataDir]
      const r = await runCli(c.via ? args : [...args, '--libvirt-uri', c.uri], {
        env: { VOIDVM_LIBVIRT_URI: c.via ? c.uri : '' },
      })
      expect(r.code).toBe(2)
      expect(r.stdout).toBe('')
      const lines = r.stderr.trimEnd().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^voidvm-server: invalid --libvirt-uri/)
      expect(lines[0]).toMatch(c.problem)
      expect(r.stdout + r.stderr).not.toContain(secret)
    }, 30_000)
})
