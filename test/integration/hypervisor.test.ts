// The hypervisor bridge over the real API against libvirt's test driver,
// opened through the system daemon (test:///default): status topics,
// vm-control and each of its refusals, lifecycle events in zh-CN and who
// caused them. test:///default is shared by every client of the daemon; our
// domains carry the voidvm-t-hv- prefix and are removed in afterAll.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer, type TestUser } from '../fixtures/server.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { testDriverVirsh as virsh } from './libvirt-helpers.js'
import type { SystemEventData, VmStatusData } from '../../src/shared/protocol.js'

const PREFIX = 'voidvm-t-hv-'
const A = `${PREFIX}a-${process.pid}` // stays stopped
const B = `${PREFIX}b-${process.pid}` // running
const C = `${PREFIX}c-${process.pid}` // paused
const D = `${PREFIX}d-${process.pid}` // driven through its lifecycle
const E = `${PREFIX}e-${process.pid}` // defined and undefined while we watch
const U = `${PREFIX}un-${process.pid}` // controlled by an operator and, behind VoidVM's back, by virsh

let dir = ''

async function domainFile(name: string, vcpus = 2): Promise<string> {
  const f = join(dir, `${name}.xml`)
  await writeFile(
    f,
    `<domain type='test'><name>${name}</name><memory unit='MiB'>96</memory><vcpu>${vcpus}</vcpu><os><type>hvm</type></os></domain>`,
  )
  return f
}

describe('hypervisor bridge on the test driver (through the daemon)', () => {
  let server: TestServer
  let admin: TestUser
  let opUn: TestUser
  let client: TestClient

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'voidvm-t-hv-'))
    server = await startTestServer({ libvirtUri: 'test:///default', locale: 'zh-CN' })
    admin = await server.addUser('hv-admin', 'admin')
    await server.addUser('hv-viewer', 'viewer')
    await server.addUser('hv-op-other', 'operator', ['other-*'])
    opUn = await server.addUser('hv-op-un', 'operator', [`${PREFIX}un-*`])
    client = await connect(server.wsUrl, await server.tokenFor('hv-admin'))
    // The server's connection keeps the test driver's state alive for our virsh batches.
    await virsh(
      `define ${await domainFile(A)}`,
      `define ${await domainFile(B)}`,
      `define ${await domainFile(C)}`,
      `define ${await domainFile(D, 1)}`,
      `start ${B}`,
      `start ${C}`,
      `suspend ${C}`,
    )
    // The server learns of the suspend from libvirt's lifecycle event, a moment after virsh
    // returns: wait until its inventory says so, or the first test's snapshot races the event.
    const probe = await connect(server.wsUrl, await server.tokenFor('hv-admin'))
    try {
      await probe.request('subscribe', { topic: 'vm-status', vmId: C })
      await probe.next<VmStatusData>('vm-status', d => d.name === C && d.status === 'paused', 10_000)
    } finally {
      await probe.close()
    }
  })

  afterAll(async () => {
    await client?.close()
    await virsh(...[A, B, C, D, E, U].flatMap(n => [`destroy ${n}`, `undefine ${n}`])).catch(() => '')
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const statusOf = (name: string, timeoutMs = 5000) =>
    client.next<VmStatusData>('vm-status', d => d.name === name, timeoutMs)

  it('subscribe to vm-status without vmId (as the seed client sends) gets every VM at once', async () => {
    const t0 = Date.now()
    const reply = await client.request('subscribe', { topic: 'vm-status' })
    expect(reply).toEqual({ topic: 'vm-status' })
    const [a, b, c] = await Promise.all([statusOf(A, 900), statusOf(B, 900), statusOf(C, 900)])
    // A snapshot, not after the first tick, and right after the reply.
    expect(Date.now() - t0).toBeLessThan(900)
    const replyAt = client.frames.findIndex(f => f.type === 'subscribe-response')
    expect(replyAt).toBeGreaterThanOrEqual(0)
    expect(replyAt).toBeLessThan(client.frames.findIndex(f => f.type === 'vm-status'))
    expect(Object.keys(a).sort()).toEqual(
      ['vmId', 'uuid', 'name', 'status', 'cpu', 'memory', 'network', 'disk', 'vcpus', 'memoryKiB'].sort(),
    )
    expect(a).toMatchObject({ vmId: A, name: A, status: 'stopped', vcpus: 2, memoryKiB: 96 * 1024 })
    expect(a.uuid).toBe((await virsh(`domuuid ${A}`)).trim())
    expect(a.network).toEqual({ rx: 0, tx: 0 })
    expect(a.disk).toEqual({ read: 0, write: 0 })
    expect(b.status).toBe('running')
    expect(c.status).toBe('paused')
    // And then every tick, one push per VM.
    await statusOf(B, 3000)
    await client.request('unsubscribe', { topic: 'vm-status' })
  })

  it('vm-status with a vmId (name or UUID) gets only that VM', async () => {
    const uuid = (await virsh(`domuuid ${B}`)).trim()
    const other = await connect(server.wsUrl, await server.tokenFor('hv-admin'))
    try {
      expect(await other.request('subscribe', { topic: 'vm-status', vmId: uuid })).toEqual({
        topic: 'vm-status',
        vmId: B,
      })
      await other.next<VmStatusData>('vm-status', d => d.name === B, 900)
      await other.next<VmStatusData>('vm-status', d => d.name === B, 3000)
      expect(other.frames.filter(f => f.type === 'vm-status').every(f => (f.data as VmStatusData).name === B)).toBe(
        true,
      )
    } finally {
      await other.close()
    }
  })

  it('vm-status-all gets every VM the user may see, and only those', async () => {
    const op = await connect(server.wsUrl, await server.tokenFor('hv-op-other'))
    try {
      await op.request('subscribe', { topic: 'vm-status-all' })
      await client.request('subscribe', { topic: 'vm-status-all' })
      await statusOf(A, 900)
      await new Promise(r => setTimeout(r, 1500))
      expect(op.frames.filter(f => f.type === 'vm-status')).toEqual([])
      await client.request('unsubscribe', { topic: 'vm-status-all' })
    } finally {
      await op.close()
    }
  })

  it('a VM defined and undefined behind our back shows up and raises vm-created / vm-deleted (zh-CN)', async () => {
    await virsh(`define ${await domainFile(E)}`)
    const created = await client.next<SystemEventData>('system-event', d => d.vmId === E && d.event === 'vm-created')
    expect(created).toEqual({ event: 'vm-created', vmId: E, message: '虚拟机创建成功', level: 'info' })
    await virsh(`undefine ${E}`)
    const deleted = await client.next<SystemEventData>('system-event', d => d.vmId === E && d.event === 'vm-deleted')
    expect(deleted.message).toBe('虚拟机已删除')
    expect(deleted).not.toHaveProperty('userId')
  })

  it('drives a VM through start, pause, resume, forced stop (reset: see hypervisor-guest); events carry the user', async () => {
    await client.request('subscribe', { topic: 'vm-status', vmId: D })
    expect((await statusOf(D, 900)).status).toBe('stopped')

    const steps: [string, boolean, string, string][] = [
      ['start', false, 'vm-started', 'running'],
      ['pause', false, 'vm-paused', 'paused'],
      ['resume', false, 'vm-resumed', 'running'],
      ['stop', true, 'vm-stopped', 'stopped'],
    ]
    for (const [action, force, event, status] of steps) {
      expect(await client.request('vm-control', { vmId: D, action, force })).toEqual({
        vmId: D,
        action,
        status: 'success',
      })
      const ev = await client.next<SystemEventData>('system-event', d => d.vmId === D && d.event === event)
      expect(ev.userId).toBe(admin.id)
      expect(ev.username).toBe('hv-admin')
      expect(ev.message).toMatch(/[\u4e00-\u9fff]/)
      await client.next<VmStatusData>('vm-status', d => d.name === D && d.status === status, 5000)
      expect((await virsh(`domstate ${D}`)).trim()).toBe(status === 'stopped' ? 'shut off' : status)
    }
    await client.request('unsubscribe', { topic: 'vm-status', vmId: D })
  })

  it('names the acting user to other users who may see the VM; events from outside VoidVM name nobody', async () => {
    const op = await connect(server.wsUrl, await server.tokenFor('hv-op-un'))
    try {
      await virsh(`define ${await domainFile(U, 1)}`)
      const created = await client.next<SystemEventData>('system-event', d => d.vmId === U && d.event === 'vm-created')
      expect(created).not.toHaveProperty('userId')
      expect(created).not.toHaveProperty('username')

      // The operator starts it; the admin's socket (not the one that asked) hears who did.
      expect(await op.request('vm-control', { vmId: U, action: 'start' })).toEqual({
        vmId: U,
        action: 'start',
        status: 'success',
      })
      const seen = await client.next<SystemEventData>('system-event', d => d.vmId === U && d.event === 'vm-started')
      expect(seen).toEqual({
        event: 'vm-started',
        vmId: U,
        userId: opUn.id,
        username: 'hv-op-un',
        message: '虚拟机已启动',
        level: 'info',
      })
      const own = await op.next<SystemEventData>('system-event', d => d.vmId === U && d.event === 'vm-started')
      expect(own.username).toBe('hv-op-un')

      // virsh on the same daemon: the events carry neither an id nor a name.
      await virsh(`suspend ${U}`, `destroy ${U}`)
      for (const event of ['vm-paused', 'vm-stopped']) {
        const ev = await client.next<SystemEventData>('system-event', d => d.vmId === U && d.event === event)
        expect(ev).not.toHaveProperty('userId')
        expect(ev).not.toHaveProperty('username')
      }
      expect((await virsh(`domstate ${U}`)).trim()).toBe('shut off')
    } finally {
      await op.close()
    }
  })

  it('refuses an unknown VM with VM_NOT_FOUND', async () => {
    const e = await refusal(client.request('vm-control', { vmId: `${PREFIX}missing`, action: 'start' }))
    expect(e.code).toBe('VM_NOT_FOUND')
  })

  it('refuses start of a running VM with VM_ALREADY_RUNNING', async () => {
    const e = await refusal(client.request('vm-control', { vmId: B, action: 'start' }))
    expect(e.code).toBe('VM_ALREADY_RUNNING')
    expect(e.vmId).toBe(B)
  })

  it('refuses stop of a stopped VM with VM_NOT_RUNNING', async () => {
    const e = await refusal(client.request('vm-control', { vmId: A, action: 'stop' }))
    expect(e.code).toBe('VM_NOT_RUNNING')
  })

  it('refuses pause of a stopped VM with VM_NOT_RUNNING', async () => {
    const e = await refusal(client.request('vm-control', { vmId: A, action: 'pause' }))
    expect(e.code).toBe('VM_NOT_RUNNING')
  })

  it('refuses reset of a stopped VM with VM_NOT_RUNNING', async () => {
    const e = await refusal(client.request('vm-control', { vmId: A, action: 'reset' }))
    expect(e.code).toBe('VM_NOT_RUNNING')
  })

  it('refuses resume of a running VM with VM_NOT_PAUSED', async () => {
    const e = await refusal(client.request('vm-control', { vmId: B, action: 'resume' }))
    expect(e.code).toBe('VM_NOT_PAUSED')
  })

  it('refuses vm-control from a viewer with FORBIDDEN', async () => {
    const viewer = await connect(server.wsUrl, await server.tokenFor('hv-viewer'))
    try {
      const e = await refusal(viewer.request('vm-control', { vmId: C, action: 'resume' }))
      expect(e.code).toBe('FORBIDDEN')
    } finally {
      await viewer.close()
    }
    expect((await virsh(`domstate ${C}`)).trim()).toBe('paused')
  })

  it('refuses vm-control on a VM outside the user’s grants with FORBIDDEN', async () => {
    const op = await connect(server.wsUrl, await server.tokenFor('hv-op-other'))
    try {
      const e = await refusal(op.request('vm-control', { vmId: C, action: 'resume' }))
      expect(e.code).toBe('FORBIDDEN')
    } finally {
      await op.close()
    }
    expect((await virsh(`domstate ${C}`)).trim()).toBe('paused')
  })

  it('reports the hypervisor as connected in /api/health', async () => {
    const res = await fetch(`${server.url}/api/health`)
    const body = (await res.json()) as { hypervisor: { connected: boolean; uri: string } }
    expect(body.hypervisor).toEqual({ connected: true, uri: 'test:///default' })
  })
})
