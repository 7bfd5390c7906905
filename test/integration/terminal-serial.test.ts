// Serial-console terminals on a real TCG guest under the system libvirtd: the
// guest runs a busybox shell on ttyS0, reached through libvirt's console
// stream (safe mode) via the hypervisor bridge's VmDirectory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TerminalConnectResponseData } from '../../src/shared/protocol.js'
import { defineTestGuest, guestImagesReady, type TestGuest } from '../fixtures/guest.js'
import type { TestServer } from '../fixtures/server.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { startTerminalServer, terminalView, type TerminalView } from './terminal-helpers.js'

const VM = 'voidvm-t-term-serial'

describe.skipIf(!guestImagesReady())('serial console terminal', () => {
  let guest: TestGuest
  let server: TestServer
  let client: TestClient
  let view: TerminalView

  beforeAll(async () => {
    guest = await defineTestGuest({ name: VM })
    server = await startTerminalServer()
    await server.addUser('serial-admin', 'admin')
    client = await connect(server.wsUrl, await server.tokenFor('serial-admin'))
    view = terminalView(client)
  })

  afterAll(async () => {
    await client?.close()
    await server?.close()
    await guest?.remove()
  })

  it('refuses a serial console on a stopped VM', async () => {
    const e = await refusal(client.request('terminal-connect', { vmId: VM, type: 'serial' }))
    expect(e).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'vm-not-running' })
  })

  it('runs a command on the guest serial console', async () => {
    await guest.start()
    const r = await client.request<TerminalConnectResponseData>('terminal-connect', { vmId: VM, type: 'serial' })
    expect(r).toMatchObject({ vmId: VM, type: 'serial' })
    expect(r.hostKey).toBeUndefined()
    // The guest boots in a few seconds; type until its shell answers.
    const deadline = Date.now() + 45_000
    for (;;) {
      await client.request('terminal-input', { vmId: VM, input: 'echo serial-ok-$((6*7))\r' })
      try {
        await view.waitFor(r.sessionId, 'serial-ok-42', 3000)
        break
      } catch (e) {
        if (Date.now() > deadline) throw e
      }
    }
    // A serial line has no window size: resize is accepted and changes nothing.
    expect(await client.request('terminal-resize', { vmId: VM, cols: 100, rows: 30 })).toEqual({
      vmId: VM,
      sessionId: r.sessionId,
      cols: 100,
      rows: 30,
    })
    // Safe mode: a second console on the same VM does not take this one over.
    const second = await refusal(client.request('terminal-connect', { vmId: VM, type: 'serial' }))
    expect(second).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'console-busy' })
    const from = view.text(r.sessionId).length
    await client.request('terminal-input', { vmId: VM, sessionId: r.sessionId, input: 'echo 虚拟机-$((2*3))\r' })
    await view.waitFor(r.sessionId, '虚拟机-6', 10_000, from)
  })

  it('ends the serial session when the VM stops', async () => {
    const sessionId = [
      ...new Set(
        client.frames.filter(f => f.type === 'terminal-output').map(f => (f.data as { sessionId: string }).sessionId),
      ),
    ][0]
    expect(sessionId).toBeDefined()
    await guest.destroy()
    const closed = await view.waitClosed(sessionId ?? '', 20_000)
    expect(['vm-stopped', 'console-closed']).toContain(closed.reason)
  })
})
