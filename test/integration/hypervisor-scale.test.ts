// 200 domains on the test driver (a private libvirtd, so the shared daemon's
// test:///default is not flooded): every tick is still ONE
// CONNECT_GET_ALL_DOMAIN_STATS, and it yields a vm-status for every VM.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../fixtures/private-libvirtd.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import { waitFor } from '../fixtures/guest.js'
import type { VmStatusData } from '../../src/shared/protocol.js'
import { createHypervisorBridge, LibvirtHvClient, type HypervisorService } from '../../src/main/hypervisor/index.js'

const run = promisify(execFile)
const N = 200
const names = Array.from({ length: N }, (_, i) => `voidvm-t-hv-s${String(i).padStart(3, '0')}`)

describe('status sampling at 200 domains', () => {
  let daemon: PrivateLibvirtd
  let server: TestServer
  let client: TestClient
  let service: HypervisorService

  beforeAll(async () => {
    daemon = await startPrivateLibvirtd()
    server = await startTestServer({
      bridges: async ctx => {
        // The periodic resync (one list call, off-tick) is pushed out of the window measured here.
        const hv = await createHypervisorBridge(ctx, { uri: daemon.uri, resyncMs: 600_000 })
        service = hv.service
        return [hv.bridge]
      },
    })
    await server.addUser('hv-scale', 'viewer')
    // The server's connection keeps the test driver's state; one virsh process defines them all.
    const cmds: string[] = []
    for (const [i, name] of names.entries()) {
      const f = join(daemon.dir, `${name}.xml`)
      await writeFile(
        f,
        `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`,
      )
      cmds.push(`define ${f}`)
      if (i % 2 === 0) cmds.push(`start ${name}`)
    }
    await run('virsh', ['-c', daemon.uri, cmds.join(' ; ')], { timeout: 120_000, maxBuffer: 16 << 20 })
    await waitFor(() => (service.list().length >= N + 1 ? true : undefined), 30_000, 'the inventory to hold 201 VMs')
    client = await connect(server.wsUrl, await server.tokenFor('hv-scale'))
  })

  afterAll(async () => {
    await client?.close()
    await server?.close()
    await daemon?.dispose()
  })

  it('one stats call per tick, a vm-status per VM per tick', async () => {
    const calls = (service.client as LibvirtHvClient).calls
    const count = () => client.frames.filter(f => f.type === 'vm-status').length
    await client.request('subscribe', { topic: 'vm-status-all' })
    // The snapshot: every VM at once.
    await waitFor(() => (count() >= N + 1 ? true : undefined), 2000, 'the snapshot of 201 VMs')
    const seen = new Set(client.frames.filter(f => f.type === 'vm-status').map(f => (f.data as VmStatusData).name))
    for (const n of names) expect(seen.has(n)).toBe(true)

    // Let any define-time info fetches settle, then watch three ticks.
    await new Promise<void>(ok => {
      const off = service.onTick(() => (off(), ok()))
    })
    const total0 = calls.total
    const stats0 = calls.get('allStats')
    const frames0 = count()
    const ticks0 = service.ticks
    await new Promise<void>(ok => {
      const off = service.onTick(n => n >= ticks0 + 3 && (off(), ok()))
    })
    expect(service.ticks - ticks0).toBe(3)
    expect(calls.get('allStats') - stats0).toBe(3)
    // Nothing else: no per-domain calls inside a tick.
    expect(calls.total - total0).toBe(3)
    await waitFor(() => (count() - frames0 >= 3 * (N + 1) ? true : undefined), 3000, '3 × 201 vm-status pushes')
    const last = client.frames.filter(f => f.type === 'vm-status').slice(-(N + 1))
    const byName = new Map(last.map(f => [(f.data as VmStatusData).name, f.data as VmStatusData]))
    expect(byName.get('voidvm-t-hv-s000')?.status).toBe('running')
    expect(byName.get('voidvm-t-hv-s001')?.status).toBe('stopped')
  })
})
