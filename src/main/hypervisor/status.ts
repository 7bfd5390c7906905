/**
 * The VM status math, as pure functions over two consecutive samples of one
 * domain (what CONNECT_GET_ALL_DOMAIN_STATS returns for it, flattened).
 */
import type { VmStatusValue } from '../../shared/protocol.js'

/** A typed-parameter value as the libvirt client decodes it. */
export type ParamValue = number | bigint | string | boolean

/** One domain's figures at one instant, reduced from its stats record. */
export interface DomainSample {
  /** Monotonic milliseconds when the sample was taken. */
  at: number
  /** virDomainState, when the record had `state.state`. */
  state?: number
  /** Total CPU time in nanoseconds (`cpu.time`). */
  cpuTime?: bigint
  /** `vcpu.current` */
  vcpus?: number
  /** Balloon figures in KiB. */
  balloonCurrent?: number
  balloonMaximum?: number
  balloonAvailable?: number
  balloonUnused?: number
  /** Cumulative bytes per interface / disk, keyed by device name (or index when nameless). */
  net: Map<string, { rx: number; tx: number }>
  block: Map<string, { rd: number; wr: number }>
}

export interface VmRates {
  cpu: number
  memory: number
  network: { rx: number; tx: number }
  disk: { read: number; write: number }
}

export const ZERO_RATES: VmRates = Object.freeze({
  cpu: 0,
  memory: 0,
  network: Object.freeze({ rx: 0, tx: 0 }),
  disk: Object.freeze({ read: 0, write: 0 }),
}) as VmRates

const num = (v: ParamValue | undefined): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined

/** Flattens one stats record (`field → value`) into a DomainSample. */
export function sampleFromParams(record: Readonly<Record<string, ParamValue>>, at: number): DomainSample {
  const params = { get: (k: string): ParamValue | undefined => (Object.hasOwn(record, k) ? record[k] : undefined) }
  const cpu = params.get('cpu.time')
  const s: DomainSample = {
    at,
    state: num(params.get('state.state')),
    cpuTime: typeof cpu === 'bigint' ? cpu : typeof cpu === 'number' ? BigInt(Math.trunc(cpu)) : undefined,
    vcpus: num(params.get('vcpu.current')),
    balloonCurrent: num(params.get('balloon.current')),
    balloonMaximum: num(params.get('balloon.maximum')),
    balloonAvailable: num(params.get('balloon.available')),
    balloonUnused: num(params.get('balloon.unused')),
    net: new Map(),
    block: new Map(),
  }
  const nets = num(params.get('net.count')) ?? 0
  for (let i = 0; i < nets; i++) {
    const name = params.get(`net.${i}.name`)
    s.net.set(typeof name === 'string' ? name : `#${i}`, {
      rx: num(params.get(`net.${i}.rx.bytes`)) ?? 0,
      tx: num(params.get(`net.${i}.tx.bytes`)) ?? 0,
    })
  }
  const blocks = num(params.get('block.count')) ?? 0
  for (let i = 0; i < blocks; i++) {
    const name = params.get(`block.${i}.name`)
    const backing = num(params.get(`block.${i}.backingIndex`))
    // Backing-chain entries (only with the BACKING flag) would count the same I/O twice.
    if (backing !== undefined) continue
    s.block.set(typeof name === 'string' ? name : `#${i}`, {
      rd: num(params.get(`block.${i}.rd.bytes`)) ?? 0,
      wr: num(params.get(`block.${i}.wr.bytes`)) ?? 0,
    })
  }
  return s
}

/** virDomainState → the protocol's status value. */
export function statusOf(state: number | undefined): VmStatusValue {
  switch (state) {
    case 1: // RUNNING
    case 2: // BLOCKED (running, waiting on a resource)
      return 'running'
    case 3:
      return 'paused'
    case 4: // SHUTDOWN: being shut down
      return 'stopping'
    case 5:
      return 'stopped'
    case 6:
      return 'crashed'
    case 7:
      return 'suspended'
    default:
      return 'unknown'
  }
}

/** True when the state has a live QEMU process (stats and rates mean something). */
export function isActiveStatus(s: VmStatusValue): boolean {
  return s === 'running' || s === 'paused' || s === 'stopping' || s === 'suspended'
}

const round2 = (n: number) => Math.round(n * 100) / 100
const clampPct = (n: number) => round2(Math.min(100, Math.max(0, n)))

/**
 * CPU percent over all vCPUs: cpu.time delta / (elapsed × vCPUs). Zero when
 * there is no previous sample, no time passed, or the counter went backwards
 * (the VM restarted and its QEMU process began again from zero).
 */
export function cpuPercent(prev: DomainSample | undefined, cur: DomainSample, vcpus: number): number {
  if (!prev || prev.cpuTime === undefined || cur.cpuTime === undefined) return 0
  const elapsedNs = (cur.at - prev.at) * 1e6
  const delta = cur.cpuTime - prev.cpuTime
  if (elapsedNs <= 0 || delta <= 0n || vcpus <= 0) return 0
  return clampPct((Number(delta) / (elapsedNs * vcpus)) * 100)
}

/**
 * Guest memory in use, percent: from the balloon driver's guest-side view
 * (available − unused) when the guest reports it, else the balloon's current
 * size over its maximum (which is what the host has handed the guest).
 */
export function memoryPercent(cur: DomainSample, fallbackMaxKiB?: number): number {
  const avail = cur.balloonAvailable
  const unused = cur.balloonUnused
  if (avail !== undefined && unused !== undefined && avail > 0) return clampPct(((avail - unused) / avail) * 100)
  const max = cur.balloonMaximum ?? fallbackMaxKiB
  if (cur.balloonCurrent !== undefined && max) return clampPct((cur.balloonCurrent / max) * 100)
  return 0
}

/** Bytes per second summed over devices; a counter that went backwards contributes 0. */
function deviceRates<K extends string>(
  prev: Map<string, Record<K, number>> | undefined,
  cur: Map<string, Record<K, number>>,
  keys: [K, K],
  elapsedMs: number,
): [number, number] {
  if (!prev || elapsedMs <= 0) return [0, 0]
  let a = 0
  let b = 0
  for (const [name, c] of cur) {
    const p = prev.get(name)
    if (!p) continue
    const da = c[keys[0]] - p[keys[0]]
    const db = c[keys[1]] - p[keys[1]]
    if (da > 0) a += da
    if (db > 0) b += db
  }
  const s = elapsedMs / 1000
  return [Math.round(a / s), Math.round(b / s)]
}

/** All rates between two samples of one domain. */
export function computeRates(
  prev: DomainSample | undefined,
  cur: DomainSample,
  info: { vcpus: number; maxMemKiB?: number },
): VmRates {
  if (cur.state !== undefined && !isActiveStatus(statusOf(cur.state))) return ZERO_RATES
  // A VM that restarted between samples has a fresh QEMU process: nothing to diff against.
  const restarted = prev?.cpuTime !== undefined && cur.cpuTime !== undefined && cur.cpuTime < prev.cpuTime
  const p = restarted ? undefined : prev
  const elapsed = p ? cur.at - p.at : 0
  const [rx, tx] = deviceRates(p?.net, cur.net, ['rx', 'tx'], elapsed)
  const [rd, wr] = deviceRates(p?.block, cur.block, ['rd', 'wr'], elapsed)
  return {
    cpu: cpuPercent(p, cur, cur.vcpus ?? info.vcpus),
    memory: memoryPercent(cur, info.maxMemKiB),
    network: { rx, tx },
    disk: { read: rd, write: wr },
  }
}
