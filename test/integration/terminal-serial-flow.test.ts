// Serial-console flow control against a real TCG guest under the system
// libvirtd: the guest floods its serial console (`yes`), the reader stops, and
// what is buffered on our side must stay far below what the guest would have
// produced meanwhile — the console's own libvirt connection stops being read,
// so the daemon stops reading the guest's console. Then reading resumes and
// the shell still answers. Also: only a console's own connection is paused
// (the shared one keeps answering), the daemon does not ping a connection
// without keepalive, and closed consoles leave no daemon connection behind.
import { execFile } from 'node:child_process'
import { connect as netConnect } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FEATURE_PROGRAM_KEEPALIVE, LibvirtClient, Proc, type LibvirtStream } from '../../src/main/libvirt/index.js'
import { RpcConnection } from '../../src/main/libvirt/rpc.js'
import { XdrWriter } from '../../src/main/libvirt/xdr.js'
import { createHypervisorBridge, type HypervisorService } from '../../src/main/hypervisor/index.js'
import { createTerminalBridge } from '../../src/main/terminal/index.js'
import type { VmDirectory } from '../../src/main/server/bridge.js'
import type { TerminalConnectResponseData } from '../../src/shared/protocol.js'
import { defineTestGuest, guestImagesReady, QEMU_URI, type TestGuest } from '../fixtures/guest.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import { terminalView, type TerminalView } from './terminal-helpers.js'

const run = promisify(execFile)
const VM = 'voidvm-t-term-fc'
const SOCKET = '/var/run/libvirt/libvirt-sock'
// The image's serial shell has no job control (no controlling terminal on ttyS0),
// so Ctrl+C cannot stop a foreground command there: the flood runs in the
// background until a line is typed.
const FLOOD = 'yes serial-flood & read stop; kill $!\r'
const STOP_FLOOD = '\r'
const sleep = (ms: number) => new Promise(res => setTimeout(res, ms))

/** This process's clients in the daemon's own client list (virt-admin), or undefined when it cannot tell. */
async function daemonClientsOfThisProcess(): Promise<number | undefined> {
  try {
    const { stdout } = await run('virt-admin', ['srv-clients-list', 'libvirtd'], { timeout: 10_000 })
    const ids = stdout
      .split('\n')
      .map(l => /^\s*(\d+)\s+unix\b/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
    let mine = 0
    for (const id of ids) {
      const info = await run('virt-admin', ['client-info', 'libvirtd', id], { timeout: 10_000 }).catch(() => undefined)
      if (info && new RegExp(`unix_process_id\\s*:\\s*${process.pid}\\b`).test(info.stdout)) mine++
    }
    return mine
  } catch {
    return undefined
  }
}

/** A raw RPC connection to the daemon, opened by hand, optionally asking for keepalive. */
async function rawConnection(askKeepalive: boolean): Promise<RpcConnection> {
  const sock = netConnect(SOCKET)
  await new Promise<void>((ok, fail) => sock.once('connect', ok).once('error', fail))
  const rpc = new RpcConnection(sock, { callTimeoutMs: 10_000, description: SOCKET })
  await rpc.call(Proc.AUTH_LIST)
  await rpc.call(Proc.CONNECT_OPEN, new XdrWriter().optString(QEMU_URI).uint(0).bytes())
  // Asking whether keepalive is supported is what makes the daemon start pinging us.
  if (askKeepalive)
    await rpc.call(Proc.CONNECT_SUPPORTS_FEATURE, new XdrWriter().int(FEATURE_PROGRAM_KEEPALIVE).bytes())
  return rpc
}

describe.skipIf(!guestImagesReady())('serial console flow control', () => {
  let guest: TestGuest

  beforeAll(async () => {
    guest = await defineTestGuest({ name: VM })
    await guest.start()
  })

  afterAll(async () => {
    await guest?.remove()
  })

  it('a paused console stream stops reading its own connection while the guest floods; the shared one keeps working', async () => {
    const shared = await LibvirtClient.connect(QEMU_URI)
    const own = await LibvirtClient.connect(QEMU_URI, { keepaliveIntervalMs: 0 })
    // Pinging is the daemon's choice per client: watch one connection that asked and one that did not.
    const quiet = await rawConnection(false)
    const pinged = await rawConnection(true)
    const con: LibvirtStream = await own.openConsole(VM)
    con.dedicateConnection()
    let bytes = 0
    let tail = ''
    con.on('data', (c: Buffer) => {
      bytes += c.length
      tail = (tail + c.toString('latin1')).slice(-4096)
    })
    try {
      // Wait for the serial shell.
      const deadline = Date.now() + 45_000
      while (!tail.includes('ready-7')) {
        if (Date.now() > deadline) throw new Error(`serial shell did not answer; got ${JSON.stringify(tail)}`)
        con.write('echo ready-$((3+4))\r')
        await sleep(1000)
      }
      con.write(FLOOD)
      await sleep(1000)
      const b0 = bytes
      await sleep(2000)
      const rate = (bytes - b0) / 2
      expect(rate).toBeGreaterThan(10_000)

      con.pause()
      const PAUSE_MS = 6500
      let maxBuffered = 0
      for (let t = 0; t < PAUSE_MS; t += 250) {
        await sleep(250)
        maxBuffered = Math.max(maxBuffered, con.bufferedBytes)
      }
      const wouldHaveProduced = rate * (PAUSE_MS / 1000)
      console.log(
        `serial flood ${Math.round(rate / 1024)} KiB/s; paused ${PAUSE_MS} ms: buffered max ${maxBuffered} B ` +
          `(the guest would have produced ~${Math.round(wouldHaveProduced / 1024)} KiB)`,
      )
      expect(con.connectionPaused).toBe(true)
      expect(maxBuffered).toBeLessThan(256 * 1024)
      expect(maxBuffered).toBeLessThan(wouldHaveProduced / 4)

      // The shared connection was never paused and answers at once.
      const t0 = Date.now()
      const dom = await shared.lookupDomain(VM)
      expect((await shared.domainGetState(dom)).state).toBe(1)
      expect(Date.now() - t0).toBeLessThan(2000)

      // The daemon pings only a client that asked for keepalive (its interval is 5 s by default).
      expect(pinged.pingsReceived).toBeGreaterThan(0)
      expect(quiet.pingsReceived).toBe(0)

      // Reading again: output flows, the connection is read again, the shell still answers.
      con.resume()
      const b1 = bytes
      await sleep(1000)
      expect(bytes).toBeGreaterThan(b1)
      expect(con.connectionPaused).toBe(false)
      expect(own.isOpen).toBe(true)
      con.write(STOP_FLOOD)
      await sleep(1500)
      const stopDeadline = Date.now() + 30_000
      while (!tail.includes('fc-ok-42')) {
        if (Date.now() > stopDeadline) throw new Error(`no fc-ok-42 after the flood; got ${JSON.stringify(tail)}`)
        con.write('echo fc-ok-$((6*7))\r')
        await sleep(1500)
      }
    } finally {
      con.destroy()
      await own.close()
      await shared.close()
      quiet.destroy()
      pinged.destroy()
    }
  }, 120_000)

  it('a shared connection is never paused by its stream', async () => {
    const lv = await LibvirtClient.connect(QEMU_URI)
    const con = await lv.openConsole(VM)
    try {
      con.pause()
      con.write('echo shared-$((1+1))\r')
      await sleep(1500)
      // Nothing stops reading a connection the stream does not own.
      expect(con.connectionPaused).toBe(false)
      expect(() => con.dedicateConnection()).toThrow(/keepalive/)
      const t0 = Date.now()
      await lv.lookupDomain(VM)
      expect(Date.now() - t0).toBeLessThan(2000)
    } finally {
      con.destroy()
      await lv.close()
    }
  }, 60_000)

  describe('through the server', () => {
    let server: TestServer
    let client: TestClient
    let view: TerminalView
    const streams: LibvirtStream[] = []
    let service: HypervisorService | undefined

    beforeAll(async () => {
      server = await startTestServer({
        libvirtUri: QEMU_URI,
        bridges: async ctx => {
          const hv = await createHypervisorBridge(ctx, { uri: QEMU_URI })
          service = hv.service
          // Keep each console stream the bridge opens, to read its buffer and pause state.
          const dir = new Proxy(hv.directory, {
            get(target, prop) {
              if (prop === 'openConsole')
                return async (name: string) => {
                  const s = (await target.openConsole(name)) as LibvirtStream
                  streams.push(s)
                  return s
                }
              const v: unknown = Reflect.get(target, prop, target)
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
            },
          }) as VmDirectory
          return [hv.bridge, createTerminalBridge(ctx, dir, { highWaterBytes: 256 * 1024 })]
        },
      })
      await server.addUser('fc-admin', 'admin')
      client = await connect(server.wsUrl, await server.tokenFor('fc-admin'))
      view = terminalView(client)
    })

    afterAll(async () => {
      await client?.close()
      await server?.close()
    })

    it('a client that stops reading pauses the serial console: server buffering stays bounded, then it recovers', async () => {
      const r = await client.request<TerminalConnectResponseData>('terminal-connect', { vmId: VM, type: 'serial' })
      const stream = streams.at(-1)
      expect(stream).toBeDefined()
      const deadline = Date.now() + 45_000
      for (;;) {
        await client.request('terminal-input', { vmId: VM, input: 'echo READY-$((1+1))\r' })
        try {
          await view.waitFor(r.sessionId, 'READY-2', 3000)
          break
        } catch (e) {
          if (Date.now() > deadline) throw e
        }
      }
      view.keepChunks = false
      await client.request('terminal-input', { vmId: VM, input: FLOOD })
      await sleep(1000)
      const b0 = view.bytes(r.sessionId)
      await sleep(2000)
      const rate = (view.bytes(r.sessionId) - b0) / 2
      expect(rate).toBeGreaterThan(10_000)

      client.ws.pause() // the client stops reading its socket
      const mem = () => {
        const m = process.memoryUsage()
        return m.heapUsed + m.external + m.arrayBuffers
      }
      global.gc?.()
      const base = mem()
      let peak = base
      let maxStream = 0
      const PAUSE_MS = 10_000
      for (let t = 0; t < PAUSE_MS; t += 250) {
        await sleep(250)
        peak = Math.max(peak, mem())
        maxStream = Math.max(maxStream, stream?.bufferedBytes ?? 0)
      }
      const wouldHaveProduced = rate * (PAUSE_MS / 1000)
      console.log(
        `server: serial flood ${Math.round(rate / 1024)} KiB/s; client paused ${PAUSE_MS} ms: console stream buffered ` +
          `max ${maxStream} B, process memory +${Math.round((peak - base) / 1024)} KiB ` +
          `(the guest would have produced ~${Math.round(wouldHaveProduced / 1024)} KiB)`,
      )
      // Backpressure reached libvirt: the console's own connection is not being read.
      expect(stream?.connectionPaused).toBe(true)
      expect(maxStream).toBeLessThan(256 * 1024)
      expect(peak - base).toBeLessThan(16 * 1024 * 1024)

      // The hypervisor's shared connection keeps serving while the console is paused.
      const t0 = Date.now()
      expect(await service?.xml(VM)).toContain(`<name>${VM}</name>`)
      expect(Date.now() - t0).toBeLessThan(3000)

      client.ws.resume()
      const before = view.bytes(r.sessionId)
      await sleep(1000)
      expect(client.ws.readyState).toBe(client.ws.OPEN)
      expect(view.closed(r.sessionId)).toBeUndefined()
      expect(view.bytes(r.sessionId)).toBeGreaterThan(before)
      expect(stream?.connectionPaused).toBe(false)
      view.keepChunks = true
      await client.request('terminal-input', { vmId: VM, input: STOP_FLOOD }, 20_000)
      await sleep(1500)
      const stopDeadline = Date.now() + 40_000
      for (;;) {
        const from = view.text(r.sessionId).length
        await client.request('terminal-input', { vmId: VM, input: 'echo fc-ok-$((6*7))\r' }, 20_000)
        try {
          await view.waitFor(r.sessionId, 'fc-ok-42', 3000, from)
          break
        } catch (e) {
          if (Date.now() > stopDeadline) throw e
        }
      }
      expect(view.closed(r.sessionId)).toBeUndefined()
      await client.request('terminal-disconnect', { vmId: VM, sessionId: r.sessionId })
      await view.waitClosed(r.sessionId, 10_000)
    }, 120_000)

    it('each serial session has its own daemon connection, closed with the session', async () => {
      await sleep(500)
      const baseline = await daemonClientsOfThisProcess()
      for (let i = 0; i < 4; i++) {
        const r = await client.request<TerminalConnectResponseData>('terminal-connect', { vmId: VM, type: 'serial' })
        if (i === 0 && baseline !== undefined) {
          // One more daemon client while the console is open.
          expect(await daemonClientsOfThisProcess()).toBe(baseline + 1)
        }
        await client.request('terminal-disconnect', { vmId: VM, sessionId: r.sessionId })
        await view.waitClosed(r.sessionId, 10_000)
      }
      const s = streams.at(-1)
      expect(s?.destroyed).toBe(true)
      if (baseline === undefined) return
      // The daemon's own client list: back to where it was (its close is asynchronous).
      let now = await daemonClientsOfThisProcess()
      for (let i = 0; i < 20 && now !== baseline; i++) {
        await sleep(250)
        now = await daemonClientsOfThisProcess()
      }
      expect(now).toBe(baseline)
    }, 90_000)
  })
})
