/**
 * The slice of libvirt the hypervisor service uses, in one place: every call
 * the service makes goes through here, which is also where calls are counted
 * (the "one stats call per tick" guarantee is checked against these counts).
 */
import type { Duplex } from 'node:stream'
import type { NodeInfo } from '../libvirt/types.js'
import type { ParamValue } from './status.js'

export interface HvDomain {
  name: string
  uuid: string
  /** Hypervisor id while active, -1 when inactive. */
  id: number
}

export interface HvDomainInfo {
  state: number
  maxMemKiB: number
  memoryKiB: number
  nrVirtCpu: number
}

export interface HvStatsRecord {
  domain: HvDomain
  params: Readonly<Record<string, ParamValue>>
}

export interface HvInterface {
  name: string
  hwaddr: string | null
  addrs: { type: number; addr: string; prefix: number }[]
}

/** What the daemon says about its host (one round of calls). */
export interface HvHostFacts {
  hostname: string
  /** The driver's name, e.g. "QEMU". */
  type: string
  /** Hypervisor and libvirt versions, major*1_000_000 + minor*1000 + micro (0: unknown). */
  version: number
  libVersion: number
  node: NodeInfo
  /**
   * The host's total memory from the node memory statistics (all cells), KiB.
   * Preferred to node.memoryKiB, which some hosts count from the first NUMA
   * cell only (memory added outside it goes missing there).
   */
  memoryTotalKiB?: number
  /** The capabilities XML ('' when the daemon would not give it). */
  capabilities: string
}

export type HvOp = 'create' | 'shutdown' | 'destroy' | 'reboot' | 'reset' | 'suspend' | 'resume'

/** Lifecycle/reboot notifications and connection changes, as the service consumes them. */
export interface HvEvents {
  onLifecycle(cb: (domain: HvDomain, event: number, detail: number) => void): void
  onReboot(cb: (domain: HvDomain) => void): void
  /** Called after each (re)connection, once events are registered again. */
  onConnected(cb: () => void): void
  onDisconnected(cb: (err?: Error) => void): void
}

export interface HvClient extends HvEvents {
  readonly connected: boolean
  /**
   * The daemon runs on this machine (a unix-socket URI), so this host's own
   * neighbour table covers its guests. False or absent for remote (SSH) daemons.
   */
  readonly local?: boolean
  listAllDomains(): Promise<HvDomain[]>
  lookup(ref: string): Promise<HvDomain>
  info(dom: HvDomain): Promise<HvDomainInfo>
  state(dom: HvDomain): Promise<number>
  /** One CONNECT_GET_ALL_DOMAIN_STATS for every domain. */
  allStats(): Promise<HvStatsRecord[]>
  control(dom: HvDomain, op: HvOp): Promise<void>
  xml(dom: HvDomain, secure: boolean): Promise<string>
  /** source: 0 = DHCP lease, 2 = ARP table. */
  interfaceAddresses(dom: HvDomain, source: 0 | 2): Promise<HvInterface[]>
  autostart(dom: HvDomain): Promise<boolean>
  setAutostart(dom: HvDomain, enabled: boolean): Promise<void>
  persistent(dom: HvDomain): Promise<boolean>
  /** A disk's sizes in bytes, the disk named by its target ("vda"). */
  blockInfo(dom: HvDomain, disk: string): Promise<{ capacity: number; allocation: number }>
  openConsole(dom: HvDomain): Promise<Duplex>
  host(): Promise<HvHostFacts>
  close(): Promise<void>
}

/** Counts calls per operation (the service's libvirt traffic, observable by tests and the bench). */
export class CallCounter {
  readonly counts = new Map<string, number>()
  total = 0
  add(op: string): void {
    this.total++
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1)
  }
  get(op: string): number {
    return this.counts.get(op) ?? 0
  }
}
