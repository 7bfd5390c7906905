// SSH terminals through the VoidVM server against OpenSSH's sshd on a loopback
// port: test domains under the system libvirtd carry the
// <voidvm:ssh host= port=/> metadata pointing at it, so the server finds the
// target the way it would for a VM behind a port forward.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { promisify } from 'node:util'
import { createServer, type Server, type Socket } from 'node:net'
import WebSocket from 'ws'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TerminalConnectResponseData } from '../../src/shared/protocol.js'
import { KNOWN_HOSTS_FILE } from '../../src/main/terminal/index.js'
import { defineTestGuest, guestImagesReady, type TestGuest } from '../fixtures/guest.js'
import type { TestServer, TestUser } from '../fixtures/server.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { startTerminalServer, terminalView, type TerminalView } from './terminal-helpers.js'

const run = promisify(execFile)
const VM = 'voidvm-t-term-ssh'
const VM_B = 'voidvm-t-term-ssh-b'
const VM_NOADDR = 'voidvm-t-term-noaddr'

describe.skipIf(!guestImagesReady())('SSH terminal sessions', () => {
  let sshd: TestSshd
  let sshdB: TestSshd
  const guests: TestGuest[] = []
  let server: TestServer
  let admin: TestUser
  let client: TestClient
  let view: TerminalView
  const clients: TestClient[] = []

  const creds = () => ({ username: sshd.username, password: sshd.password })
  const open = async (c: TestClient, vmId: string, extra: Record<string, unknown> = {}) =>
    c.request<TerminalConnectResponseData>('terminal-connect', { vmId, type: 'ssh', credentials: creds(), ...extra })
  const newClient = async (user = admin.username) => {
    const c = await connect(server.wsUrl, await server.tokenFor(user))
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    sshd = await startSshd()
    sshdB = await startSshd()
    guests.push(await defineTestGuest({ name: VM, ssh: { host: '127.0.0.1', port: sshd.port } }))
    guests.push(await defineTestGuest({ name: VM_B, ssh: { host: '127.0.0.1', port: sshdB.port } }))
    guests.push(await defineTestGuest({ name: VM_NOADDR }))
    server = await startTerminalServer({ highWaterBytes: 256 * 1024 })
    admin = await server.addUser('term-admin', 'admin')
    await server.addUser('term-viewer', 'viewer')
    await server.addUser('term-op-other', 'operator', ['voidvm-t-term-other-*'])
    client = await newClient()
    view = terminalView(client)
  })

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined)
    await server?.close()
    for (const g of guests) await g.remove()
    await sshd?.stop()
    await sshdB?.kill()
  })

  it('runs a command in an xterm-256color PTY and pins the host key on first use', async () => {
    const r = await open(client, VM)
    expect(r).toMatchObject({ vmId: VM, type: 'ssh', hostKey: sshd.hostKeyFingerprint })
    expect(r.sessionId).toMatch(/^[\w-]{8,}$/)
    client.send({
      type: 'terminal-input',
      data: { vmId: VM, sessionId: r.sessionId, input: 'echo term-ok-$((6*7)) $TERM\n' },
    })
    await view.waitFor(r.sessionId, 'term-ok-42 xterm-256color')
    // The pin is in the data dir, keyed by the VM's UUID and port.
    const pins = JSON.parse(await readFile(join(server.dataDir, KNOWN_HOSTS_FILE), 'utf8')) as {
      hosts: Record<string, { fingerprint: string }>
    }
    expect(pins.hosts[`${guests[0]?.uuid}:${sshd.port}`]?.fingerprint).toBe(sshd.hostKeyFingerprint)
    await client.request('terminal-disconnect', { vmId: VM, sessionId: r.sessionId })
    expect(await view.waitClosed(r.sessionId)).toMatchObject({ vmId: VM, reason: 'client-disconnect' })
  })

  it('opens the PTY at the requested size and resizes it', async () => {
    const r = await open(client, VM, { cols: 132, rows: 43 })
    await client.request('terminal-input', { vmId: VM, input: 'stty size\n' })
    await view.waitFor(r.sessionId, /[\r\n]43 132\r?\n/)
    const resized = await client.request('terminal-resize', { vmId: VM, cols: 100, rows: 30 })
    expect(resized).toEqual({ vmId: VM, sessionId: r.sessionId, cols: 100, rows: 30 })
    const from = view.text(r.sessionId).length
    await client.request('terminal-input', { vmId: VM, input: 'stty size\n' })
    await view.waitFor(r.sessionId, /[\r\n]30 100\r?\n/, 10_000, from)
    await client.request('terminal-disconnect', { vmId: VM })
    await view.waitClosed(r.sessionId)
  })

  it('delivers 虚拟机 and a long UTF-8 text intact, every chunk whole', async () => {
    const r = await open(client, VM)
    const line = '虚拟机 — Ωμέγα ✓ 😀 '.repeat(40)
    // The remote prints the text from printf escapes, so our own input echo cannot satisfy the test.
    const hex = [...Buffer.from(line, 'utf8')].map(b => `\\x${b.toString(16).padStart(2, '0')}`).join('')
    await client.request('terminal-input', {
      vmId: VM,
      sessionId: r.sessionId,
      input: 'stty -echo; echo BEGIN-$((1+1))\n',
    })
    await view.waitFor(r.sessionId, 'BEGIN-2')
    const from = view.text(r.sessionId).length
    const bigCount = 300
    await client.request('terminal-input', {
      vmId: VM,
      sessionId: r.sessionId,
      input: `printf '%b\\n' '${hex}'; for i in $(seq ${bigCount}); do printf '%b\\n' '${hex}'; done; echo END-$((2+3))\n`,
    })
    const text = (await view.waitFor(r.sessionId, 'END-5', 30_000, from)).slice(from)
    const lines = text.split(/\r?\n/).filter(l => l === line.trimEnd() || l === line)
    expect(lines.length).toBe(bigCount + 1)
    expect(text).toContain('虚拟机')
    // ~300 × 2 KiB crossed many SSH packets: no replacement characters from split sequences.
    expect(text).not.toContain('\uFFFD')
    for (const c of view.chunks(r.sessionId)) expect(c.includes('\uFFFD')).toBe(false)
    await client.request('terminal-disconnect', { vmId: VM })
    await view.waitClosed(r.sessionId)
  })

  it('keeps two sessions on one VM separate and asks which one when sessionId is missing', async () => {
    const a = await open(client, VM)
    const b = await open(client, VM)
    expect(a.sessionId).not.toBe(b.sessionId)
    await client.request('terminal-input', { vmId: VM, sessionId: a.sessionId, input: 'echo only-in-a-$((1+1))\n' })
    await client.request('terminal-input', { vmId: VM, sessionId: b.sessionId, input: 'echo only-in-b-$((2+2))\n' })
    await view.waitFor(a.sessionId, 'only-in-a-2')
    await view.waitFor(b.sessionId, 'only-in-b-4')
    expect(view.text(a.sessionId)).not.toContain('only-in-b')
    expect(view.text(b.sessionId)).not.toContain('only-in-a')

    const ambiguous = await refusal(client.request('terminal-input', { vmId: VM, input: 'x' }))
    expect(ambiguous).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.sessionId' })
    const bogus = await refusal(
      client.request('terminal-input', { vmId: VM, sessionId: 'no-such-session', input: 'x' }),
    )
    expect(bogus.code).toBe('SESSION_NOT_FOUND')
    // Another socket cannot drive these sessions.
    const other = await newClient()
    const foreign = await refusal(other.request('terminal-input', { vmId: VM, sessionId: a.sessionId, input: 'x' }))
    expect(foreign.code).toBe('SESSION_NOT_FOUND')

    await client.request('terminal-disconnect', { vmId: VM, sessionId: a.sessionId })
    await view.waitClosed(a.sessionId)
    // With one left, the seed-style message without sessionId addresses it.
    const reply = await client.request('terminal-input', { vmId: VM, input: 'echo now-b-$((3+3))\n' })
    expect(reply).toEqual({ vmId: VM, sessionId: b.sessionId })
    await view.waitFor(b.sessionId, 'now-b-6')
    // The shell's own exit ends the session with its exit code.
    await client.request('terminal-input', { vmId: VM, input: 'exit 7\n' })
    expect(await view.waitClosed(b.sessionId)).toMatchObject({
      vmId: VM,
      sessionId: b.sessionId,
      exitCode: 7,
      reason: 'exit',
    })
  })

  it('reports a shell killed by a signal with the signal name', async () => {
    const r = await open(client, VM)
    await client.request('terminal-input', { vmId: VM, sessionId: r.sessionId, input: 'kill -KILL $$\n' })
    const closed = await view.waitClosed(r.sessionId)
    expect(closed).toMatchObject({ vmId: VM, sessionId: r.sessionId, signal: 'SIGKILL', reason: 'exit' })
    expect(closed.exitCode).toBeUndefined()
  })

  it('accepts a private key, and refuses a wrong password with TERMINAL_AUTH_FAILED', async () => {
    const r = await client.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM,
      type: 'ssh',
      credentials: { username: sshd.username, privateKey: sshd.privateKey },
    })
    await client.request('terminal-input', { vmId: VM, input: 'echo key-ok-$((5*5))\n' })
    await view.waitFor(r.sessionId, 'key-ok-25')
    await client.request('terminal-disconnect', { vmId: VM })

    const bad = await refusal(
      client.request('terminal-connect', {
        vmId: VM,
        type: 'ssh',
        credentials: { username: sshd.username, password: 'wrong' },
      }),
    )
    expect(bad).toMatchObject({ code: 'TERMINAL_AUTH_FAILED', vmId: VM })
    expect(bad.message).not.toContain('wrong')
  })

  it('accepts an encrypted private key with its passphrase and refuses a wrong one or a non-key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-t-term-key-'))
    try {
      const file = join(dir, 'id')
      await writeFile(file, sshd.privateKey, { mode: 0o600 })
      await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'key-pass-9', '-f', file])
      const encrypted = await readFile(file, 'utf8')
      const connectWith = (cred: object) =>
        client.request<TerminalConnectResponseData>('terminal-connect', {
          vmId: VM,
          type: 'ssh',
          credentials: { username: sshd.username, ...cred },
        })
      const ok = await connectWith({ privateKey: encrypted, passphrase: 'key-pass-9' })
      await client.request('terminal-disconnect', { vmId: VM, sessionId: ok.sessionId })
      await view.waitClosed(ok.sessionId)
      const wrong = await refusal(connectWith({ privateKey: encrypted, passphrase: 'nope' }))
      expect(wrong.code).toBe('TERMINAL_AUTH_FAILED')
      expect(wrong.message).toMatch(/passphrase/)
      const missing = await refusal(connectWith({ privateKey: encrypted }))
      expect(missing.code).toBe('TERMINAL_AUTH_FAILED')
      const junk = await refusal(connectWith({ privateKey: 'not a key' }))
      expect(junk).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.credentials.privateKey' })
      expect(junk.message).not.toContain('not a key')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses what it must: unknown VM, no address, client-chosen port, missing credentials, no grant, viewer', async () => {
    expect((await refusal(open(client, 'voidvm-t-term-missing'))).code).toBe('VM_NOT_FOUND')
    const noAddr = await refusal(open(client, VM_NOADDR))
    expect(noAddr).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'no-address' })
    expect(noAddr.message).toMatch(/no address known/)
    // The endpoint comes from the VM: a client cannot aim the server at another port (SSRF).
    expect(await refusal(open(client, VM, { port: 22 }))).toMatchObject({ code: 'INVALID_MESSAGE', field: 'data.port' })
    expect(await refusal(client.request('terminal-connect', { vmId: VM, type: 'ssh' }))).toMatchObject({
      code: 'INVALID_MESSAGE',
      field: 'data.credentials',
    })
    const op = await newClient('term-op-other')
    expect((await refusal(open(op, VM))).code).toBe('FORBIDDEN')
    const viewer = await newClient('term-viewer')
    expect((await refusal(open(viewer, VM))).code).toBe('FORBIDDEN')
    expect((await refusal(client.request('terminal-input', { vmId: VM, input: 'x' }))).code).toBe('SESSION_NOT_FOUND')
  })

  it("works with the spec's example client unmodified (connectTerminal, sendTerminalInput)", async () => {
    interface SeedClient {
      ws: { close(): void }
      eventHandlers: Map<string, (data: unknown) => void>
      reconnect(): void
      connect(): Promise<void>
      connectTerminal(vmId: string, credentials: object): Promise<unknown>
      sendTerminalInput(vmId: string, input: string): void
      disconnect(): void
    }
    const mod = (await import('../fixtures/seed-client.js' as string)) as {
      VoidVMWebSocket: new (url: string, token: string) => SeedClient
    }
    const g = globalThis as { WebSocket?: unknown }
    const saved = g.WebSocket
    g.WebSocket = WebSocket
    const seed = new mod.VoidVMWebSocket(server.wsUrl, await server.tokenFor(admin.username))
    seed.reconnect = () => undefined
    try {
      await seed.connect()
      let text = ''
      const got = new Promise<void>(ok =>
        seed.eventHandlers.set('terminal-output', d => {
          text += (d as { output: string }).output
          if (text.includes('seed-ok-42')) ok()
        }),
      )
      const reply = (await seed.connectTerminal(VM, creds())) as TerminalConnectResponseData
      expect(reply).toMatchObject({ vmId: VM, type: 'ssh', hostKey: sshd.hostKeyFingerprint })
      seed.sendTerminalInput(VM, 'echo seed-ok-$((6*7))\n')
      await got
    } finally {
      seed.disconnect()
      g.WebSocket = saved
    }
  })

  it('pauses a session whose client stops reading: memory stays bounded, and it recovers', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const r = await open(c, VM)
    await c.request('terminal-input', { vmId: VM, input: 'echo READY-$((1+1))\n' })
    await v.waitFor(r.sessionId, 'READY-2')
    v.keepChunks = false
    await c.request('terminal-input', { vmId: VM, input: 'yes voidvm-flood-line\n' })
    await new Promise(res => setTimeout(res, 1000))
    const flowing = v.bytes(r.sessionId)
    expect(flowing).toBeGreaterThan(1_000_000)

    c.ws.pause() // the client stops reading its socket
    const mem = () => {
      const m = process.memoryUsage()
      return m.heapUsed + m.external + m.arrayBuffers
    }
    global.gc?.()
    const base = mem()
    let peak = base
    for (let i = 0; i < 20; i++) {
      await new Promise(res => setTimeout(res, 250))
      peak = Math.max(peak, mem())
    }
    // `yes` writes tens of MB/s: unthrottled, 5 s would queue hundreds of MB (and the
    // server would drop the socket as a stalled consumer at 16 MiB).
    expect(peak - base).toBeLessThan(48 * 1024 * 1024)

    c.ws.resume()
    const before = v.bytes(r.sessionId)
    await new Promise(res => setTimeout(res, 500))
    // The server kept the socket (it was not dropped as a stalled consumer) and output flows again.
    expect(c.ws.readyState).toBe(c.ws.OPEN)
    expect(v.closed(r.sessionId)).toBeUndefined()
    expect(v.bytes(r.sessionId)).toBeGreaterThan(before)
    v.keepChunks = true
    await c.request('terminal-input', { vmId: VM, input: '\x03' }, 20_000)
    await c.request('terminal-input', { vmId: VM, input: 'echo recovered-$((2+3))\n' }, 20_000)
    await v.waitFor(r.sessionId, 'recovered-5', 20_000)
    expect(v.closed(r.sessionId)).toBeUndefined()
    expect(c.ws.readyState).toBe(c.ws.OPEN)
    await c.request('terminal-disconnect', { vmId: VM })
  })

  it('ends sessions with their socket and audits who opened a terminal, without secrets', async () => {
    const c = await newClient()
    const r = await open(c, VM)
    await c.close()
    const auditFile = join(server.dataDir, 'audit.log')
    const closedLine = async () => {
      const text = await readFile(auditFile, 'utf8')
      return text.includes(`session ${r.sessionId}: socket-closed`) ? text : undefined
    }
    let audit: string | undefined
    for (let i = 0; i < 50 && !audit; i++) {
      audit = await closedLine()
      if (!audit) await new Promise(res => setTimeout(res, 100))
    }
    expect(audit).toBeDefined()
    const lines = (audit ?? '')
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { action: string; vmId?: string; username?: string; result: string; detail?: string })
    const opened = lines.find(l => l.action === 'terminal-open' && l.detail?.includes(r.sessionId))
    expect(opened).toMatchObject({ vmId: VM, username: admin.username, result: 'ok' })
    expect(opened?.detail).toContain(`ssh ${sshd.username}@127.0.0.1:${sshd.port}`)
    expect(lines.some(l => l.action === 'terminal-connect' && l.vmId === VM && l.username === admin.username)).toBe(
      true,
    )
    expect(
      lines.some(
        l => l.action === 'terminal-connect' && l.result === 'error' && l.detail?.includes('TERMINAL_AUTH_FAILED'),
      ),
    ).toBe(true)
    expect(audit).not.toContain(sshd.password)
    expect(audit).not.toContain(sshd.privateKey.split('\n')[1] ?? 'unreachable')
  })

  it('reports sshd killed mid-session, stopped, and restarted with a new host key', async () => {
    const c = await newClient()
    const v = terminalView(c)
    const credsB = { username: sshdB.username, password: sshdB.password }
    const r = await c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: VM_B,
      type: 'ssh',
      credentials: credsB,
    })
    expect(r.hostKey).toBe(sshdB.hostKeyFingerprint)
    await c.request('terminal-input', { vmId: VM_B, input: 'echo alive-$((4+4))\n' })
    await v.waitFor(r.sessionId, 'alive-8')

    await sshdB.kill()
    expect(await v.waitClosed(r.sessionId)).toMatchObject({
      vmId: VM_B,
      sessionId: r.sessionId,
      reason: 'connection-lost',
    })

    // Nothing listens now.
    const stopped = await refusal(c.request('terminal-connect', { vmId: VM_B, type: 'ssh', credentials: credsB }))
    expect(stopped).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'refused' })
    expect(stopped.message).toMatch(/refused/)

    await sshdB.restart({ newHostKey: true })
    const mismatch = await refusal(c.request('terminal-connect', { vmId: VM_B, type: 'ssh', credentials: credsB }))
    expect(mismatch.code).toBe('HOST_KEY_MISMATCH')
    expect(mismatch.message).toContain(sshdB.hostKeyFingerprint)
    expect(mismatch.message).toContain(r.hostKey ?? 'unreachable')
    // No session was opened.
    expect((await refusal(c.request('terminal-input', { vmId: VM_B, input: 'x' }))).code).toBe('SESSION_NOT_FOUND')

    await sshdB.stop()
    const down = await refusal(c.request('terminal-connect', { vmId: VM_B, type: 'ssh', credentials: credsB }))
    expect(down).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'refused' })
  })
})

describe.skipIf(!guestImagesReady())('idle and unresponsive terminal endpoints', () => {
  let sshd: TestSshd
  let guest: TestGuest
  let silentGuest: TestGuest
  let server: TestServer
  // A TCP endpoint that accepts and then never speaks (a hung sshd).
  let silent: Server
  const held: Socket[] = []
  afterAll(async () => {
    await server?.close()
    await guest?.remove()
    await silentGuest?.remove()
    await sshd?.stop()
    for (const s of held) s.destroy()
    await new Promise(r => silent?.close(r))
  })
  beforeAll(async () => {
    sshd = await startSshd()
    silent = createServer(s => held.push(s))
    await new Promise<void>(r => silent.listen(0, '127.0.0.1', r))
    const silentPort = (silent.address() as { port: number }).port
    guest = await defineTestGuest({ name: 'voidvm-t-term-idle', ssh: { host: '127.0.0.1', port: sshd.port } })
    silentGuest = await defineTestGuest({ name: 'voidvm-t-term-silent', ssh: { host: '127.0.0.1', port: silentPort } })
    server = await startTerminalServer({ idleTimeoutMs: 1500, connectTimeoutMs: 2000 })
    await server.addUser('idle-admin', 'admin')
  })

  it('refuses an endpoint that never answers with TERMINAL_CONNECT_FAILED (timed out)', async () => {
    const c = await connect(server.wsUrl, await server.tokenFor('idle-admin'))
    const t0 = Date.now()
    const e = await refusal(
      c.request('terminal-connect', {
        vmId: silentGuest.name,
        type: 'ssh',
        credentials: { username: sshd.username, password: sshd.password },
      }),
    )
    expect(e).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'timed-out' })
    expect(e.message).toMatch(/timed out/)
    expect(Date.now() - t0).toBeLessThan(10_000)
    await c.close()
  })

  it('caps sessions per socket and gives the slot back when a session or a failed connect ends', async () => {
    // Its own server: no idle timeout, two terminals per socket.
    const capped = await startTerminalServer({ connectTimeoutMs: 2000 }, { terminalSessionsPerSocket: 2 })
    await capped.addUser('cap-admin', 'admin')
    const c = await connect(capped.wsUrl, await capped.tokenFor('cap-admin'))
    const v = terminalView(c)
    const credentials = { username: sshd.username, password: sshd.password }
    const open = () =>
      c.request<TerminalConnectResponseData>('terminal-connect', { vmId: guest.name, type: 'ssh', credentials })
    const a = await open()
    // A failed connect does not keep its slot.
    const failed = await refusal(c.request('terminal-connect', { vmId: silentGuest.name, type: 'ssh', credentials }))
    expect(failed.code).toBe('TERMINAL_CONNECT_FAILED')
    const b = await open()
    expect((await refusal(open())).code).toBe('SESSION_LIMIT')
    await c.request('terminal-disconnect', { vmId: guest.name, sessionId: a.sessionId })
    await v.waitClosed(a.sessionId)
    const d = await open()
    expect(d.sessionId).not.toBe(b.sessionId)
    await c.close()
    await capped.close()
  })

  it('closes a session after the configured idle time', async () => {
    const c = await connect(server.wsUrl, await server.tokenFor('idle-admin'))
    const v = terminalView(c)
    const r = await c.request<TerminalConnectResponseData>('terminal-connect', {
      vmId: guest.name,
      type: 'ssh',
      credentials: { username: sshd.username, password: sshd.password },
    })
    const t0 = Date.now()
    expect(await v.waitClosed(r.sessionId, 10_000)).toMatchObject({ reason: 'idle-timeout' })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000)
    await c.close()
  })
})
