// The SSH transport against OpenSSH's sshd on a loopback port (test/fixtures/sshd.ts).
//
// The sshd test user is unprivileged and this host has no polkit/D-Bus, so it
// cannot use the system daemon. The success paths therefore reach the private
// libvirtd of test/fixtures/private-libvirtd.ts, which runs as that same user
// (its socket is the user's own), through the `nc -U <socket>` relay that a
// `?socket=` URI selects. The default path (`virt-ssh-helper <uri>`) is checked
// against the system daemon: the protocol runs through the helper up to the
// daemon's typed refusal of an unprivileged user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LibvirtClient,
  LibvirtConnectionError,
  LibvirtError,
  LifecycleEvent,
  Proc,
} from '../../src/main/libvirt/index.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../fixtures/private-libvirtd.js'
import { recordEvents, testDriverXml } from './libvirt-helpers.js'

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
