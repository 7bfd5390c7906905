/**
 * vm-info over the real server and hypervisor bridge: a test-driver domain
 * with a hand-written configuration (disks, CD-ROM, interfaces, display,
 * title, autostart) read back field by field; a real TCG guest under QEMU
 * whose disk size, tap interface, VNC port and guest address (found by MAC)
 * come from the running VM; and every refusal.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { VmInfoData } from '../../src/shared/protocol.js'
import { defineTestGuest, guestImagesReady, testNetPair, virsh, waitFor, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { testDriverVirsh as testVirsh } from './libvirt-helpers.js'

const run = promisify(execFile)
const PREFIX = 'voidvm-t-info-'
const RICH = `${PREFIX}rich-${process.pid}`
const BARE = `${PREFIX}bare-${process.pid}`

const RICH_XML = `<domain type='test'>
  <name>${RICH}</name>
  <title>Web front end</title>
  <description>nginx &amp; certbot</description>
  <memory unit='GiB'>2</memory>
  <currentMemory unit='MiB'>1536</currentMemory>
  <vcpu current='2'>4</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:AA:BB:01'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='52:54:00:aa:bb:02'/>
      <source bridge='br0'/>
      <model type='e1000'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
  </devices>
</domain>`

describe('vm-info on the test driver (through the daemon)', () => {
  let server: TestServer
  let admin: TestClient
  let dir = ''

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-t-info-'))
    server = await startTestServer({ libvirtUri: 'test:///default' })
    await server.addUser('info-admin', 'admin')
    await server.addUser('info-viewer', 'viewer', [`${PREFIX}*`])
    await server.addUser('info-other', 'operator', ['other-*'])
    admin = await connect(server.wsUrl, await server.tokenFor('info-admin'))
    const rich = join(dir, 'rich.xml')
    const bare = join(dir, 'bare.xml')
    await writeFile(rich, RICH_XML)
    await writeFile(
      bare,
      `<domain type='test'><name>${BARE}</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`,
    )
    // The server's connection keeps the test driver's state alive for our virsh batches.
    await testVirsh(`define ${rich}`, `define ${bare}`, `autostart ${RICH}`, `start ${BARE}`)
  })

  afterAll(async () => {
    await admin?.close()
    await testVirsh(...[RICH, BARE].flatMap(n => [`destroy ${n}`, `undefine ${n}`])).catch(() => '')
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('reads a VM’s configuration: identity, OS, vCPUs, memory, disks, interfaces, display', async () => {
    const info = await admin.request<VmInfoData>('vm-info', { vmId: RICH })
    expect(info).toMatchObject({
      vmId: RICH,
      name: RICH,
      title: 'Web front end',
      description: 'nginx & certbot',
      status: 'stopped',
      persistent: true,
      autostart: true,
      os: { type: 'hvm', arch: 'x86_64', machine: 'pc' },
      vcpus: 2,
      memoryKiB: 1536 * 1024,
      maxMemoryKiB: 2 * 1024 * 1024,
    })
    expect(info.uuid).toMatch(/^[0-9a-f-]{36}$/)
    expect(info.disks).toEqual([
      expect.objectContaining({
        target: 'vda',
        device: 'disk',
        bus: 'virtio',
        source: '/var/lib/libvirt/images/web.qcow2',
        format: 'qcow2',
        readonly: false,
      }),
      // An empty CD drive: no source, no sizes.
      { target: 'sda', device: 'cdrom', bus: 'sata', readonly: true },
    ])
    // MACs in lower case, whatever case the XML used; the test driver names a host device even when stopped.
    expect(info.nics).toEqual([
      expect.objectContaining({
        mac: '52:54:00:aa:bb:01',
        type: 'network',
        source: 'default',
        model: 'virtio',
        addresses: [],
      }),
      expect.objectContaining({
        mac: '52:54:00:aa:bb:02',
        type: 'bridge',
        source: 'br0',
        model: 'e1000',
        addresses: [],
      }),
    ])
    // Stopped: the display has no port yet.
    expect(info.graphics).toEqual([{ type: 'vnc', listen: '127.0.0.1' }])
    // By UUID too, and the reply names the VM.
    const byUuid = await admin.request<VmInfoData>('vm-info', { vmId: info.uuid })
    expect(byUuid.name).toBe(RICH)
  })

  it('follows changes: a running, non-autostart VM with no devices', async () => {
    const info = await admin.request<VmInfoData>('vm-info', { vmId: BARE })
    expect(info).toMatchObject({ status: 'running', autostart: false, vcpus: 1, memoryKiB: 65536 })
    expect(info.disks).toEqual([])
    expect(info.nics).toEqual([])
    await testVirsh(`autostart ${BARE}`)
    expect((await admin.request<VmInfoData>('vm-info', { vmId: BARE })).autostart).toBe(true)
  })

  it('is open to viewers of the VM and refuses everyone else with the documented codes', async () => {
    const viewer = await connect(server.wsUrl, await server.tokenFor('info-viewer'))
    const other = await connect(server.wsUrl, await server.tokenFor('info-other'))
    try {
      expect((await viewer.request<VmInfoData>('vm-info', { vmId: RICH })).name).toBe(RICH)
      const forbidden = await refusal(other.request('vm-info', { vmId: RICH }))
      expect(forbidden.code).toBe('FORBIDDEN')
      const missing = await refusal(admin.request('vm-info', { vmId: `${PREFIX}nope` }))
      expect(missing.code).toBe('VM_NOT_FOUND')
      expect(missing.vmId).toBe(`${PREFIX}nope`)
      const noId = await refusal(admin.request('vm-info', {}))
      expect(noId.code).toBe('INVALID_MESSAGE')
      expect(noId.field).toBe('data.vmId')
      const wrongType = await refusal(admin.request('vm-info', { vmId: 42 }))
      expect(wrongType.code).toBe('INVALID_MESSAGE')
    } finally {
      await viewer.close()
      await other.close()
    }
  })
})

const ready = guestImagesReady()

if (!ready)
  describe('vm-info on a QEMU guest', () => {
    it.skip('skipped: the test guest images are missing; run scripts/host-setup.sh as root', () => {})
  })

describe.runIf(ready)('vm-info on a QEMU guest', () => {
  const NET = testNetPair(process.pid + 7)
  let guest: TestGuest
  let server: TestServer
  let admin: TestClient

  beforeAll(async () => {
    guest = await defineTestGuest({ name: `${PREFIX}qemu-${process.pid}`, net: NET, vcpus: 1, memoryMiB: 128 })
    await guest.start()
    server = await startTestServer({ libvirtUri: 'qemu:///system' })
    await server.addUser('info-q-admin', 'admin')
    admin = await connect(server.wsUrl, await server.tokenFor('info-q-admin'))
  })

  afterAll(async () => {
    await admin?.close()
    await server?.close()
    await guest?.remove()
  })

  it('reports the running guest’s disk size, tap interface, VNC port and the guest’s address', async () => {
    const mac = /<mac address='([0-9a-f:]+)'/.exec(await virsh('dumpxml', guest.name))?.[1]
    expect(mac).toBeTruthy()
    // The guest pings the host once its network is up; its address then shows for its MAC.
    const info = await waitFor(
      async () => {
        const i = await admin.request<VmInfoData>('vm-info', { vmId: guest.name })
        return i.nics[0]?.addresses.includes(NET.guestAddr) ? i : undefined
      },
      30_000,
      `${NET.guestAddr} in vm-info's addresses`,
    )
    expect(info).toMatchObject({ status: 'running', vcpus: 1, memoryKiB: 128 * 1024, os: { type: 'hvm' } })
    const disk = info.disks[0]!
    expect(disk).toMatchObject({ target: 'vda', device: 'disk', bus: 'virtio', format: 'raw', readonly: false })
    // The size libvirt reads from the image matches the file's own.
    const { stdout } = await run('qemu-img', ['info', '--output=json', disk.source!])
    expect(disk.capacityBytes).toBe((JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'])
    expect(disk.allocationBytes).toBeGreaterThanOrEqual(0)
    expect(info.nics).toEqual([
      expect.objectContaining({ mac, type: 'ethernet', model: 'virtio', addresses: [NET.guestAddr] }),
    ])
    expect(info.nics[0]!.hostDevice).toMatch(/^vv/)
    expect(info.graphics).toEqual([{ type: 'vnc', port: await guest.vncPort(), listen: '127.0.0.1' }])
    // Nothing secret: the XML the reply came from was not the secure one.
    expect(JSON.stringify(info)).not.toMatch(/passwd/i)

    // Stopped: no addresses, no port; the configuration stays.
    await guest.destroy()
    const off = await admin.request<VmInfoData>('vm-info', { vmId: guest.name })
    expect(off.status).toBe('stopped')
    expect(off.nics[0]!.addresses).toEqual([])
    expect(off.graphics[0]!.port).toBeUndefined()
    expect(off.disks[0]!.capacityBytes).toBe(disk.capacityBytes)
  })
})
