/** Public data shapes returned by LibvirtClient. */
import type { DomainStateNumber, LifecycleEventNumber } from './constants.js'
import type { SshTransportOptions } from './transport.js'

/** A domain handle as libvirt sends it (remote_nonnull_domain). */
export interface Domain {
  name: string
  /** Canonical UUID string (8-4-4-4-12 lowercase hex). */
  uuid: string
  /** Hypervisor id while running, -1 when inactive. */
  id: number
}

/** A domain handle, or a name / UUID string that the client looks up first. */
export type DomainRef = Domain | string

/** DOMAIN_GET_INFO */
/** virDomainBlockInfo, bytes. */
export interface BlockInfo {
  capacity: number
  allocation: number
  physical: number
}

export interface DomainInfo {
  /** virDomainState: 1 running, 2 blocked, 3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended. */
  state: DomainStateNumber
  /** Maximum memory in KiB. */
  maxMemKiB: number
  /** Current memory in KiB. */
  memoryKiB: number
  nrVirtCpu: number
  /** CPU time used, nanoseconds. */
  cpuTimeNs: bigint
}

/** DOMAIN_GET_STATE */
export interface DomainStateInfo {
  state: DomainStateNumber
  /** The per-state reason (virDomainRunningReason, virDomainShutoffReason …). */
  reason: number
}

/** A typed parameter value: INT/UINT/DOUBLE → number, LLONG/ULLONG → bigint, BOOLEAN → boolean, STRING → string. */
export type TypedParamValue = number | bigint | boolean | string

/** One record of CONNECT_GET_ALL_DOMAIN_STATS. */
export interface DomainStatsRecord {
  domain: Domain
  /** Keys as libvirt names them: `state.state`, `cpu.time`, `balloon.current`, `net.0.rx.bytes`, `block.0.rd.bytes` … */
  params: Record<string, TypedParamValue>
}

export interface DomainIpAddress {
  /** 0 = IPv4, 1 = IPv6 */
  type: number
  addr: string
  prefix: number
}

export interface DomainInterface {
  name: string
  hwaddr: string | null
  addrs: DomainIpAddress[]
}

/** NODE_GET_INFO */
export interface NodeInfo {
  model: string
  /** Memory in KiB. */
  memoryKiB: number
  cpus: number
  mhz: number
  nodes: number
  sockets: number
  cores: number
  threads: number
}

/** A lifecycle event (DOMAIN_EVENT_CALLBACK_LIFECYCLE). */
export interface LifecycleEventData {
  domain: Domain
  /** virDomainEventType, see `LifecycleEvent`. */
  event: LifecycleEventNumber
  /** Per-event detail, e.g. `StoppedDetail.DESTROYED`. */
  detail: number
}

/** A guest reboot (DOMAIN_EVENT_CALLBACK_REBOOT). */
export interface RebootEventData {
  domain: Domain
}

export interface ConnectOptions {
  /** Unix socket path (default: chosen from the URI, see defaultSocketPath). */
  socketPath?: string
  /** Opens the connection read-only (and uses the -ro socket when no path is given). */
  readOnly?: boolean
  /** Per-call reply timeout, ms (default 30 000). */
  callTimeoutMs?: number
  /** Transport + handshake timeout, ms (default 10 000). */
  connectTimeoutMs?: number
  /** Keepalive ping interval, ms (default 5000; 0 disables keepalive). */
  keepaliveIntervalMs?: number
  /** Unanswered pings before the connection counts as dead (default 5). */
  keepaliveCount?: number
  /** SSH settings for `+ssh` URIs. */
  ssh?: SshTransportOptions
}

export interface XmlDescOptions {
  /** Include secrets (VNC passwords …): only for callers allowed to see them. */
  secure?: boolean
  /** The persistent (next-boot) definition rather than the live one. */
  inactive?: boolean
  /** Update guest CPU from host capabilities. */
  updateCpu?: boolean
  migratable?: boolean
}

export interface ConsoleOptions {
  /**
   * Take the console over from another client (VIR_DOMAIN_CONSOLE_FORCE).
   * Default false: the safe mode, which fails if someone else holds it.
   */
  force?: boolean
}
