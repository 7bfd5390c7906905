/**
 * The spec's own example client (copied verbatim into test/fixtures/seed-client.js)
 * against a real server with its default bridges on libvirtd's test:///default:
 * it connects with ?token=, subscribes and gets its reply, and every send it
 * makes resolves.
 */
import WebSocket from 'ws'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { VM_STATUSES } from '../../src/shared/protocol.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'

interface SeedClient {
  ws: WebSocket
  callbacks: Map<string, unknown>
  connect(): Promise<void>
  send(type: string, data: unknown): Promise<unknown>
  subscribe(topic: string, handler: (data: unknown) => void): Promise<unknown>
  startVm(vmId: string): Promise<unknown>
  stopVm(vmId: string): Promise<unknown>
  subscribeVmStatus(vmId: string, handler: (data: unknown) => void): Promise<unknown>
  connectVnc(vmId: string): Promise<unknown>
  sendVncInput(vmId: string, inputType: string, inputData: object): void
  connectTerminal(vmId: string, credentials: object): Promise<unknown>
  sendTerminalInput(vmId: string, input: string): void
  reconnect(): void
  disconnect(): void
}

let srv: TestServer
const g = globalThis as { WebSocket?: unknown }
const savedWebSocket = g.WebSocket

beforeAll(async () => {
  srv = await startTestServer()
  await srv.addUser('seed', 'admin')
  g.WebSocket = WebSocket
})

afterAll(async () => {
  g.WebSocket = savedWebSocket
  await srv?.close()
})

it('the seed example client connects with ?token=, subscribes, and every send resolves', async () => {
  // A .js fixture without type declarations: typed by the interface above.
  const mod = (await import('../fixtures/seed-client.js' as string)) as {
    VoidVMWebSocket: new (url: string, token: string) => SeedClient
  }
  const client = new mod.VoidVMWebSocket(srv.wsUrl, await srv.tokenFor('seed'))
  // Its onclose reconnects forever; the test ends the session for good.
  client.reconnect = () => undefined

  // Count every send and how it settles (sendVncInput/sendTerminalInput drop their promise).
  const sends: { type: string; settled: Promise<{ ok: boolean; value: unknown }> }[] = []
  const send = client.send.bind(client)
  client.send = (type, data) => {
    const p = send(type, data)
    sends.push({
      type,
      settled: p.then(
        value => ({ ok: true, value }),
        value => ({ ok: false, value }),
      ),
    })
    return p
  }

  await client.connect()
  expect(client.ws.readyState).toBe(WebSocket.OPEN)

  const statuses: { vmId: string; status: string }[] = []
  const sub = await client.subscribeVmStatus('vm-001', d => statuses.push(d as { vmId: string; status: string }))
  // subscribe with no vmId (as the example sends it) is all VMs.
  expect(sub).toEqual({ topic: 'vm-status' })

  // The example's VM does not exist here: the reply is an error naming it, and the promise still resolves.
  const start = (await client.startVm('vm-001')) as { code: string; vmId?: string }
  expect(start.code).toBe('VM_NOT_FOUND')
  const vnc = (await client.connectVnc('vm-001')) as { code: string }
  expect(typeof vnc.code).toBe('string')
  client.sendVncInput('vm-001', 'mouse', { x: 100, y: 200, buttons: 1 })
  client.sendTerminalInput('vm-001', 'ls -la\n')

  const outcomes = await Promise.all(sends.map(s => s.settled))
  expect(sends.map(s => s.type)).toEqual(['subscribe', 'vm-control', 'vnc-connect', 'vnc-input', 'terminal-input'])
  expect(outcomes.every(o => o.ok)).toBe(true)
  expect(client.callbacks.size).toBe(0)

  // test:///default has the domain "test": its status reaches the handler.
  await expect.poll(() => statuses.length, { timeout: 10_000 }).toBeGreaterThan(0)
  for (const s of statuses) expect(VM_STATUSES).toContain(s.status)

  client.disconnect()
  await new Promise(r => client.ws.once('close', r))
})
