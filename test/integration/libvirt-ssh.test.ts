// The SSH transport against OpenSSH's sshd on a loopback port (test/fixtures/sshd.ts).
//
// The sshd test user is unprivileged and this host has no polkit/D-Bus, so it
// cannot use the system daemon. The success paths therefore reach the private
// libvirtd of test/fixtures/private-libvirtd.ts, which runs as that same user
// (its socket is the user's own), through the `nc -U <socket>` relay that a
// `?socket=` URI selects. The default path (`virt-ssh-helper <uri>`) is checked
// against the system daemon: the protocol runs through the helper up to the
// daemon's typed refusal of an unprivileged user.
//
// A second sshd that lets root in by key (its own authorized_keys, never
// /root/.ssh) proves the default path end to end: `qemu+ssh://root@…/system`
// runs `virt-ssh-helper qemu:///system` as root against the real system
// daemon, with a throwaway TCG guest, its events and its serial console. A
// third such sshd, whose sessions get a PATH without virt-ssh-helper, proves
// the `nc -U` fallback; and `voidvm-server serve` reaches the same daemon
// with the key named by VOIDVM_LIBVIRT_SSH_KEY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  DomainState,
  LibvirtClient,
  LibvirtConnectionError,
  LibvirtError,
  LifecycleEvent,
  Proc,
  StoppedDetail,
  type LibvirtStream,
} from '../../src/main/libvirt/index.js'
import { defineTestGuest, guestImagesReady, removeDomain, virsh, type TestGuest } from '../fixtures/guest.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../fixtures/private-libvirtd.js'
import { runCli } from '../fixtures/cli.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import { recordEvents, testDriverXml } from './libvirt-helpers.js'
import {
  commandsUnder,
  hypervisorHealth,
  listeningUrl,
  serveLibvirtUri,
  sshdPid,
  stopChild,
  waitUntil,
} from './libvirt-ssh-helpers.js'

const run = promisify(execFile)

describe('libvirt client over SSH', () => {
  let sshd: TestSshd
  let daemon: PrivateLibvirtd
  let uri: string

  beforeAll(async () => {
    sshd = await startSshd()
    daemon = await startPrivateLibvirtd({ user: sshd.username })
    uri = `test+ssh://${sshd.username}@127.0.0.1:${sshd.port}/default?socket=${daemon.socketPath}`
  })

  afterAll(async () => {
    await daemon?.dispose()
    await sshd?.stop()
  })

  it('connects with the authorized key (host key pinned) and makes calls and gets events through nc', async () => {
    const lv = await LibvirtClient.connect(uri, {
      ssh: { privateKey: sshd.privateKey, hostFingerprint: sshd.hostKeyFingerprint },
    })
    try {
      expect(await lv.getUri()).toBe('test:///default')
      expect((await lv.listAllDomains()).map(d => d.name)).toEqual(['test'])
      expect((await lv.domainGetInfo('test')).nrVirtCpu).toBe(2)
      const events = recordEvents(lv)
      await lv.registerDomainEvents()
      const name = `voidvm-t-lv-ssh${process.pid}`
      await lv.domainDefineXml(testDriverXml(name))
      await events.waitLifecycle(name, LifecycleEvent.DEFINED, 5000)
      await lv.domainUndefine(name)
      await events.waitLifecycle(name, LifecycleEvent.UNDEFINED, 5000)
    } finally {
      await lv.close()
    }
    expect(lv.isOpen).toBe(false)
  })

  it('connects with a password', async () => {
    const lv = await LibvirtClient.connect(uri, { ssh: { password: sshd.password } })
    expect(await lv.getHostname()).toBeTruthy()
    await lv.close()
  })

  it('refuses a host key that does not match the pinned fingerprint', async () => {
    const err = await LibvirtClient.connect(uri, {
      ssh: { password: sshd.password, hostFingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as LibvirtConnectionError).reason).toBe('ssh-host-key-mismatch')
    expect((err as Error).message).toContain(sshd.hostKeyFingerprint)
  })

  it('reports a wrong password as an SSH authentication failure', async () => {
    const err = await LibvirtClient.connect(uri, { ssh: { password: 'wrong-password' } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as LibvirtConnectionError).reason).toBe('ssh-auth-failed')
  })

  it('reports a remote socket that does not exist as a connection error, without hanging', async () => {
    const t0 = Date.now()
    const bad = `test+ssh://${sshd.username}@127.0.0.1:${sshd.port}/default?socket=/nonexistent/voidvm-sock`
    const err = await LibvirtClient.connect(bad, { ssh: { password: sshd.password }, connectTimeoutMs: 10_000 }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect(Date.now() - t0).toBeLessThan(8000)
  })

  it('runs virt-ssh-helper by default and relays the daemon answer (an unprivileged user is refused by polkit)', async () => {
    const err = await LibvirtClient.connect(`qemu+ssh://${sshd.username}@127.0.0.1:${sshd.port}/system`, {
      ssh: { privateKey: sshd.privateKey },
    }).catch((e: unknown) => e)
    // AUTH_LIST went through the helper to the system daemon, which asked for polkit and refused.
    expect(err).toBeInstanceOf(LibvirtError)
    expect((err as LibvirtError).procedure).toBe(Proc.AUTH_POLKIT)
  })

  it('reports the drop when the SSH server kills the session', async () => {
    const lv = await LibvirtClient.connect(uri, { ssh: { password: sshd.password } })
    const closed = new Promise<Error | undefined>(r => lv.once('close', r))
    await sshd.kill()
    const err = await Promise.race([closed, new Promise(r => setTimeout(() => r('no close'), 10_000))])
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    await expect(lv.getUri()).rejects.toBeInstanceOf(LibvirtConnectionError)
    await sshd.restart()
  })
})

/**
 * The client lists every domain virsh lists. Other engineers' guests come and
 * go meanwhile, so only names present in a virsh read before and after count.
 */
async function expectDomainsOfVirsh(lv: LibvirtClient, mustInclude: string): Promise<void> {
  const before = (await virsh('list', '--all', '--name')).split('\n').filter(Boolean)
  const names = (await lv.listAllDomains()).map(d => d.name)
  expect(names).toContain(mustInclude)
  const after = (await virsh('list', '--all', '--name')).split('\n').filter(Boolean)
  const stable = before.filter(n => after.includes(n))
  for (const n of stable) expect(names).toContain(n)
}

/** Collects a console stream's output and waits for text in it, poking the shell meanwhile. */
function tap(stream: LibvirtStream) {
  let out = ''
  stream.on('data', (d: Buffer) => void (out += d.toString('utf8')))
  return async (re: RegExp, timeoutMs: number, poke: () => void): Promise<RegExpExecArray> => {
    const end = Date.now() + timeoutMs
    let lastPoke = 0
    for (;;) {
      const m = re.exec(out)
      if (m) return m
      if (Date.now() > end) throw new Error(`console never showed ${re}; got: ${JSON.stringify(out.slice(-500))}`)
      if (Date.now() - lastPoke > 1000) {
        lastPoke = Date.now()
        poke()
      }
      await new Promise(r => setTimeout(r, 50))
    }
  }
}

describe('voidvm-server serve logging in to libvirt over SSH with VOIDVM_LIBVIRT_SSH_PASSWORD', () => {
  let sshd: TestSshd
  let daemon: PrivateLibvirtd
  let dir: string
  let uri: string
  const children: ChildProcess[] = []

  beforeAll(async () => {
    sshd = await startSshd()
    daemon = await startPrivateLibvirtd({ user: sshd.username })
    uri = `test+ssh://${sshd.username}@127.0.0.1:${sshd.port}/default?socket=${daemon.socketPath}`
    dir = await mkdtemp(join(tmpdir(), 'voidvm-lvssh-pw-'))
  })

  afterAll(async () => {
    for (const c of children) await stopChild(c)
    await daemon?.dispose()
    await sshd?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const serve = async (password: string, dataDir?: string) => {
    const s = serveLibvirtUri(uri, dataDir ?? (await mkdtemp(join(dir, 'data-'))), {
      VOIDVM_LIBVIRT_SSH_KEY: '',
      VOIDVM_LIBVIRT_SSH_PASSWORD: password,
      SSH_AUTH_SOCK: '',
      VOIDVM_LOG_LEVEL: 'debug',
    })
    children.push(s.proc)
    return s
  }

  it("connects with the password, serves the daemon's VMs, and never logs the password", async () => {
    const dataDir = await mkdtemp(join(dir, 'data-'))
    const cli = async (args: string[], stdin = '') => {
      const r = await runCli([...args, '--data-dir', dataDir], { stdin })
      if (r.code !== 0) throw new Error(`voidvm-server ${args.join(' ')} failed: ${r.stderr}`)
      return r
    }
    await cli(['user', 'add', 'pw-admin', '--role', 'admin', '--password-stdin'], 'pw-admin-password-1\n')
    const s = await serve(sshd.password, dataDir)
    let client: TestClient | undefined
    try {
      const url = await listeningUrl(s)
      await waitUntil(
        async () => ((await hypervisorHealth(url)).connected ? true : undefined),
        30_000,
        () => s.out.stderr,
      )
      // A user of this server sees the remote daemon's VMs.
      const token = (await cli(['token', 'pw-admin'])).stdout.trim()
      client = await connect(`${url.replace(/^http/, 'ws')}/ws`, token)
      await client.request('subscribe', { topic: 'vm-status-all' })
      expect(await client.next('vm-status', (d: { name?: string }) => d.name === 'test', 10_000)).toMatchObject({
        name: 'test',
        status: 'running',
      })
      expect(s.out.stdout + s.out.stderr).not.toContain(sshd.password)
    } finally {
      await client?.close()
      await stopChild(s.proc)
    }
  }, 60_000)

  it('with a wrong password stays unconnected, says the password was refused, and never logs it', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`
    const s = await serve(wrong)
    try {
      const url = await listeningUrl(s)
      await waitUntil(
        () => (/refused the password/.test(s.out.stdout + s.out.stderr) ? true : undefined),
        30_000,
        () => s.out.stderr,
      )
      expect((await hypervisorHealth(url)).connected).toBe(false)
      expect(s.out.stdout + s.out.stderr).not.toContain(wrong)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)
})

/** The SSH connections sshd is serving for root (one `sshd: root@…` process each). */
async function rootSessions(sshdPid: number): Promise<string[]> {
  return (await commandsUnder(sshdPid)).filter(c => c.startsWith('sshd: root@'))
}

describe('libvirt client over SSH as root: virt-ssh-helper against the system daemon', () => {
  const GUEST = `voidvm-t-lvssh-g${process.pid}`
  let sshd: TestSshd
  let uri: string
  let lv: LibvirtClient | undefined
  let guest: TestGuest | undefined
  let console1: LibvirtStream | undefined

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true })
    uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system`
    // The fixture makes the disk and a first definition (with virsh).
    if (guestImagesReady()) guest = await defineTestGuest({ name: GUEST })
  })

  afterAll(async () => {
    console1?.destroy()
    await lv?.close().catch(() => undefined)
    await guest?.remove()
    await removeDomain(GUEST)
    await sshd?.stop()
  })

  it('connects by key (host key pinned) through virt-ssh-helper and reads the host facts', async () => {
    lv = await LibvirtClient.connect(uri, {
      ssh: { privateKey: sshd.privateKey, hostFingerprint: sshd.hostKeyFingerprint },
    })
    // The session runs the helper for the driver URI, not the nc fallback.
    const ran = await commandsUnder(await sshdPid(sshd))
    expect(ran).toContain('virt-ssh-helper qemu:///system')
    expect(ran.some(c => /^nc /.test(c))).toBe(false)
    expect(await lv.getUri()).toBe('qemu:///system')
    expect(await lv.getHostname()).toBe(hostname())
    const version = await lv.getLibVersion()
    // virsh prints the same number as major.minor.micro.
    const virshVersion = /libvirt (\d+)\.(\d+)\.(\d+)/.exec(await virsh('version'))
    expect(virshVersion).not.toBeNull()
    const [, major, minor, micro] = virshVersion!.map(Number)
    expect(version).toBe(major! * 1_000_000 + minor! * 1000 + micro!)
  })

  it('opens a sibling connection as one more channel on the same SSH session (no second login); each closes on its own', async () => {
    const pid = await sshdPid(sshd)
    const sessions = () => rootSessions(pid)
    const helpers = async () => (await commandsUnder(pid)).filter(c => c.startsWith('virt-ssh-helper'))
    expect(await sessions()).toHaveLength(1)
    const sibling = await lv!.openSibling({ keepaliveIntervalMs: 0 })
    try {
      expect(await sessions()).toHaveLength(1)
      expect(await helpers()).toEqual(['virt-ssh-helper qemu:///system', 'virt-ssh-helper qemu:///system'])
      expect(await sibling.getHostname()).toBe(hostname())
    } finally {
      await sibling.close()
    }
    await waitUntil(
      async () => ((await helpers()).length === 1 ? true : undefined),
      5000,
      () => 'helpers left running',
    )
    // The shared connection and its SSH session carry on.
    expect(await sessions()).toHaveLength(1)
    expect(await lv!.getHostname()).toBe(hostname())
  })

  it.skipIf(!guestImagesReady())('lists the same domains as virsh, the test guest among them', async () => {
    await expectDomainsOfVirsh(lv!, GUEST)
    const d = (await lv!.listAllDomains()).find(x => x.name === GUEST)
    expect(d?.uuid).toBe(guest!.uuid)
  })

  it.skipIf(!guestImagesReady())(
    'defines, starts, reads, consoles into, destroys and undefines a TCG guest, with each lifecycle event over SSH',
    async () => {
      const c = lv!
      const events = recordEvents(c)
      await c.registerDomainEvents()
      // The client takes the fixture's definition and redefines it over SSH.
      const xml = await c.domainGetXmlDesc(GUEST, { inactive: true })
      await c.domainUndefine(GUEST)
      await events.waitLifecycle(GUEST, LifecycleEvent.UNDEFINED)
      await expect(virsh('domstate', GUEST)).rejects.toThrow(/failed to get domain|not found/i)
      const d = await c.domainDefineXml(xml)
      expect(d.name).toBe(GUEST)
      expect(d.uuid).toBe(guest!.uuid)
      await events.waitLifecycle(GUEST, LifecycleEvent.DEFINED)
      expect(await virsh('domstate', GUEST)).toBe('shut off')

      const started = await c.domainCreate(GUEST)
      expect(started.id).toBeGreaterThan(0)
      await events.waitLifecycle(GUEST, LifecycleEvent.STARTED)
      const info = await c.domainGetInfo(GUEST)
      expect(info.state).toBe(DomainState.RUNNING)
      expect(info.maxMemKiB).toBe(128 * 1024)
      expect(info.nrVirtCpu).toBe(1)
      expect(await guest!.state()).toBe('running')

      // The console as the server opens it: dedicated to a sibling connection, a second channel on
      // the same SSH session. The serial shell computes the second half, so only a shell that ran
      // the line prints it.
      const sibling = await c.openSibling({ keepaliveIntervalMs: 0 })
      console1 = await sibling.openConsole(GUEST)
      console1.dedicateConnection()
      console1.once('close', () => void sibling.close())
      expect(await rootSessions(await sshdPid(sshd))).toHaveLength(1)
      const waitFor = tap(console1)
      const marker = `lvssh-${randomBytes(4).toString('hex')}`
      const m = await waitFor(new RegExp(`${marker}-42\\r?\\n`), 30_000, () =>
        console1!.write(`echo ${marker}-$((6*7))\n`),
      )
      expect(m[0]).toContain(`${marker}-42`)

      const ended = new Promise<string>(r => {
        console1!.once('end', () => r('end'))
        console1!.once('error', e => r(`error: ${e.message}`))
      })
      await c.domainDestroy(GUEST)
      const stopped = await events.waitLifecycle(GUEST, LifecycleEvent.STOPPED)
      expect(stopped.detail).toBe(StoppedDetail.DESTROYED)
      expect((await c.domainGetInfo(GUEST)).state).toBe(DomainState.SHUTOFF)
      expect(await ended).toBe('end')
      console1 = undefined

      events.clear()
      await c.domainUndefine(GUEST)
      await events.waitLifecycle(GUEST, LifecycleEvent.UNDEFINED)
      await expect(virsh('domstate', GUEST)).rejects.toThrow(/failed to get domain|not found/i)
    },
    90_000,
  )

  it('closes cleanly, and the helper session ends with it', async () => {
    await lv!.close()
    expect(lv!.isOpen).toBe(false)
    const pid = await sshdPid(sshd)
    const end = Date.now() + 5000
    while ((await commandsUnder(pid)).some(c => c.startsWith('virt-ssh-helper')) && Date.now() < end)
      await new Promise(r => setTimeout(r, 100))
    expect((await commandsUnder(pid)).filter(c => c.startsWith('virt-ssh-helper'))).toEqual([])
  })
})

describe('libvirt client over SSH as root, on an SSH server that allows one channel per connection', () => {
  let sshd: TestSshd

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true, maxSessions: 1 })
  })
  afterAll(async () => {
    await sshd?.stop()
  })

  it('opens a sibling connection with a second login when the server refuses another channel', async () => {
    const uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system`
    const lv = await LibvirtClient.connect(uri, {
      ssh: { privateKey: sshd.privateKey, hostFingerprint: sshd.hostKeyFingerprint },
    })
    const pid = await sshdPid(sshd)
    const sessions = () => rootSessions(pid)
    try {
      const sibling = await lv.openSibling({ keepaliveIntervalMs: 0 })
      try {
        expect(await sessions()).toHaveLength(2)
        expect(await sibling.getHostname()).toBe(hostname())
        expect(await lv.getHostname()).toBe(hostname())
      } finally {
        await sibling.close()
      }
      await waitUntil(
        async () => ((await sessions()).length === 1 ? true : undefined),
        5000,
        () => 'sessions left',
      )
      expect(await lv.getHostname()).toBe(hostname())
    } finally {
      await lv.close()
    }
  })
})

describe('libvirt client over SSH as root where virt-ssh-helper is missing', () => {
  const THROWAWAY = `voidvm-t-lvssh-nc${process.pid}`
  let sshd: TestSshd
  let pathDir: string

  beforeAll(async () => {
    // The sessions' PATH holds nc and nothing else: a host without libvirt's helper.
    pathDir = await mkdtemp(join(tmpdir(), 'voidvm-lvssh-path-'))
    await symlink('/usr/bin/nc', join(pathDir, 'nc'))
    sshd = await startSshd({ allowRoot: true, env: { PATH: pathDir } })
  })

  afterAll(async () => {
    await removeDomain(THROWAWAY)
    await sshd?.stop()
    await rm(pathDir, { recursive: true, force: true })
  })

  it('falls back to nc -U on the system socket by default', async () => {
    const lv = await LibvirtClient.connect(`qemu+ssh://root@127.0.0.1:${sshd.port}/system`, {
      ssh: { privateKey: sshd.privateKey, hostFingerprint: sshd.hostKeyFingerprint },
    })
    try {
      const ran = await commandsUnder(await sshdPid(sshd))
      expect(ran).toContain('nc -U /var/run/libvirt/libvirt-sock')
      expect(ran.some(c => c.startsWith('virt-ssh-helper'))).toBe(false)
      expect(await lv.getUri()).toBe('qemu:///system')
      expect(await lv.getHostname()).toBe(hostname())
      // A write and a read through the relay: define a bare domain (no disk needed), list it, undefine it.
      const d = await lv.domainDefineXml(
        `<domain type='qemu'><name>${THROWAWAY}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`,
      )
      expect(await virsh('domstate', THROWAWAY)).toBe('shut off')
      await expectDomainsOfVirsh(lv, THROWAWAY)
      await lv.domainUndefine(d)
      await expect(virsh('domstate', THROWAWAY)).rejects.toThrow(/failed to get domain|not found/i)
    } finally {
      await lv.close()
    }
  })

  it('reports a missing helper as a connection error when the helper alone is asked for', async () => {
    const t0 = Date.now()
    const err = await LibvirtClient.connect(`qemu+ssh://root@127.0.0.1:${sshd.port}/system`, {
      ssh: { privateKey: sshd.privateKey, proxy: 'native' },
      connectTimeoutMs: 10_000,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as LibvirtConnectionError).reason).toBe('ssh-command-failed')
    expect((err as Error).message).toMatch(/exited with 127[\s\S]*virt-ssh-helper: command not found/)
    expect(Date.now() - t0).toBeLessThan(8000)
  })
})

describe('voidvm-server serve with a qemu+ssh:// libvirt URI', () => {
  let sshd: TestSshd
  let dataDir: string
  let child: ChildProcess | undefined

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true })
    dataDir = await mkdtemp(join(tmpdir(), 'voidvm-lvssh-data-'))
  })

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const c = child
      await new Promise<void>(r => {
        c.once('exit', () => r())
        c.kill('SIGTERM')
      })
    }
    await sshd?.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  const serve = (env: Record<string, string>) =>
    serveLibvirtUri(`qemu+ssh://root@127.0.0.1:${sshd.port}/system`, dataDir, env)

  it('connects with the key file named by VOIDVM_LIBVIRT_SSH_KEY and never logs the key', async () => {
    const keyFile = join(sshd.dir, 'client_ed25519')
    const s = serve({
      VOIDVM_LIBVIRT_SSH_KEY: keyFile,
      VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT: sshd.hostKeyFingerprint,
      VOIDVM_LOG_LEVEL: 'debug',
    })
    child = s.proc
    const url = await waitUntil(
      () => /listening on (\S+)/.exec(s.out.stdout)?.[1],
      30_000,
      () => s.out.stderr,
    )
    const health = await waitUntil(
      async () => {
        const h = (await (await fetch(new URL('/api/health', url))).json()) as {
          hypervisor: { connected: boolean; uri: string }
        }
        return h.hypervisor.connected ? h : undefined
      },
      30_000,
      () => s.out.stderr,
    )
    expect(health.hypervisor.uri).toBe(`qemu+ssh://root@127.0.0.1:${sshd.port}/system`)
    expect(await commandsUnder(await sshdPid(sshd))).toContain('virt-ssh-helper qemu:///system')
    const keyBody = sshd.privateKey.split('\n')[1]!
    expect(s.out.stdout + s.out.stderr).not.toContain(keyBody)
  }, 70_000)

  it('takes a passphrase-protected key with VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE', async () => {
    const keyFile = join(dataDir, 'lv_ed25519')
    const passphrase = `pp-${randomBytes(6).toString('hex')}`
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', keyFile])
    // Authorize it beside the fixture's own key (the fixture's authorized_keys, in its temp dir).
    await appendFile(join(sshd.dir, 'authorized_keys'), await readFile(`${keyFile}.pub`))
    const s = serve({ VOIDVM_LIBVIRT_SSH_KEY: keyFile, VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE: passphrase })
    try {
      const url = await waitUntil(
        () => /listening on (\S+)/.exec(s.out.stdout)?.[1],
        30_000,
        () => s.out.stderr,
      )
      await waitUntil(
        async () => {
          const h = (await (await fetch(new URL('/api/health', url))).json()) as { hypervisor: { connected: boolean } }
          return h.hypervisor.connected ? true : undefined
        },
        30_000,
        () => s.out.stderr,
      )
      expect(s.out.stdout + s.out.stderr).not.toContain(passphrase)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('does not connect to a host whose key differs from VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT, and says so', async () => {
    const s = serve({
      VOIDVM_LIBVIRT_SSH_KEY: join(sshd.dir, 'client_ed25519'),
      VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    })
    try {
      const url = await waitUntil(
        () => /listening on (\S+)/.exec(s.out.stdout)?.[1],
        30_000,
        () => s.out.stderr,
      )
      await waitUntil(
        () => (s.out.stderr.includes(sshd.hostKeyFingerprint) ? true : undefined),
        20_000,
        () => s.out.stderr,
      )
      expect(s.out.stderr).toMatch(/does not match the pinned/)
      const h = (await (await fetch(new URL('/api/health', url))).json()) as { hypervisor: { connected: boolean } }
      expect(h.hypervisor.connected).toBe(false)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('without a key (and no agent) it starts but cannot log in, and says so', async () => {
    const env: Record<string, string> = { VOIDVM_LIBVIRT_SSH_KEY: '', SSH_AUTH_SOCK: '' }
    const s = serve(env)
    try {
      const url = await waitUntil(
        () => /listening on (\S+)/.exec(s.out.stdout)?.[1],
        30_000,
        () => s.out.stderr,
      )
      await waitUntil(
        () => (/authentication/i.test(s.out.stdout + s.out.stderr) ? true : undefined),
        20_000,
        () => s.out.stderr,
      )
      const h = (await (await fetch(new URL('/api/health', url))).json()) as { hypervisor: { connected: boolean } }
      expect(h.hypervisor.connected).toBe(false)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('refuses to start when VOIDVM_LIBVIRT_SSH_KEY names no readable file, saying which', async () => {
    const s = serve({ VOIDVM_LIBVIRT_SSH_KEY: '/nonexistent/voidvm-key' })
    const code = await new Promise<number | null>(r => s.proc.once('exit', c => r(c)))
    expect(code).not.toBe(0)
    expect(s.out.stderr).toContain('VOIDVM_LIBVIRT_SSH_KEY')
    expect(s.out.stderr).toContain('/nonexistent/voidvm-key')
    expect(s.out.stderr).toContain('ENOENT')
  }, 30_000)
})
