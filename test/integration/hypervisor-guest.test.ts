// vm-control and vm-status against a real TCG guest under the system libvirtd
// (qemu:///system): the status follows start, pause, resume, restart, reset
// and a forced stop, with their system events; a start libvirt refuses comes
// back as VM_START_FAILED with libvirt's own message.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineTestGuest, guestImagesReady, removeDomain, virsh, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer, type TestUser } from '../fixtures/server.js'
import { connect, ReplyError, type TestClient } from '../fixtures/ws-client.js'
import type { SystemEventData, VmStatusData } from '../../src/shared/protocol.js'
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'

const run = promisify(execFile)
const GUEST = `voidvm-t-hv-guest-${process.pid}`
const BROKEN = `voidvm-t-hv-broken-${process.pid}`

describe.skipIf(!guestImagesReady())('vm-control and vm-status on a real QEMU guest', () => {
  let server: TestServer
  let admin: TestUser
  let client: TestClient
  let guest: TestGuest
  let dir = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-t-hv-'))
    guest = await defineTestGuest({ name: GUEST, vcpus: 1, memoryMiB: 128 })
    server = await startTestServer({
      libvirtUri: 'qemu:///system',
      bridges: async ctx => [(await createHypervisorBridge(ctx, { uri: 'qemu:///system' })).bridge],
    })
    admin = await server.addUser('hv-guest-admin', 'admin')
    client = await connect(server.wsUrl, await server.tokenFor('hv-guest-admin'))
  })

  afterAll(async () => {
    await client?.close()
    await server?.close()
    await guest?.remove()
    await removeDomain(BROKEN)
    await rm(dir, { recursive: true, force: true })
  })

  const status = (pred: (d: VmStatusData) => boolean, timeoutMs = 15_000) =>
    client.next<VmStatusData>('vm-status', d => d.name === GUEST && pred(d), timeoutMs)
  const event = (name: string, timeoutMs = 30_000) =>
    client.next<SystemEventData>('system-event', d => d.vmId === GUEST && d.event === name, timeoutMs)
  const control = (action: string, force?: boolean) =>
    client.request('vm-control', force === undefined ? { vmId: GUEST, action } : { vmId: GUEST, action, force })
  /**
   * A graceful request (ACPI power button) is lost while the freshly booted
   * guest has not loaded its button driver yet, so ask again every few
   * seconds, as a user would, until the event arrives.
   */
  const gracefully = async (action: 'stop' | 'restart', eventName: string): Promise<SystemEventData> => {
    const end = Date.now() + 60_000
    for (;;) {
      expect(await control(action)).toEqual({ vmId: GUEST, action, status: 'success' })
      try {
        return await event(eventName, 6000)
      } catch (e) {
        if (Date.now() > end) throw e
      }
    }
  }

  it('start: status goes running with cpu > 0, and a vm-started event names the user', async () => {
    await client.request('subscribe', { topic: 'vm-status', vmId: GUEST })
    expect((await status(() => true, 900)).status).toBe('stopped')
    expect(await control('start')).toEqual({ vmId: GUEST, action: 'start', status: 'success' })
    const started = await event('vm-started')
    expect(started).toMatchObject({ event: 'vm-started', userId: admin.id, level: 'info' })
    expect(started.message).toBe('Virtual machine started')
    const busy = await status(d => d.status === 'running' && d.cpu > 0, 10_000)
    expect(busy.cpu).toBeLessThanOrEqual(100)
    expect(busy.vcpus).toBe(1)
    expect(busy.memoryKiB).toBe(128 * 1024)
    // The guest loads the virtio balloon driver, so memory is the guest's own
    // view (available − unused): a busybox guest uses far less than all of it.
    const withMem = await status(d => d.memory > 0 && d.memory < 100, 20_000)
    expect(withMem.memory).toBeLessThan(90)
    expect(await guest.state()).toBe('running')
  })

  it('pause → paused and vm-paused; resume → running and vm-resumed', async () => {
    await control('pause')
    expect((await event('vm-paused')).userId).toBe(admin.id)
    await status(d => d.status === 'paused')
    expect(await guest.state()).toBe('paused')
    await control('resume')
    expect((await event('vm-resumed')).userId).toBe(admin.id)
    await status(d => d.status === 'running')
  })

  it('restart (graceful reboot) raises vm-restarted', async () => {
    const ev = await gracefully('restart', 'vm-restarted')
    expect(ev.userId).toBe(admin.id)
    await status(d => d.status === 'running')
  })

  it('reset raises vm-reset', async () => {
    await control('reset')
    const ev = await event('vm-reset')
    expect(ev.userId).toBe(admin.id)
    expect(await guest.state()).toBe('running')
  })

  it('stop with force → stopped and vm-stopped', async () => {
    await control('stop', true)
    const ev = await event('vm-stopped')
    expect(ev.userId).toBe(admin.id)
    const s = await status(d => d.status === 'stopped')
    expect(s).toMatchObject({ cpu: 0, network: { rx: 0, tx: 0 }, disk: { read: 0, write: 0 } })
    expect(await guest.state()).toBe('shut off')
  })

  it('graceful stop (ACPI) → stopped', async () => {
    await control('start')
    await status(d => d.status === 'running')
    expect((await gracefully('stop', 'vm-stopped')).userId).toBe(admin.id)
    await status(d => d.status === 'stopped')
  })

  it('a start libvirt refuses is VM_START_FAILED with libvirt’s message in details', async () => {
    const missing = join(dir, 'no-such-disk.img')
    const xml = join(dir, 'broken.xml')
    await writeFile(
      xml,
      `<domain type='qemu'><name>${BROKEN}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${missing}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
    )
    await virsh('define', xml)
    const err = await client.request('vm-control', { vmId: BROKEN, action: 'start' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ReplyError)
    const e = err as ReplyError
    expect(e.code).toBe('VM_START_FAILED')
    expect(e.vmId).toBe(BROKEN)
    // libvirt's own words, e.g. "Cannot access storage file '…/no-such-disk.img': No such file or directory".
    expect(e.details).toContain('no-such-disk.img')
    const { stdout } = await run('virsh', ['-c', 'qemu:///system', 'start', BROKEN]).catch((x: { stderr: string }) => ({
      stdout: x.stderr,
    }))
    expect(stdout).toContain(e.details?.split(':')[0] ?? '???')
  })
})
