/**
 * HvClient over ReconnectingLibvirt: every libvirt call the hypervisor
 * service makes, counted per operation.
 */
import type { Duplex } from 'node:stream'
import {
  DomainStats,
  DomainStatsFlags,
  ErrorCode,
  LibvirtError,
  InterfaceAddressSource,
  LibvirtClient as LibvirtConnection,
  ReconnectingLibvirt,
  type Domain,
  type LibvirtClient,
  type ReconnectOptions,
} from '../libvirt/index.js'
import {
  CallCounter,
  type HvClient,
  type HvDomain,
  type HvDomainInfo,
  type HvHostFacts,
  type HvInterface,
  type HvOp,
  type HvStatsRecord,
} from './client.js'
import { isLocalLibvirtUri } from './neighbours.js'

/** What an older daemon answers to a flag it does not know: NO_SUPPORT, INVALID_ARG, ARGUMENT_UNSUPPORTED. */
const UNSUPPORTED_FLAG = new Set<number>([ErrorCode.NO_SUPPORT, ErrorCode.INVALID_ARG, ErrorCode.ARGUMENT_UNSUPPORTED])

const STATS_MASK =
  DomainStats.STATE |
  DomainStats.CPU_TOTAL |
  DomainStats.BALLOON |
  DomainStats.VCPU |
  DomainStats.INTERFACE |
  DomainStats.BLOCK

export class LibvirtHvClient implements HvClient {
  readonly calls = new CallCounter()
  readonly local: boolean
  /** Each open serial console's own libvirt connection (closed with its console). */
  readonly consoleConnections = new Set<LibvirtConnection>()

  constructor(readonly lv: ReconnectingLibvirt) {
    this.local = isLocalLibvirtUri(lv.uri)
  }

  static create(uri: string, opts: ReconnectOptions = {}): LibvirtHvClient {
    return new LibvirtHvClient(new ReconnectingLibvirt(uri, { maxDelayMs: 5_000, ...opts }))
  }

  get connected(): boolean {
    return this.lv.connected
  }

  private run<T>(op: string, fn: (c: LibvirtClient) => Promise<T>): Promise<T> {
    this.calls.add(op)
    return this.lv.call(fn)
  }

  onLifecycle(cb: (domain: HvDomain, event: number, detail: number) => void): void {
    this.lv.on('lifecycle', e => cb(e.domain, e.event, e.detail))
  }

  onReboot(cb: (domain: HvDomain) => void): void {
    this.lv.on('reboot', e => cb(e.domain))
  }

  onConnected(cb: () => void): void {
    this.lv.on('connected', () => cb())
  }

  onDisconnected(cb: (err?: Error) => void): void {
    this.lv.on('disconnected', err => cb(err))
  }

  listAllDomains(): Promise<HvDomain[]> {
    return this.run('listAllDomains', c => c.listAllDomains())
  }

  lookup(ref: string): Promise<HvDomain> {
    return this.run('lookup', c => c.lookupDomain(ref))
  }

  async info(dom: HvDomain): Promise<HvDomainInfo> {
    const i = await this.run('info', c => c.domainGetInfo(dom as Domain))
    return { state: i.state, maxMemKiB: i.maxMemKiB, memoryKiB: i.memoryKiB, nrVirtCpu: i.nrVirtCpu }
  }

  async state(dom: HvDomain): Promise<number> {
    return (await this.run('state', c => c.domainGetState(dom as Domain))).state
  }

  /** Whether the daemon took VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT (libvirt ≥ 4.5); undefined = not tried yet. */
  private nowait: boolean | undefined

  allStats(): Promise<HvStatsRecord[]> {
    return this.run('allStats', async c => {
      // NOWAIT: a VM whose QEMU monitor is busy (a long job) reports what is at hand
      // instead of stalling the 1 Hz sample of every other VM.
      if (this.nowait === false) return c.getAllDomainStats(STATS_MASK, 0)
      try {
        const r = await c.getAllDomainStats(STATS_MASK, DomainStatsFlags.NOWAIT)
        this.nowait = true
        return r
      } catch (e) {
        if (this.nowait === undefined && e instanceof LibvirtError && UNSUPPORTED_FLAG.has(e.code)) {
          this.nowait = false
          return c.getAllDomainStats(STATS_MASK, 0)
        }
        throw e
      }
    })
  }

  async control(dom: HvDomain, op: HvOp): Promise<void> {
    const d = dom as Domain
    await this.run(op, async c => {
      switch (op) {
        case 'create':
          await c.domainCreate(d)
          return
        case 'shutdown':
          return c.domainShutdown(d)
        case 'destroy':
          return c.domainDestroy(d)
        case 'reboot':
          return c.domainReboot(d)
        case 'reset':
          return c.domainReset(d)
        case 'suspend':
          return c.domainSuspend(d)
        case 'resume':
          return c.domainResume(d)
      }
    })
  }

  xml(dom: HvDomain, secure: boolean): Promise<string> {
    return this.run('xml', c => c.domainGetXmlDesc(dom as Domain, { secure }))
  }

  autostart(dom: HvDomain): Promise<boolean> {
    return this.run('autostart', c => c.domainGetAutostart(dom as Domain))
  }

  host(): Promise<HvHostFacts> {
    return this.run('host', async c => {
      const [hostname, type, version, libVersion, node, capabilities, memory] = await Promise.all([
        c.getHostname(),
        c.getType(),
        // Not every driver knows its hypervisor's version or gives capabilities: shown as unknown.
        c.getVersion().catch(() => 0),
        c.getLibVersion(),
        c.nodeGetInfo(),
        c.getCapabilities().catch(() => ''),
        c.nodeGetMemoryStats().catch(() => ({}) as Record<string, bigint>),
      ])
      const total = memory.total
      return {
        hostname,
        type,
        version,
        libVersion,
        node,
        capabilities,
        ...(total !== undefined && total > 0n ? { memoryTotalKiB: Number(total) } : {}),
      }
    })
  }

  setAutostart(dom: HvDomain, enabled: boolean): Promise<void> {
    return this.run('setAutostart', c => c.domainSetAutostart(dom as Domain, enabled))
  }

  persistent(dom: HvDomain): Promise<boolean> {
    return this.run('persistent', c => c.domainIsPersistent(dom as Domain))
  }

  blockInfo(dom: HvDomain, disk: string): Promise<{ capacity: number; allocation: number }> {
    return this.run('blockInfo', c => c.domainGetBlockInfo(dom as Domain, disk))
  }

  interfaceAddresses(dom: HvDomain, source: 0 | 2): Promise<HvInterface[]> {
    const src = source === 0 ? InterfaceAddressSource.LEASE : InterfaceAddressSource.ARP
    return this.run('interfaceAddresses', c => c.domainInterfaceAddresses(dom as Domain, src))
  }

  /**
   * Opens the console on a connection of its own (a sibling of the shared one:
   * same URI and settings, keepalive off; over SSH a new channel on the same
   * SSH session), so a slow console reader can stop reading that
   * connection's socket — the daemon then stops reading the guest's console —
   * without ever pausing the shared connection every VM and call uses.
   * Keepalive stays off because the deliberate pause would read as a dead
   * peer; the daemon pings only clients that ask for keepalive. Ending the
   * console closes its connection.
   */
  async openConsole(dom: HvDomain): Promise<Duplex> {
    this.calls.add('openConsole')
    // A sibling of the shared connection: over SSH a new channel on its session, not a second login.
    const c = await this.lv.call(shared => shared.openSibling({ keepaliveIntervalMs: 0 }))
    this.consoleConnections.add(c)
    c.once('close', () => this.consoleConnections.delete(c))
    try {
      // Safe mode: never takes the console away from another client.
      const stream = await c.openConsole(dom as Domain, null, { force: false })
      stream.dedicateConnection()
      stream.once('close', () => void c.close())
      return stream
    } catch (err) {
      await c.close()
      throw err
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.consoleConnections].map(c => c.close()))
    await this.lv.close()
  }
}
