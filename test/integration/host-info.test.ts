/**
 * host-info against the system daemon: every figure is compared with what
 * virsh prints for the same host (hostname, versions, nodeinfo, whether KVM
 * guests are offered), and the VM counts cover only the VMs a user's grants
 * match. A server without a hypervisor bridge says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { HostInfoData } from '../../src/shared/protocol.js'
import { defineTestGuest, guestImagesReady, virsh, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, refusal } from '../fixtures/ws-client.js'

const PREFIX = `voidvm-t-hinfo-${process.pid}-`

/** "Label:   value" lines of virsh output as a map. */
function fields(text: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  return m
}

const names = async (...flags: string[]) => (await virsh('list', '--name', ...flags)).split('\n').filter(Boolean)

describe.runIf(guestImagesReady())('host-info on the system daemon', () => {
  let server: TestServer
  let up: TestGuest
  let down: TestGuest

  beforeAll(async () => {
    up = await defineTestGuest({ name: `${PREFIX}up` })
    down = await defineTestGuest({ name: `${PREFIX}down` })
    await up.start()
    server = await startTestServer({ libvirtUri: 'qemu:///system' })
    await server.addUser('hinfo-admin', 'admin')
    await server.addUser('hinfo-viewer', 'viewer', [`${PREFIX}u*`])
  }, 120_000)

  afterAll(async () => {
    await server?.close()
    await up?.remove()
    await down?.remove()
  })

  it('describes the host as virsh does', async () => {
    const admin = await connect(server.wsUrl, await server.tokenFor('hinfo-admin'))
    try {
      const info = await admin.request<HostInfoData>('host-info')
      expect(info.hostname).toBe(await virsh('hostname'))
      expect(info.uri).toBe('qemu:///system')
      const version = fields(await virsh('version'))
      expect(`libvirt ${info.libvirtVersion}`).toBe(version.get('Using library'))
      expect(`${info.hypervisor.type} ${info.hypervisor.version}`).toBe(version.get('Running hypervisor'))
      const node = fields(await virsh('nodeinfo'))
      expect(info.cpu.cpus).toBe(Number(node.get('CPU(s)')))
      expect(`${info.cpu.mhz} MHz`).toBe(node.get('CPU frequency'))
      expect(info.cpu.sockets).toBe(Number(node.get('CPU socket(s)')))
      expect(info.cpu.cores).toBe(Number(node.get('Core(s) per socket')))
      expect(info.cpu.threads).toBe(Number(node.get('Thread(s) per core')))
      expect(info.cpu.numaNodes).toBe(Number(node.get('NUMA cell(s)')))
      // All the host's memory, as nodememstats (and /proc/meminfo) count it.
      expect(`${info.memoryKiB} KiB`).toBe(fields(await virsh('nodememstats')).get('total'))
      const caps = await virsh('capabilities')
      expect(info.cpu.arch).toBe(/<host>[\s\S]*?<arch>([^<]+)<\/arch>/.exec(caps)?.[1])
      expect(info.kvm).toBe(caps.includes("<domain type='kvm'/>"))
      // An admin sees every domain; running counts those virsh lists as active (running or paused).
      expect(info.vms).toEqual({ total: (await names('--all')).length, running: (await names()).length })
      expect(info.vms.total).toBeGreaterThanOrEqual(2)
    } finally {
      await admin.close()
    }
  })

  it('counts only the VMs a user may see, whether called with or without data', async () => {
    const viewer = await connect(server.wsUrl, await server.tokenFor('hinfo-viewer'))
    try {
      expect((await viewer.request<HostInfoData>('host-info', {})).vms).toEqual({ total: 1, running: 1 })
      // As the seed's clients send a message without fields: no data member at all.
      const reply = viewer.nextFrame(f => f.id === 'no-data')
      viewer.send({ type: 'host-info', id: 'no-data' })
      const f = (await reply) as unknown as { type: string; data: HostInfoData }
      expect(f.type).toBe('host-info-response')
      expect(f.data.vms).toEqual({ total: 1, running: 1 })
    } finally {
      await viewer.close()
    }
  })
})

describe('host-info without a hypervisor bridge', () => {
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer({ bridges: [] })
    await server.addUser('hinfo-lone', 'viewer')
  })
  afterAll(async () => server?.close())

  it('answers HYPERVISOR_UNAVAILABLE with the reason', async () => {
    const c = await connect(server.wsUrl, await server.tokenFor('hinfo-lone'))
    try {
      const r = await refusal(c.request('host-info'))
      expect(r.code).toBe('HYPERVISOR_UNAVAILABLE')
      expect(r.message).toMatch(/no hypervisor bridge/)
    } finally {
      await c.close()
    }
  })
})
