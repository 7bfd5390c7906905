// SSH terminals to a VM found by the VM's own address (no voidvm:ssh metadata):
// a TCG guest with networking on a TEST-NET-2 /30 (host side on its tap) and
// dropbear inside. The guest pings the host once at boot, so the host's
// neighbour table learns it; libvirt's own ARP source fails on some hosts
// ("wrong nlmsg len"), and the hypervisor service then reads this host's table
// for a LOCAL daemon only. The session goes through the real server to the
// guest's sshd; an SSH (remote) libvirt connection never uses the local table.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TerminalConnectResponseData } from '../../src/shared/protocol.js'
import { KNOWN_HOSTS_FILE } from '../../src/main/terminal/index.js'
import { HypervisorService } from '../../src/main/hypervisor/service.js'
import { LibvirtHvClient } from '../../src/main/hypervisor/libvirt.js'
import { readLocalNeighbours, type NeighbourEntry } from '../../src/main/hypervisor/neighbours.js'
import {
  defineTestGuest,
  GUEST_ROOT_PASSWORD,
  GUEST_SSH_HOST_KEY,
  guestSshImageReady,
  QEMU_URI,
  testNetPair,
  virsh,
  waitFor,
  type TestGuest,
} from '../fixtures/guest.js'
import type { TestServer } from '../fixtures/server.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { connect, refusal, type TestClient } from '../fixtures/ws-client.js'
import { startTerminalServer, terminalView, type TerminalView } from './terminal-helpers.js'

const run = promisify(execFile)
const VM = `voidvm-t-term-net-${process.pid}`
const VM_NOADDR = `voidvm-t-term-net-none-${process.pid}`
const NET = testNetPair(process.pid)
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

async function guestMac(name: string): Promise<string> {
  const m = /<mac address='([0-9a-f:]+)'/.exec(await virsh('dumpxml', name))
  if (!m?.[1]) throw new Error(`no MAC in the XML of ${name}`)
  return m[1]
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise(res => {
    const s = tcpConnect({ host, port, timeout: 2_000 })
    s.once('connect', () => (s.destroy(), res(true)))
    s.once('timeout', () => (s.destroy(), res(false)))
    s.once('error', () => res(false))
  })
}

/** What libvirt itself reports (lease, then ARP source), as virsh sees it; an error is nothing. */
async function libvirtOwnAddresses(name: string): Promise<string[]> {
  for (const source of ['lease', 'arp']) {
    const out = await virsh('domifaddr', name, '--source', source).catch(() => '')
    const addrs = [...out.matchAll(/ipv4\s+([\d.]+)\//g)].map(m => m[1] ?? '')
    if (addrs.length) return addrs
  }
  return []
}

/** A hypervisor service on `uri` whose neighbour-table reads are counted. */
async function countingService(uri: string, ssh?: { privateKey: string; hostFingerprint: string }) {
  const client = LibvirtHvClient.create(uri, ssh ? { ssh } : {})
  const reads = { n: 0 }
  const service = new HypervisorService(client, {
    locale: 'en',
    log: quiet,
    emitEvent() {},
    readNeighbours: async (): Promise<NeighbourEntry[]> => {
      reads.n++
      return readLocalNeighbours()
    },
  })
  await client.lv.start()
  return { client, service, reads }
}

describe.skipIf(!guestSshImageReady())(
  'SSH terminal to a guest found by its own address (needs the SSH test image: run scripts/host-setup.sh as root)',
  () => {
    const guests: TestGuest[] = []
    let guest: TestGuest
    let mac: string
    let server: TestServer
    let client: TestClient
    let view: TerminalView
    let sshd: TestSshd | undefined
    const closers: (() => Promise<unknown>)[] = []

    beforeAll(async () => {
      guest = await defineTestGuest({ name: VM, net: NET, sshd: true })
      guests.push(guest)
      const none = await defineTestGuest({ name: VM_NOADDR })
      guests.push(none)
      await guest.start()
      await none.start()
      mac = await guestMac(VM)
      server = await startTerminalServer()
      await server.addUser('net-admin', 'admin')
      client = await connect(server.wsUrl, await server.tokenFor('net-admin'))
      view = terminalView(client)
      // The guest's boot-time ping puts it in the host's neighbour table; then dropbear listens.
      await waitFor(
        async () =>
          (await readLocalNeighbours()).some(e => e.mac === mac && e.ip === NET.guestAddr) ? true : undefined,
        60_000,
        `a neighbour entry ${NET.guestAddr} ${mac} in /proc/net/arp`,
      )
      await waitFor(
        async () => ((await portOpen(NET.guestAddr, 22)) ? true : undefined),
        30_000,
        'the guest sshd to listen',
      )
    })

    afterAll(async () => {
      await client?.close().catch(() => undefined)
      await server?.close()
      for (const c of closers) await c().catch(() => undefined)
      for (const g of guests) await g.remove()
      await sshd?.stop()
    })

    it("connects to the guest's sshd at the address the host learned for its MAC, and runs commands there", async () => {
      const r = await client.request<TerminalConnectResponseData>('terminal-connect', {
        vmId: VM,
        type: 'ssh',
        credentials: { username: 'root', password: GUEST_ROOT_PASSWORD },
        cols: 120,
        rows: 40,
      })
      // The host key is the one baked into the guest image, as ssh-keygen prints it.
      const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', GUEST_SSH_HOST_KEY])
      const expected = /SHA256:[A-Za-z0-9+/]+/.exec(stdout)?.[0]
      expect(expected).toBeDefined()
      expect(r).toMatchObject({ vmId: VM, type: 'ssh', hostKey: expected })
      client.send({
        type: 'terminal-input',
        data: { vmId: VM, sessionId: r.sessionId, input: 'echo term-ok-$((6*7))\n' },
      })
      await view.waitFor(r.sessionId, 'term-ok-42')
      // It is the guest: its hostname and kernel cmdline, and the connection ran host tap -> guest:22.
      client.send({
        type: 'terminal-input',
        data: {
          vmId: VM,
          sessionId: r.sessionId,
          input: 'echo "n=$(uname -n) c=$SSH_CONNECTION"; cat /proc/cmdline\n',
        },
      })
      const text = await view.waitFor(r.sessionId, `voidvm.net=${NET.guestAddr}/${NET.prefix}`)
      expect(text).toContain('n=voidvm-guest')
      expect(text).toMatch(
        new RegExp(`c=${NET.hostAddr.replace(/\./g, '\\.')} \\d+ ${NET.guestAddr.replace(/\./g, '\\.')} 22`),
      )
      // Pinned on first use, for this VM's UUID and port 22.
      const pins = JSON.parse(await readFile(join(server.dataDir, KNOWN_HOSTS_FILE), 'utf8')) as {
        hosts: Record<string, { fingerprint: string }>
      }
      expect(pins.hosts[`${guest.uuid}:22`]?.fingerprint).toBe(expected)
      await client.request('terminal-disconnect', { vmId: VM, sessionId: r.sessionId })
    })

    it('refuses a wrong root password with TERMINAL_AUTH_FAILED', async () => {
      const err = await refusal(
        client.request('terminal-connect', {
          vmId: VM,
          type: 'ssh',
          credentials: { username: 'root', password: 'not-the-password' },
        }),
      )
      expect(err.code).toBe('TERMINAL_AUTH_FAILED')
    })

    it('a running guest with no address anywhere is TERMINAL_CONNECT_FAILED "no address known"', async () => {
      expect(await virsh('domstate', VM_NOADDR)).toBe('running')
      const err = await refusal(
        client.request('terminal-connect', {
          vmId: VM_NOADDR,
          type: 'ssh',
          credentials: { username: 'root', password: GUEST_ROOT_PASSWORD },
        }),
      )
      expect(err).toMatchObject({ code: 'TERMINAL_CONNECT_FAILED', details: 'no-address' })
      expect(err.message).toMatch(/no address known/)
    })

    it("reads this host's neighbour table only for a local daemon, never over an SSH libvirt URI", async () => {
      const local = await countingService(QEMU_URI)
      closers.push(
        () => local.service.close(),
        () => local.client.close(),
      )
      sshd = await startSshd({ allowRoot: true })
      const remote = await countingService(`qemu+ssh://root@127.0.0.1:${sshd.port}/system`, {
        privateKey: sshd.privateKey,
        hostFingerprint: sshd.hostKeyFingerprint,
      })
      closers.push(
        () => remote.service.close(),
        () => remote.client.close(),
      )
      expect(local.client.local).toBe(true)
      expect(remote.client.local).toBe(false)
      // Both reach the same daemon and see the running guest.
      expect((await remote.service.resolve(VM)).status).toBe('running')
      const own = await libvirtOwnAddresses(VM)
      // Whatever libvirt itself can say comes first; here its ARP source may fail, and then only the
      // local table knows the guest.
      const viaLocal = await local.service.interfaceAddresses(VM)
      expect(viaLocal).toContain(NET.guestAddr)
      if (own.length === 0) expect(local.reads.n).toBeGreaterThan(0)
      const viaRemote = await remote.service.interfaceAddresses(VM)
      expect(viaRemote).toEqual(own)
      expect(remote.reads.n).toBe(0)
    })
  },
)
