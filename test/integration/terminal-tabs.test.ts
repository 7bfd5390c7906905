// Terminal tabs, host-key re-pinning and keyboard-interactive logins, through a
// real VoidVM server against OpenSSH's sshd on loopback ports (test domains
// carry <voidvm:ssh host= port=/> metadata pointing at them).
import { readFile, writeFile } from 'node:fs/promises'
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TerminalConnectResponseData } from '../../src/shared/protocol.js'
import { KNOWN_HOSTS_FILE } from '../../src/main/terminal/index.js'
import { defineTestGuest, guestImagesReady, type TestGuest } from '../fixtures/guest.js'
import type { TestServer } from '../fixtures/server.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { startTerminalServer, terminalView } from './terminal-helpers.js'

const VM_TABS = 'voidvm-t-term-q-tabs'
const VM_HK = 'voidvm-t-term-q-hk'
const VM_HK2 = 'voidvm-t-term-q-hk2'
const VM_KBD = 'voidvm-t-term-q-kbd'
const CONNECT_TIMEOUT_MS = 4000

/**
 * A TCP endpoint in front of sshd that either forwards connections or, once
 * switched, accepts them and never answers: one VM's SSH endpoint that a
 * second tab can hang on while the first tab's session keeps working.
 */
async function switchableEndpoint(targetPort: number) {
  let blackhole = false
  const sockets = new Set<Socket>()
  const server: Server = createServer(s => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
    if (blackhole) return
    const up = tcpConnect(targetPort, '127.0.0.1')
    sockets.add(up)
    up.on('close', () => sockets.delete(up))
    up.on('error', () => s.destroy())
    s.pipe(up).pipe(s)
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    setBlackhole(on: boolean) {
      blackhole = on
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise(r => server.close(r))
    },
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Infinity

describe.skipIf(!guestImagesReady())('terminal tabs, host-key re-pinning, keyboard-interactive', () => {
  let sshd: TestSshd
  let sshdHk: TestSshd
  let sshdKbd: TestSshd
  let endpoint: Awaited<ReturnType<typeof switchableEndpoint>>
  const guests: TestGuest[] = []
  let server: TestServer
  const clients: TestClient[] = []
  const newClient = async () => {
    const c = await connect(server.wsUrl, await server.tokenFor('q-admin'))
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    sshd = await startSshd()
    sshdHk = await startSshd()
    sshdKbd = await startSshd({ keyboardInteractiveOnly: true })
    endpoint = await switchableEndpoint(sshd.port)
    guests.push(await defineTestGuest({ name: VM_TABS, ssh: { host: '127.0.0.1', port: endpoint.port } }))
    guests.push(await defineTestGuest({ name: VM_HK, ssh: { host: '127.0.0.1', port: sshdHk.port } }))
    guests.push(await defineTestGuest({ name: VM_HK2, ssh: { host: '127.0.0.1', port: sshd.port } }))
    guests.push(await defineTestGuest({ name: VM_KBD, ssh: { host: '127.0.0.1', port: sshdKbd.port } }))
    server = await startTerminalServer({ connectTimeoutMs: CONNECT_TIMEOUT_MS })
    await server.addUser('q-admin', 'admin')
  })

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined)
    await server?.close()
    for (const g of guests) await g.remove()
    await endpoint?.close()
    await sshd?.stop()
    await sshdHk?.stop()
    await sshdKbd?.stop()
  })

  it('keeps open tabs responsive while another tab on the same VM is still connecting', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const credentials = { username: sshd.username, password: sshd.password }
    const open = () =>
      c.request<TerminalConnectResponseData>('terminal-connect', { vmId: VM_TABS, type: 'ssh', credentials })
    const a = await open()
    const other = await open()
    await c.request('terminal-input', { vmId: VM_TABS, sessionId: a.sessionId, input: 'echo a-ready-$((1+1))\n' })
    await v.waitFor(a.sessionId, 'a-ready-2')

    // Tab B's endpoint now accepts and never answers: its connect runs until the timeout.
    endpoint.setBlackhole(true)
    const t0 = Date.now()
    let bDone = false
    const b = refusal(open()).finally(() => {
      bDone = true
    })
    await new Promise(r => setTimeout(r, 200)) // B is in its handshake now

    const replyMs: number[] = []
    const outputMs: number[] = []
    for (let i = 1; i <= 5; i++) {
      const from = v.text(a.sessionId).length
      const t = Date.now()
      const out = v.waitFor(a.sessionId, `a-tick-${i * 11}`, CONNECT_TIMEOUT_MS * 2, from)
      const reply = await c.request('terminal-input', {
        vmId: VM_TABS,
        sessionId: a.sessionId,
        input: `echo a-tick-$((${i}*11))\n`,
      })
      replyMs.push(Date.now() - t)
      expect(reply).toEqual({ vmId: VM_TABS, sessionId: a.sessionId })
      await out
      outputMs.push(Date.now() - t)
    }
    const resizeT = Date.now()
    expect(await c.request('terminal-resize', { vmId: VM_TABS, sessionId: a.sessionId, cols: 90, rows: 20 })).toEqual({
      vmId: VM_TABS,
      sessionId: a.sessionId,
      cols: 90,
      rows: 20,
    })
    const resizeMs = Date.now() - resizeT
    const discT = Date.now()
    await c.request('terminal-disconnect', { vmId: VM_TABS, sessionId: other.sessionId })
    const disconnectMs = Date.now() - discT
    await v.waitClosed(other.sessionId)
    // All of that happened while B was still connecting.
    expect(bDone).toBe(false)
    // Blocked behind B's connect each would take seconds (the connect timeout);
    // a loaded shared CPU can stretch one round, so bound the median tightly.
    expect(median(replyMs)).toBeLessThan(300)
    expect(median(outputMs)).toBeLessThan(300)
    for (const ms of [...replyMs, ...outputMs, resizeMs, disconnectMs]) expect(ms).toBeLessThan(1500)

    // Input to one session keeps its order: keystrokes sent without waiting arrive as typed.
    const from = v.text(a.sessionId).length
    const typed = 'echo ord-$((6*7))-xyz\n'
    const sends = [...typed].map(ch =>
      c.request('terminal-input', { vmId: VM_TABS, sessionId: a.sessionId, input: ch }),
    )
    await Promise.all(sends)
    await v.waitFor(a.sessionId, 'ord-42-xyz', 10_000, from)

    const failed = await b
    expect(failed).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'timed-out' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 500)
    endpoint.setBlackhole(false)

    // After B's failure A is the only session again: the seed-style form (no sessionId) addresses it.
    expect(await c.request('terminal-input', { vmId: VM_TABS, input: 'echo only-a\n' })).toEqual({
      vmId: VM_TABS,
      sessionId: a.sessionId,
    })
    await c.request('terminal-disconnect', { vmId: VM_TABS, sessionId: a.sessionId })
    await v.waitClosed(a.sessionId)
  })

  it('keeps the VM-wide order for messages without sessionId: input sent right after a connect reaches it', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const connectP = c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM_TABS,
      type: 'ssh',
      credentials: { username: sshd.username, password: sshd.password },
    })
    // Sent before the connect's reply, without sessionId (as the spec's example client may).
    const inputP = c.request('terminal-input', { vmId: VM_TABS, input: 'echo seed-order-$((3*3))\n' })
    const r = await connectP
    expect(await inputP).toEqual({ vmId: VM_TABS, sessionId: r.sessionId })
    await v.waitFor(r.sessionId, 'seed-order-9')
    await c.request('terminal-disconnect', { vmId: VM_TABS })
    await v.waitClosed(r.sessionId)
  })

  it('starts INVALID_MESSAGE texts with the path of the bad field', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const credentials = { username: sshd.username, password: sshd.password }
    const noCreds = await refusal(c.request('terminal-connect', { vmId: VM_TABS, type: 'ssh' }))
    expect(noCreds).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.credentials' })
    expect(noCreds.data.message).toMatch(/^data\.credentials: /)
    const port = await refusal(c.request('terminal-connect', { vmId: VM_TABS, type: 'ssh', credentials, port: 22 }))
    expect(port).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.port' })
    expect(port.data.message).toMatch(/^data\.port: /)
    const junk = await refusal(
      c.request('terminal-connect', { vmId: VM_TABS, type: 'ssh', credentials: { username: 'x', privateKey: 'nope' } }),
    )
    expect(junk).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.credentials.privateKey' })
    expect(junk.data.message).toMatch(/^data\.credentials\.privateKey /)
    const a = await c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM_TABS,
      type: 'ssh',
      credentials,
    })
    const b = await c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM_TABS,
      type: 'ssh',
      credentials,
    })
    const ambiguous = await refusal(c.request('terminal-input', { vmId: VM_TABS, input: 'x' }))
    expect(ambiguous).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.sessionId' })
    expect(ambiguous.data.message).toMatch(/^data\.sessionId: 2 terminal sessions/)
    for (const s of [a, b]) {
      await c.request('terminal-disconnect', { vmId: VM_TABS, sessionId: s.sessionId })
      await v.waitClosed(s.sessionId)
    }
  })

  it('accepts a changed host key again once the admin deleted its pin, and never writes the pin back', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const file = join(server.dataDir, KNOWN_HOSTS_FILE)
    const hkUuid = guests.find(g => g.name === VM_HK)?.uuid ?? ''
    const pinKey = `${hkUuid}:${sshdHk.port}`
    const credentials = { username: sshdHk.username, password: sshdHk.password }
    const open = (vmId: string) =>
      c.request<TerminalConnectResponseData>('terminal-connect', { vmId, type: 'ssh', credentials })
    const pins = async () =>
      (JSON.parse(await readFile(file, 'utf8')) as { hosts: Record<string, { fingerprint: string }> }).hosts

    const first = await open(VM_HK)
    const oldKey = sshdHk.hostKeyFingerprint
    expect(first.hostKey).toBe(oldKey)
    expect((await pins())[pinKey]?.fingerprint).toBe(oldKey)
    await c.request('terminal-disconnect', { vmId: VM_HK, sessionId: first.sessionId })
    await v.waitClosed(first.sessionId)

    await sshdHk.restart({ newHostKey: true })
    const newKey = sshdHk.hostKeyFingerprint
    expect(newKey).not.toBe(oldKey)
    const mismatch = await refusal(open(VM_HK))
    expect(mismatch.code).toBe('HOST_KEY_MISMATCH')
    expect(mismatch.message).toContain(pinKey)

    // The admin deletes the entry by hand, as the message says, while the server runs.
    const hosts = await pins()
    delete hosts[pinKey]
    await writeFile(file, JSON.stringify({ version: 1, hosts }, null, 2))

    // Pinning another VM meanwhile does not bring the deleted entry back.
    const other = await open(VM_HK2)
    expect(other.hostKey).toBe(sshd.hostKeyFingerprint)
    const afterOther = await pins()
    expect(afterOther[pinKey]).toBeUndefined()
    expect(Object.values(afterOther).map(p => p.fingerprint)).toContain(sshd.hostKeyFingerprint)
    await c.request('terminal-disconnect', { vmId: VM_HK2, sessionId: other.sessionId })
    await v.waitClosed(other.sessionId)

    // The next connect succeeds and pins the new key.
    const again = await open(VM_HK)
    expect(again.hostKey).toBe(newKey)
    await c.request('terminal-input', { vmId: VM_HK, sessionId: again.sessionId, input: 'echo repinned-$((8*8))\n' })
    await v.waitFor(again.sessionId, 'repinned-64')
    expect((await pins())[pinKey]?.fingerprint).toBe(newKey)
    await c.request('terminal-disconnect', { vmId: VM_HK, sessionId: again.sessionId })
    await v.waitClosed(again.sessionId)
  })

  it('logs in with the password through keyboard-interactive when sshd has PasswordAuthentication off', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const r = await c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM_KBD,
      type: 'ssh',
      credentials: { username: sshdKbd.username, password: sshdKbd.password },
    })
    expect(r.hostKey).toBe(sshdKbd.hostKeyFingerprint)
    await c.request('terminal-input', { vmId: VM_KBD, sessionId: r.sessionId, input: 'echo kbd-ok-$((7*6))\n' })
    await v.waitFor(r.sessionId, 'kbd-ok-42')
    await c.request('terminal-disconnect', { vmId: VM_KBD, sessionId: r.sessionId })
    await v.waitClosed(r.sessionId)

    const wrong = await refusal(
      c.request('terminal-connect', {
        vmId: VM_KBD,
        type: 'ssh',
        credentials: { username: sshdKbd.username, password: 'not-the-password' },
      }),
    )
    expect(wrong).toMatchObject({ code: 'TERMINAL_AUTH_FAILED', vmId: VM_KBD })
    expect(wrong.message).not.toContain('not-the-password')
  })
})
