/**
 * The hypervisor service: the VM inventory (kept current from lifecycle
 * events plus a periodic resync), the status sampler (ONE all-domain stats
 * call per tick, only while someone is subscribed), vm-control, system events,
 * and the VmDirectory used by the VNC and terminal bridges.
 */
import type { Duplex } from 'node:stream'
import type { ClientConnection, Logger, Principal, VmDirectory } from '../server/bridge.js'
import { ApiError } from '../server/bridge.js'
import { controlFailureCode } from '../../shared/errors.js'
import type {
  SystemEventData,
  SystemEventName,
  VmAction,
  HostInfoData,
  VmAutostartResponseData,
  VmInfoData,
  VmStatusData,
  VmStatusValue,
} from '../../shared/protocol.js'
import { isConnectionLost, isDomainNotFound, LibvirtTimeoutError } from '../libvirt/errors.js'
import { parseCapabilities } from './capabilities.js'
import type { HvClient, HvDomain, HvDomainInfo, HvHostFacts } from './client.js'
import { planControl } from './control.js'
import { parseDomainConfig } from './domain-config.js'
import { addressesForMacs, interfaceMacs, readLocalNeighbours, type NeighbourEntry } from './neighbours.js'
import {
  buildEvent,
  expectedEvent,
  mapLifecycle,
  mapReboot,
  type Actor,
  type Locale,
  type MappedEvent,
} from './events.js'
import { computeRates, sampleFromParams, statusOf, ZERO_RATES, type DomainSample, type VmRates } from './status.js'

export interface ServiceOptions {
  locale: Locale
  log: Logger
  /** Sends a system-event to every socket allowed to see the VM (all sockets when vmName is absent). */
  emitEvent(data: SystemEventData, vmName?: string): void
  /** Sampling period, ms (default 1000). */
  tickMs?: number
  /** Full inventory resync period, ms (default 30 000). */
  resyncMs?: number
  /** This host's neighbour table (default: /proc/net/arp); consulted only for a local daemon. */
  readNeighbours?: () => Promise<NeighbourEntry[]>
}

interface VmEntry {
  name: string
  uuid: string
  id: number
  status: VmStatusValue
  vcpus: number
  memoryKiB: number
  maxMemKiB: number
  sample?: DomainSample
  rates: VmRates
  /** The last pushed payload (a fresh subscriber's snapshot). */
  last?: VmStatusData
  /** When a lifecycle event last set the status (monotonic ms). */
  eventAt?: number
}

/** A control request waiting for the event it should cause (for the actor and restart-vs-reset). */
interface Pending {
  event: SystemEventName
  action: VmAction
  force: boolean
  actor: Actor
  expires: number
}

/** One socket's vm-status subscriptions: all VMs, and/or some VMs by name. */
interface Watcher {
  conn: ClientConnection
  principal: Principal
  all: number
  names: Map<string, number>
  /** Grant decisions per VM name (globs are not free at 1 000 sockets × 200 VMs per second). */
  visible: Map<string, boolean>
}

const PENDING_TTL_MS = 120_000
/** How long a grant decision is reused for pushes (the server re-checks every vm-status push anyway). */
const VISIBLE_TTL_MS = 5_000

export class HypervisorService implements VmDirectory {
  private readonly vms = new Map<string, VmEntry>()
  private readonly byUuid = new Map<string, string>()
  private readonly watchers = new Map<string, Watcher>()
  private readonly pending = new Map<string, Pending[]>()
  private readonly goneCbs = new Set<(vmName: string) => void>()
  private tickTimer?: NodeJS.Timeout
  private resyncTimer?: NodeJS.Timeout
  private ticking = false
  /** When the per-socket grant caches were last cleared (grants can change while sockets stay open). */
  private visibleAt = 0
  private synced = false
  private syncing?: Promise<void>
  private closed = false
  /** Ticks that sampled (for tests and the bench). */
  ticks = 0
  private readonly tickListeners = new Set<(n: number) => void>()

  constructor(
    readonly client: HvClient,
    private readonly opts: ServiceOptions,
  ) {
    client.onLifecycle((d, e, detail) => this.onLifecycle(d, e, detail))
    client.onReboot(d => this.onReboot(d))
    client.onConnected(() => void this.onConnected())
    client.onDisconnected(err => this.onDisconnected(err))
  }

  get connected(): boolean {
    return this.client.connected
  }

  /** Starts the periodic resync; syncs at once when already connected. */
  start(): void {
    this.resyncTimer = setInterval(() => void this.resync().catch(() => {}), this.opts.resyncMs ?? 30_000)
    this.resyncTimer.unref?.()
    if (this.client.connected)
      void this.resync().catch(e => this.opts.log.warn('inventory sync failed', { error: String(e) }))
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.resyncTimer)
    this.stopSampler()
    this.watchers.clear()
    this.goneCbs.clear()
  }

  // ------------------------------------------------------------------ inventory

  /**
   * Re-reads the domain list; new domains get their info, vanished ones are dropped.
   * `full` re-reads every domain's info: after a reconnect, states may have changed
   * (paused, resumed…) while we heard no events.
   */
  resync(full = false): Promise<void> {
    if (full && this.syncing) return this.syncing.then(() => this.resync(true))
    this.syncing ??= this.doResync(full).finally(() => (this.syncing = undefined))
    return this.syncing
  }

  private async doResync(full: boolean): Promise<void> {
    if (!this.client.connected) return
    const doms = await this.client.listAllDomains()
    const seen = new Set<string>()
    const fresh: HvDomain[] = []
    for (const d of doms) {
      seen.add(d.name)
      const e = this.vms.get(d.name)
      if (full || !e || e.uuid !== d.uuid || (e.id === -1) !== (d.id === -1)) fresh.push(d)
      else e.id = d.id
    }
    for (const name of [...this.vms.keys()]) if (!seen.has(name)) this.drop(name)
    // Info for new or changed domains only: a resync of a steady inventory is one call.
    await Promise.all(fresh.map(d => this.refresh(d).catch(() => undefined)))
    this.synced = true
  }

  /** Fetches one domain's info into the inventory. */
  private async refresh(d: HvDomain): Promise<VmEntry | undefined> {
    let info: HvDomainInfo
    try {
      info = await this.client.info(d)
    } catch (e) {
      if (isNotFound(e)) this.drop(d.name)
      throw e
    }
    const prev = this.vms.get(d.name)
    const e: VmEntry = {
      name: d.name,
      uuid: d.uuid,
      id: d.id,
      status: statusOf(info.state),
      vcpus: info.nrVirtCpu,
      memoryKiB: info.memoryKiB,
      maxMemKiB: info.maxMemKiB,
      sample: prev?.uuid === d.uuid ? prev.sample : undefined,
      rates: prev?.uuid === d.uuid ? prev.rates : ZERO_RATES,
      last: undefined,
    }
    if (prev && prev.uuid !== d.uuid) this.byUuid.delete(prev.uuid)
    this.vms.set(d.name, e)
    this.byUuid.set(d.uuid, d.name)
    for (const w of this.watchers.values()) w.visible.delete(d.name)
    return e
  }

  private drop(name: string): void {
    const e = this.vms.get(name)
    if (!e) return
    this.vms.delete(name)
    if (this.byUuid.get(e.uuid) === name) this.byUuid.delete(e.uuid)
    this.pending.delete(name)
    this.notifyGone(name)
  }

  private notifyGone(name: string): void {
    for (const cb of this.goneCbs) {
      try {
        cb(name)
      } catch (err) {
        this.opts.log.warn('vm-gone listener failed', { error: String(err) })
      }
    }
  }

  /** The VMs known now (for tests and the bench). */
  list(): { name: string; uuid: string; status: VmStatusValue }[] {
    return [...this.vms.values()].map(e => ({ name: e.name, uuid: e.uuid, status: e.status }))
  }

  /** Name of a VM by name or UUID, from the inventory (no libvirt call). */
  lookupName(ref: string): string | undefined {
    if (this.vms.has(ref)) return ref
    return this.byUuid.get(ref.toLowerCase())
  }

  private unavailable(vmId?: string): ApiError {
    return new ApiError(
      'HYPERVISOR_UNAVAILABLE',
      'no connection to libvirt right now; the server reconnects by itself, retry once it is back',
      vmId !== undefined ? { vmId } : {},
    )
  }

  /** Looks a VM up at libvirt (fresh), mapping failures to API errors. */
  private async lookupDomain(ref: string): Promise<HvDomain> {
    if (!this.client.connected) throw this.unavailable(ref)
    try {
      return await this.client.lookup(this.lookupName(ref) ?? ref)
    } catch (e) {
      if (isNotFound(e)) throw new ApiError('VM_NOT_FOUND', `no VM named or with UUID '${ref}'`, { vmId: ref })
      if (!this.client.connected || isConnectionError(e)) throw this.unavailable(ref)
      throw e
    }
  }

  // ------------------------------------------------------------------ VmDirectory

  async resolve(vmRef: string): Promise<{ name: string; uuid: string; status: VmStatusValue }> {
    const d = await this.lookupDomain(vmRef)
    let state: number
    try {
      state = await this.client.state(d)
    } catch (e) {
      if (isNotFound(e)) throw new ApiError('VM_NOT_FOUND', `no VM named or with UUID '${vmRef}'`, { vmId: vmRef })
      if (isConnectionError(e)) throw this.unavailable(vmRef)
      throw e
    }
    return { name: d.name, uuid: d.uuid, status: statusOf(state) }
  }

  async xml(vmName: string, opts: { secure?: boolean } = {}): Promise<string> {
    const d = await this.lookupDomain(vmName)
    return this.client.xml(d, opts.secure ?? false)
  }

  /**
   * The guest's addresses, IPv4 first: libvirt's DHCP leases, then its ARP
   * source, then (local daemon only) this host's neighbour table matched
   * against the domain's interface MACs — libvirt's ARP source fails on some
   * hosts ("wrong nlmsg len"), and for a remote daemon our table is the wrong
   * machine's, so it is never read then.
   */
  async interfaceAddresses(vmName: string): Promise<string[]> {
    const d = await this.lookupDomain(vmName)
    const out: string[] = []
    for (const source of [0, 2] as const) {
      // DHCP leases only exist for libvirt-managed networks; ARP covers bridges and taps.
      const ifaces = await this.client.interfaceAddresses(d, source).catch(() => [])
      const addrs = ifaces.flatMap(i => i.addrs)
      for (const a of [...addrs.filter(x => x.type === 0), ...addrs.filter(x => x.type !== 0)])
        if (!out.includes(a.addr)) out.push(a.addr)
      if (out.length) return out
    }
    // A stopped guest's old neighbour entries are stale; a remote daemon's guests are not in our table.
    if (this.client.local !== true || d.id === -1) return out
    const xml = await this.client.xml(d, false).catch(() => '')
    const macs = interfaceMacs(xml)
    if (!macs.length) return out
    return addressesForMacs(await (this.opts.readNeighbours ?? readLocalNeighbours)(), macs)
  }

  /**
   * A VM's configuration (vm-info): the XML's identity, OS, vCPUs, memory,
   * disks, interfaces and displays, with autostart and persistence, disk
   * sizes where libvirt can tell, and each interface's guest addresses
   * (found as interfaceAddresses finds them, matched by MAC).
   */
  async info(vmRef: string): Promise<VmInfoData> {
    const d = await this.lookupDomain(vmRef)
    const [xml, state, autostart, persistent] = await Promise.all([
      this.client.xml(d, false),
      this.client.state(d),
      this.client.autostart(d),
      this.client.persistent(d),
    ]).catch((e: unknown) => {
      throw this.domainError(e, vmRef)
    })
    const cfg = parseDomainConfig(xml)
    const running = d.id !== -1
    const [sizes, addresses] = await Promise.all([
      Promise.all(
        cfg.disks.map(disk =>
          // An empty CD drive or a network disk the daemon cannot size: shown without sizes.
          disk.source && disk.target ? this.client.blockInfo(d, disk.target).catch(() => undefined) : undefined,
        ),
      ),
      running
        ? this.addressesByMac(
            d,
            cfg.nics.flatMap(n => (n.mac ? [n.mac] : [])),
          )
        : new Map<string, string[]>(),
    ])
    return {
      vmId: d.name,
      uuid: d.uuid,
      name: d.name,
      ...(cfg.title ? { title: cfg.title } : {}),
      ...(cfg.description ? { description: cfg.description } : {}),
      status: statusOf(state),
      persistent,
      autostart,
      os: cfg.os,
      vcpus: cfg.vcpus,
      memoryKiB: cfg.memoryKiB,
      maxMemoryKiB: cfg.maxMemoryKiB,
      disks: cfg.disks.map((disk, i) => {
        const size = sizes[i]
        return size ? { ...disk, capacityBytes: size.capacity, allocationBytes: size.allocation } : disk
      }),
      nics: cfg.nics.map(n => ({ ...n, addresses: (n.mac && addresses.get(n.mac)) || [] })),
      graphics: cfg.graphics,
    }
  }

  /** Guest addresses per interface MAC: DHCP leases, libvirt's ARP source, then (local daemon) the neighbour table. */
  private async addressesByMac(d: HvDomain, macs: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>()
    const add = (mac: string, addrs: string[]): void => {
      const have = out.get(mac) ?? []
      for (const a of addrs) if (!have.includes(a)) have.push(a)
      if (have.length) out.set(mac, have)
    }
    for (const source of [0, 2] as const) {
      if (macs.every(m => out.has(m))) break
      const ifaces = await this.client.interfaceAddresses(d, source).catch(() => [])
      for (const i of ifaces) {
        const mac = i.hwaddr?.toLowerCase()
        if (!mac || out.has(mac)) continue
        // IPv4 first: that is the address people type.
        add(
          mac,
          [...i.addrs.filter(a => a.type === 0), ...i.addrs.filter(a => a.type !== 0)].map(a => a.addr),
        )
      }
    }
    const missing = macs.filter(m => !out.has(m))
    if (missing.length && this.client.local === true) {
      const table = await (this.opts.readNeighbours ?? readLocalNeighbours)().catch(() => [])
      for (const mac of missing) add(mac, addressesForMacs(table, [mac]))
    }
    return out
  }

  /**
   * The host as the daemon describes it, with the VMs `principal` may see
   * counted (never those outside their grants).
   */
  async hostInfo(principal: Principal, uri: string): Promise<HostInfoData> {
    if (!this.client.connected) throw this.unavailable()
    let facts: HvHostFacts
    try {
      facts = await this.client.host()
    } catch (e) {
      if (isConnectionError(e) || !this.client.connected) throw this.unavailable()
      throw e
    }
    const caps = parseCapabilities(facts.capabilities)
    const mine = this.list().filter(v => principal.canAccessVm(v.name))
    const { node } = facts
    return {
      hostname: facts.hostname,
      uri,
      hypervisor: { type: facts.type, ...(facts.version > 0 ? { version: versionString(facts.version) } : {}) },
      libvirtVersion: versionString(facts.libVersion),
      cpu: {
        arch: caps.arch ?? node.model,
        ...(caps.model ? { model: caps.model } : {}),
        ...(caps.vendor ? { vendor: caps.vendor } : {}),
        cpus: node.cpus,
        mhz: node.mhz,
        sockets: node.sockets,
        cores: node.cores,
        threads: node.threads,
        numaNodes: node.nodes,
      },
      kvm: caps.kvm,
      memoryKiB: facts.memoryTotalKiB ?? node.memoryKiB,
      vms: { total: mine.length, running: mine.filter(v => v.status === 'running' || v.status === 'paused').length },
    }
  }

  /**
   * Sets whether the VM starts with the host and answers with what libvirt
   * then reports. A transient VM has nothing to autostart: refused before
   * libvirt is asked, with the reason.
   */
  async setAutostart(vmRef: string, enabled: boolean): Promise<VmAutostartResponseData> {
    const d = await this.lookupDomain(vmRef)
    const persistent = await this.client.persistent(d).catch((e: unknown) => {
      throw this.domainError(e, vmRef)
    })
    if (!persistent)
      throw new ApiError(
        'VM_AUTOSTART_FAILED',
        `VM ${d.name} is transient (it has no persistent definition), so it cannot start with the host; define it persistently first`,
        { vmId: d.name },
      )
    try {
      await this.client.setAutostart(d, enabled)
      return { vmId: d.name, autostart: await this.client.autostart(d) }
    } catch (e) {
      const mapped = this.domainError(e, vmRef)
      if (mapped !== e) throw mapped
      throw new ApiError(
        'VM_AUTOSTART_FAILED',
        `libvirt could not ${enabled ? 'enable' : 'disable'} autostart of VM ${d.name}`,
        {
          vmId: d.name,
          details: e instanceof Error ? e.message : String(e),
        },
      )
    }
  }

  /** A libvirt failure on one VM as the API error a client can act on. */
  private domainError(e: unknown, vmRef: string): unknown {
    if (isNotFound(e)) return new ApiError('VM_NOT_FOUND', `no VM named or with UUID '${vmRef}'`, { vmId: vmRef })
    if (!this.client.connected || isConnectionError(e)) return this.unavailable(vmRef)
    return e
  }

  async openConsole(vmName: string): Promise<Duplex> {
    const d = await this.lookupDomain(vmName)
    return this.client.openConsole(d)
  }

  onVmGone(cb: (vmName: string) => void): () => void {
    this.goneCbs.add(cb)
    return () => this.goneCbs.delete(cb)
  }

  // ------------------------------------------------------------------ control

  async control(
    vmRef: string,
    action: VmAction,
    force: boolean,
    actor: Actor,
  ): Promise<{ vmId: string; action: VmAction; status: 'success' }> {
    const d = await this.lookupDomain(vmRef)
    let status: VmStatusValue
    try {
      status = statusOf(await this.client.state(d))
    } catch (e) {
      if (isNotFound(e)) throw new ApiError('VM_NOT_FOUND', `no VM named or with UUID '${vmRef}'`, { vmId: vmRef })
      if (isConnectionError(e)) throw this.unavailable(vmRef)
      throw e
    }
    const plan = planControl(d.name, action, force, status)
    if ('refuse' in plan) throw new ApiError(plan.refuse, plan.message, { vmId: d.name })
    const p: Pending = {
      event: expectedEvent(action, force),
      action,
      force,
      // A copy: the principal object may outlive a rename; the event names who asked.
      actor: { userId: actor.userId, username: actor.username },
      expires: Date.now() + PENDING_TTL_MS,
    }
    // Expired requests (a graceful stop the guest ignored) are dropped here too, so the list stays short.
    const list = (this.pending.get(d.name) ?? []).filter(x => x.expires > Date.now())
    list.push(p)
    this.pending.set(d.name, list)
    try {
      await this.client.control(d, plan.op)
    } catch (e) {
      list.splice(list.indexOf(p), 1)
      if (isConnectionError(e) || !this.client.connected) throw this.unavailable(d.name)
      if (isNotFound(e)) throw new ApiError('VM_NOT_FOUND', `no VM named or with UUID '${vmRef}'`, { vmId: vmRef })
      const details = e instanceof Error ? e.message : String(e)
      throw new ApiError(controlFailureCode(action), `libvirt could not ${action} VM ${d.name}`, {
        vmId: d.name,
        details,
      })
    }
    return { vmId: d.name, action, status: 'success' }
  }

  /**
   * Takes the pending request this event answers, if any: the latest one
   * asking for it (repeated requests, e.g. a graceful stop pressed twice, are
   * all answered by the one event).
   */
  private takePending(name: string, event: SystemEventName): Pending | undefined {
    const list = this.pending.get(name)
    if (!list) return undefined
    const now = Date.now()
    const hits = list.filter(p => p.expires > now && p.event === event)
    const rest = list.filter(p => p.expires > now && p.event !== event)
    if (rest.length) this.pending.set(name, rest)
    else this.pending.delete(name)
    return hits.at(-1)
  }

  // ------------------------------------------------------------------ events

  private emit(mapped: MappedEvent, vmName?: string, actor?: Actor): void {
    this.opts.emitEvent(buildEvent(mapped, this.opts.locale, vmName, actor), vmName)
  }

  private onLifecycle(d: HvDomain, event: number, detail: number): void {
    if (this.closed) return
    const e = this.vms.get(d.name)
    const before = e?.status
    const mapped = mapLifecycle(event, detail)
    // Inventory first, so a status push that follows reflects the event.
    switch (event) {
      case 0: // DEFINED
      case 2: // STARTED: vCPUs and memory may differ from the last boot
        void this.refresh(d)
          .then(n => n && this.pushOne(n))
          .catch(() => {})
        break
      case 1: // UNDEFINED
        this.drop(d.name)
        break
      default:
        if (e) {
          e.id = d.id
          e.eventAt = performance.now()
          e.status = statusFromEvent(event, detail, e.status)
          if (e.status === 'stopped' || e.status === 'crashed') {
            e.sample = undefined
            e.rates = ZERO_RATES
            this.notifyGone(d.name)
          }
          this.pushOne(e)
        } else void this.refresh(d).catch(() => {})
    }
    if (!mapped) return
    // libvirt's fake reboot (graceful restart) resumes a VM that was never paused: not news.
    if (mapped.event === 'vm-resumed' && before !== undefined && before !== 'paused') return
    const p = this.takePending(d.name, mapped.event)
    this.emit(mapped, d.name, p?.actor)
  }

  private onReboot(d: HvDomain): void {
    if (this.closed) return
    const list = this.pending.get(d.name)
    const now = Date.now()
    const req = list?.findLast(p => (p.event === 'vm-reset' || p.event === 'vm-restarted') && p.expires > now)
    const mapped = mapReboot(req && { action: req.action, force: req.force })
    const p = this.takePending(d.name, mapped.event)
    this.emit(mapped, d.name, p?.actor)
  }

  private async onConnected(): Promise<void> {
    if (this.closed) return
    try {
      await this.resync(true)
    } catch (e) {
      this.opts.log.warn('inventory sync after connect failed', { error: String(e) })
    }
    this.emit({ event: 'hypervisor-connected', level: 'info' })
    if (this.watchers.size) {
      this.startSampler()
      void this.tick()
    }
  }

  private onDisconnected(err?: Error): void {
    if (this.closed) return
    this.opts.log.warn('libvirt connection lost', { error: err ? err.message : undefined })
    this.synced = false
    for (const e of this.vms.values()) e.sample = undefined
    this.emit({ event: 'hypervisor-disconnected', level: 'error' })
  }

  // ------------------------------------------------------------------ status topic

  /**
   * Subscribes a socket to vm-status: one VM (by name) or all VMs it may see.
   * Sends the current status at once. Returns the function that ends it.
   */
  async watch(
    conn: ClientConnection,
    principal: Principal,
    vmRef?: string,
  ): Promise<{ vmName?: string; close: () => void }> {
    let name: string | undefined
    if (vmRef !== undefined) {
      if (!this.synced && this.client.connected) await this.resync().catch(() => {})
      name = this.lookupName(vmRef)
      if (!name) {
        if (!this.client.connected) throw this.unavailable(vmRef)
        name = (await this.lookupDomain(vmRef)).name
        if (!this.vms.has(name)) await this.resync().catch(() => {})
      }
    } else if (!this.synced && this.client.connected) {
      await this.resync().catch(() => {})
    }
    let w = this.watchers.get(conn.id)
    if (!w) {
      w = { conn, principal, all: 0, names: new Map(), visible: new Map() }
      this.watchers.set(conn.id, w)
    }
    const watcher = w
    if (name === undefined) watcher.all++
    else watcher.names.set(name, (watcher.names.get(name) ?? 0) + 1)
    let closed = false
    // A snapshot at once, not after a tick: right after the subscribe reply (which the core sends
    // as soon as this resolves), so clients see "subscribed" first and then the data.
    setImmediate(() => {
      if (closed || !this.client.connected) return
      const targets = name !== undefined ? [this.vms.get(name)] : [...this.vms.values()]
      for (const e of targets) if (e && this.sees(watcher, e.name)) this.pushTo(watcher, e)
    })
    this.startSampler()
    return {
      vmName: name,
      close: () => {
        if (closed) return
        closed = true
        if (name === undefined) watcher.all--
        else {
          const n = (watcher.names.get(name) ?? 1) - 1
          if (n > 0) watcher.names.set(name, n)
          else watcher.names.delete(name)
        }
        if (watcher.all <= 0 && watcher.names.size === 0) this.watchers.delete(conn.id)
        if (this.watchers.size === 0) this.stopSampler()
      },
    }
  }

  private sees(w: Watcher, name: string): boolean {
    if (w.all <= 0 && !w.names.has(name)) return false
    let v = w.visible.get(name)
    if (v === undefined) {
      v = w.principal.canAccessVm(name)
      w.visible.set(name, v)
    }
    return v
  }

  private payload(e: VmEntry): VmStatusData {
    e.last = {
      vmId: e.name,
      uuid: e.uuid,
      name: e.name,
      status: e.status,
      cpu: e.rates.cpu,
      memory: e.rates.memory,
      network: { rx: e.rates.network.rx, tx: e.rates.network.tx },
      disk: { read: e.rates.disk.read, write: e.rates.disk.write },
      vcpus: e.vcpus,
      memoryKiB: e.memoryKiB,
    }
    return e.last
  }

  private pushTo(w: Watcher, e: VmEntry, data: VmStatusData = e.last ?? this.payload(e)): void {
    w.conn.pushLatest(`vm-status:${e.name}`, 'vm-status', data)
  }

  /** Pushes one VM's status now (after an event changed it). */
  private pushOne(e: VmEntry): void {
    if (!this.watchers.size || !this.client.connected) return
    const data = this.payload(e)
    for (const w of this.watchers.values()) if (this.sees(w, e.name)) this.pushTo(w, e, data)
  }

  private startSampler(): void {
    if (this.tickTimer || this.closed) return
    this.tickTimer = setInterval(() => void this.tick(), this.opts.tickMs ?? 1000)
    this.tickTimer.unref?.()
    // A baseline now, so the first rates come one tick after subscribing, not two.
    void this.tick()
  }

  private stopSampler(): void {
    clearInterval(this.tickTimer)
    this.tickTimer = undefined
    // Nobody samples now: the last figures go stale. A later subscriber gets the current
    // status with zero rates at once, and rates from fresh consecutive samples after that,
    // never an average over the unsubscribed gap.
    for (const e of this.vms.values()) {
      e.sample = undefined
      e.rates = ZERO_RATES
      e.last = undefined
    }
  }

  /** Calls back after every sampling tick (tests, bench). Returns an unsubscribe function. */
  onTick(cb: (n: number) => void): () => void {
    this.tickListeners.add(cb)
    return () => this.tickListeners.delete(cb)
  }

  /** One sampling tick: one stats call for all domains, then a push per VM per watching socket. */
  async tick(): Promise<void> {
    if (this.ticking || !this.client.connected || this.watchers.size === 0) return
    this.ticking = true
    try {
      const sentAt = performance.now()
      const records = await this.client.allStats()
      const at = performance.now()
      const payloads: VmStatusData[] = []
      const entries: VmEntry[] = []
      for (const r of records) {
        let e = this.vms.get(r.domain.name)
        if (!e || e.uuid !== r.domain.uuid) {
          // Defined since the last sync and its event not handled yet: take what the record says.
          e = {
            name: r.domain.name,
            uuid: r.domain.uuid,
            id: r.domain.id,
            status: 'unknown',
            vcpus: 0,
            memoryKiB: 0,
            maxMemKiB: 0,
            rates: ZERO_RATES,
          }
          this.vms.set(e.name, e)
          this.byUuid.set(e.uuid, e.name)
          void this.refresh(r.domain).catch(() => {})
        }
        const s = sampleFromParams(r.params, at)
        // A record computed before a lifecycle event we already applied would flip the status back for a tick.
        if (s.state !== undefined && !(e.eventAt !== undefined && e.eventAt > sentAt)) e.status = statusOf(s.state)
        e.id = r.domain.id
        if (s.vcpus) e.vcpus = s.vcpus
        if (s.balloonCurrent) e.memoryKiB = s.balloonCurrent
        e.rates = computeRates(e.sample, s, { vcpus: e.vcpus || 1, maxMemKiB: e.maxMemKiB })
        e.sample = s.state !== undefined && statusOf(s.state) === 'stopped' ? undefined : s
        payloads.push(this.payload(e))
        entries.push(e)
      }
      this.ticks++
      if (Date.now() - this.visibleAt > VISIBLE_TTL_MS) {
        this.visibleAt = Date.now()
        for (const w of this.watchers.values()) w.visible.clear()
      }
      for (const w of this.watchers.values()) {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as VmEntry
          if (this.sees(w, e.name)) this.pushTo(w, e, payloads[i])
        }
      }
    } catch (e) {
      if (!isConnectionError(e)) this.opts.log.warn('status sampling failed', { error: String(e) })
    } finally {
      this.ticking = false
    }
    for (const cb of this.tickListeners) cb(this.ticks)
  }
}

function statusFromEvent(event: number, detail: number, current: VmStatusValue): VmStatusValue {
  switch (event) {
    case 3: // SUSPENDED
      return 'paused'
    case 4: // RESUMED
      return 'running'
    case 5: // STOPPED
      return detail === 2 ? 'crashed' : 'stopped'
    case 6: // SHUTDOWN: on its way down (STOPPED follows)
      return current === 'stopped' ? current : 'stopping'
    case 7:
      return 'suspended'
    case 8:
      return 'crashed'
    default:
      return current
  }
}

/** libvirt's VIR_ERR_NO_DOMAIN (42). */
function isNotFound(e: unknown): boolean {
  return isDomainNotFound(e)
}

/** The connection is gone or did not answer: the caller should hear HYPERVISOR_UNAVAILABLE. */
function isConnectionError(e: unknown): boolean {
  return isConnectionLost(e) || e instanceof LibvirtTimeoutError
}

/** libvirt's encoded version (major*1_000_000 + minor*1000 + micro) as "major.minor.micro". */
export function versionString(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`
}
