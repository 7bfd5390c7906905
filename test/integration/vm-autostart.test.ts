/**
 * vm-autostart over the real server and hypervisor bridge: on the test driver
 * (through the daemon) the setting changes as virsh sees it, the refusals
 * carry their documented codes, a transient VM is refused with the reason,
 * and the audit log names who changed what; on a real QEMU domain libvirt's
 * autostart link appears and goes.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VmAutostartResponseData, VmInfoData } from '../../src/shared/protocol.js'
import { defineTestGuest, guestImagesReady, virsh, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { testDriverVirsh as testVirsh, testDriverXml } from './libvirt-helpers.js'

const PREFIX = 'voidvm-t-auto-'
const KEPT = `${PREFIX}kept-${process.pid}`
const PASSING = `${PREFIX}transient-${process.pid}`

/** "enable" / "disable", as `virsh dominfo` prints the autostart line. */
function autostartOf(dominfo: string): string | undefined {
  return /^Autostart:\s+(\S+)/m.exec(dominfo)?.[1]
}

describe('vm-autostart on the test driver (through the daemon)', () => {
  let server: TestServer
  let op: TestClient
  let dir = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-t-auto-'))
    server = await startTestServer({ libvirtUri: 'test:///default' })
    await server.addUser('auto-op', 'operator', [`${PREFIX}*`])
    await server.addUser('auto-viewer', 'viewer', [`${PREFIX}*`])
    await server.addUser('auto-other', 'operator', ['other-*'])
    op = await connect(server.wsUrl, await server.tokenFor('auto-op'))
    await writeFile(join(dir, 'kept.xml'), testDriverXml(KEPT))
    await writeFile(join(dir, 'transient.xml'), testDriverXml(PASSING))
    // `create` makes a running domain with no persistent definition.
    await testVirsh(`define ${join(dir, 'kept.xml')}`, `create ${join(dir, 'transient.xml')}`)
  })

  afterAll(async () => {
    await op?.close()
    await testVirsh(`undefine ${KEPT}`, `destroy ${PASSING}`).catch(() => '')
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('turns autostart on and off as libvirt sees it, and vm-info follows', async () => {
    expect(autostartOf(await testVirsh(`dominfo ${KEPT}`))).toBe('disable')
    const on = await op.request<VmAutostartResponseData>('vm-autostart', { vmId: KEPT, enabled: true })
    expect(on).toEqual({ vmId: KEPT, autostart: true })
    expect(autostartOf(await testVirsh(`dominfo ${KEPT}`))).toBe('enable')
    expect((await op.request<VmInfoData>('vm-info', { vmId: KEPT })).autostart).toBe(true)
    // Asking for what is already set succeeds and changes nothing.
    expect(await op.request('vm-autostart', { vmId: KEPT, enabled: true })).toEqual({ vmId: KEPT, autostart: true })
    // By UUID too; the reply names the VM.
    const uuid = (await op.request<VmInfoData>('vm-info', { vmId: KEPT })).uuid
    const off = await op.request<VmAutostartResponseData>('vm-autostart', { vmId: uuid, enabled: false })
    expect(off).toEqual({ vmId: KEPT, autostart: false })
    expect(autostartOf(await testVirsh(`dominfo ${KEPT}`))).toBe('disable')
  })

  it('refuses a transient VM with the reason, and leaves it alone', async () => {
    const r = await refusal(op.request('vm-autostart', { vmId: PASSING, enabled: true }))
    expect(r.code).toBe('VM_AUTOSTART_FAILED')
    expect(r.message).toMatch(/transient/)
    expect(r.vmId).toBe(PASSING)
    expect(autostartOf(await testVirsh(`dominfo ${PASSING}`))).toBe('disable')
  })

  it('refuses viewers, ungranted users, unknown VMs and malformed requests with the documented codes', async () => {
    const viewer = await connect(server.wsUrl, await server.tokenFor('auto-viewer'))
    const other = await connect(server.wsUrl, await server.tokenFor('auto-other'))
    try {
      expect((await refusal(viewer.request('vm-autostart', { vmId: KEPT, enabled: true }))).code).toBe('FORBIDDEN')
      expect((await refusal(other.request('vm-autostart', { vmId: KEPT, enabled: true }))).code).toBe('FORBIDDEN')
      const missing = await refusal(op.request('vm-autostart', { vmId: `${PREFIX}nope`, enabled: true }))
      expect(missing.code).toBe('VM_NOT_FOUND')
      expect(missing.vmId).toBe(`${PREFIX}nope`)
      const word = await refusal(op.request('vm-autostart', { vmId: KEPT, enabled: 'yes' }))
      expect(word.code).toBe('INVALID_MESSAGE')
      expect(word.field).toBe('data.enabled')
      expect(word.message).toMatch(/true or false/)
      const none = await refusal(op.request('vm-autostart', { vmId: KEPT }))
      expect(none.code).toBe('INVALID_MESSAGE')
      expect(none.field).toBe('data.enabled')
      // None of that changed the setting.
      expect(autostartOf(await testVirsh(`dominfo ${KEPT}`))).toBe('disable')
    } finally {
      await viewer.close()
      await other.close()
    }
  })

  it('audits who changed the setting, and which way', async () => {
    await op.request('vm-autostart', { vmId: KEPT, enabled: true })
    await op.request('vm-autostart', { vmId: KEPT, enabled: false })
    // Audit lines are appended as the reply goes out: read until the last one is there.
    const lines = async () =>
      (await readFile(join(server.dataDir, 'audit.log'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map(l => JSON.parse(l) as { username?: string; action: string; vmId?: string; result: string })
        .filter(l => l.action.startsWith('vm-autostart'))
    await expect
      .poll(lines, { timeout: 5000 })
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ username: 'auto-op', action: 'vm-autostart:on', vmId: KEPT, result: 'ok' }),
          expect.objectContaining({ username: 'auto-op', action: 'vm-autostart:off', vmId: KEPT, result: 'ok' }),
          expect.objectContaining({ username: 'auto-op', action: 'vm-autostart', vmId: PASSING, result: 'error' }),
          expect.objectContaining({ username: 'auto-viewer', action: 'vm-autostart', result: 'denied' }),
        ]),
      )
  })
})

const ready = guestImagesReady()

if (!ready)
  describe('vm-autostart on a QEMU domain', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('vm-autostart on a QEMU domain', () => {
  let guest: TestGuest
  let server: TestServer
  let op: TestClient

  beforeAll(async () => {
    guest = await defineTestGuest({ name: `${PREFIX}qemu-${process.pid}` })
    server = await startTestServer({ libvirtUri: 'qemu:///system' })
    await server.addUser('auto-q-op', 'operator', [`${PREFIX}*`])
    op = await connect(server.wsUrl, await server.tokenFor('auto-q-op'))
  })

  afterAll(async () => {
    await op?.close()
    await server?.close()
    await guest?.remove()
  })

  it('creates and removes libvirt’s autostart link for the domain', async () => {
    const link = `/etc/libvirt/qemu/autostart/${guest.name}.xml`
    expect(existsSync(link)).toBe(false)
    expect(await op.request('vm-autostart', { vmId: guest.name, enabled: true })).toEqual({
      vmId: guest.name,
      autostart: true,
    })
    expect(autostartOf(await virsh('dominfo', guest.name))).toBe('enable')
    expect(existsSync(link)).toBe(true)
    expect(await op.request('vm-autostart', { vmId: guest.name, enabled: false })).toEqual({
      vmId: guest.name,
      autostart: false,
    })
    expect(autostartOf(await virsh('dominfo', guest.name))).toBe('disable')
    expect(existsSync(link)).toBe(false)
  })
})
