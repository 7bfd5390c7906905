// libvirtd killed mid-subscription and restarted: subscribers hear
// hypervisor-disconnected, control requests get HYPERVISOR_UNAVAILABLE, and
// once the daemon is back the inventory resyncs and vm-status pushes resume
// without the client doing anything. Uses a PRIVATE libvirtd (serving
// test:///default) that only this test kills; the system daemon is untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../fixtures/private-libvirtd.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, ReplyError, type TestClient } from '../fixtures/ws-client.js'
import type { SystemEventData, VmStatusData } from '../../src/shared/protocol.js'
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'

describe('hypervisor bridge across a libvirtd restart', () => {
  let daemon: PrivateLibvirtd
  let server: TestServer
  let client: TestClient

  beforeAll(async () => {
    daemon = await startPrivateLibvirtd()
    server = await startTestServer({
      bridges: async ctx => [
        (await createHypervisorBridge(ctx, { uri: daemon.uri, libvirt: { initialDelayMs: 200, maxDelayMs: 1000 } }))
          .bridge,
      ],
    })
    await server.addUser('hv-rc-admin', 'admin')
    client = await connect(server.wsUrl, await server.tokenFor('hv-rc-admin'))
  })

  afterAll(async () => {
    await client?.close()
    await server?.close()
    await daemon?.dispose()
  })

  const running = (timeoutMs: number) =>
    client.next<VmStatusData>('vm-status', d => d.name === 'test' && d.status === 'running', timeoutMs)

  it('tells subscribers, refuses control while down, and resumes pushes by itself', async () => {
    await client.request('subscribe', { topic: 'vm-status-all' })
    await running(900)
    await running(3000)

    await daemon.kill()
    const down = await client.next<SystemEventData>('system-event', d => d.event === 'hypervisor-disconnected', 10_000)
    expect(down.level).toBe('error')
    expect(down).not.toHaveProperty('vmId')

    const err = await client.request('vm-control', { vmId: 'test', action: 'pause' }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(ReplyError)
    expect((err as ReplyError).code).toBe('HYPERVISOR_UNAVAILABLE')
    const health = (await (await fetch(`${server.url}/api/health`)).json()) as { hypervisor: { connected: boolean } }
    expect(health.hypervisor.connected).toBe(false)

    // No pushes while the daemon is gone.
    const count = () => client.frames.filter(f => f.type === 'vm-status').length
    const before = count()
    await new Promise(r => setTimeout(r, 1500))
    expect(count()).toBe(before)

    await daemon.start()
    await client.next<SystemEventData>('system-event', d => d.event === 'hypervisor-connected', 15_000)
    // Same subscription, nothing re-sent by the client: pushes come again.
    await running(5000)
    await running(3000)
    // And control works again.
    expect(await client.request('vm-control', { vmId: 'test', action: 'pause' })).toEqual({
      vmId: 'test',
      action: 'pause',
      status: 'success',
    })
    await client.next<VmStatusData>('vm-status', d => d.name === 'test' && d.status === 'paused', 5000)
  })
})
