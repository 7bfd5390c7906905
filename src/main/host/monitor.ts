/**
 * The host monitor: one sampler per distinct interval, shared by all its
 * subscribers and stopped when the last one leaves. Linux reads /proc (see
 * procfs.ts for why); elsewhere it falls back to systeminformation.
 */
import { readFile, readdir, readlink } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import type { SystemMonitorData } from '../../shared/protocol.js'
import { MONITOR_INTERVAL } from '../../shared/protocol.js'
import {
  counterRates,
  cpuPercent,
  parseDiskStats,
  parseMemInfo,
  parseNetDev,
  parseProcStat,
  round2,
  type Counters,
  type ProcStat,
} from './procfs.js'

/** Clamps a requested interval (ms) to the documented range. */
export function clampInterval(requested: number | undefined): number {
  if (requested === undefined || !Number.isFinite(requested)) return MONITOR_INTERVAL.default
  return Math.min(MONITOR_INTERVAL.max, Math.max(MONITOR_INTERVAL.min, Math.round(requested)))
}

/** Produces one SystemMonitorData per call, with rates since its previous call. */
export interface HostReader {
  read(): Promise<SystemMonitorData>
}

/** Which block devices and interfaces count as the host's own. */
interface DeviceFilter {
  disk(name: string): boolean
  net(name: string): boolean
}

/**
 * Physical devices only: a disk or NIC whose /sys node is not under
 * devices/virtual. Loop, zram, device-mapper and md devices would count the
 * same bytes twice (they sit on top of a real disk), and bridges, taps and
 * veths carry guest traffic that the physical NIC carries again. Where nothing
 * physical is found (containers see only veths) everything but loopback counts.
 */
async function physicalDevices(): Promise<DeviceFilter> {
  const physical = async (dir: string): Promise<Set<string> | undefined> => {
    try {
      const names = await readdir(dir)
      const out = new Set<string>()
      for (const n of names) {
        const target = await readlink(`${dir}/${n}`).catch(() => '')
        if (target && !target.includes('/virtual/')) out.add(n)
      }
      return out.size ? out : undefined
    } catch {
      return undefined
    }
  }
  const disks = await physical('/sys/block')
  const nics = await physical('/sys/class/net')
  return {
    // Without /sys: whole disks only (a partition's name ends in a digit after a letter-only disk name, e.g. sda1).
    disk: disks ? n => disks.has(n) : n => !/^(loop|ram|zram|dm-|md)/.test(n) && !/^(sd|hd|vd|xvd)[a-z]+\d+$/.test(n),
    net: nics ? n => nics.has(n) : n => n !== 'lo',
  }
}

/** Reads /proc directly (Linux). */
export class ProcReader implements HostReader {
  private prev?: { at: number; stat: ProcStat; disks: Counters; nets: Counters }
  private filter?: Promise<DeviceFilter>
  private filterAt = 0

  async read(): Promise<SystemMonitorData> {
    // Devices come and go (hotplugged disks, new NICs): re-check every minute.
    if (!this.filter || Date.now() - this.filterAt > 60_000) {
      this.filter = physicalDevices()
      this.filterAt = Date.now()
    }
    const filter = await this.filter
    const [statText, memText, diskText, netText] = await Promise.all([
      readFile('/proc/stat', 'utf8'),
      readFile('/proc/meminfo', 'utf8'),
      readFile('/proc/diskstats', 'utf8').catch(() => ''),
      readFile('/proc/net/dev', 'utf8').catch(() => ''),
    ])
    const at = performance.now()
    const stat = parseProcStat(statText)
    const mem = parseMemInfo(memText)
    const disks = parseDiskStats(diskText, filter.disk)
    const nets = parseNetDev(netText, filter.net)
    const prev = this.prev
    this.prev = { at, stat, disks, nets }
    const elapsed = prev ? at - prev.at : 0
    const d = counterRates(prev?.disks, disks, elapsed)
    const n = counterRates(prev?.nets, nets, elapsed)
    return {
      cpu: {
        usage: cpuPercent(prev?.stat.all, stat.all),
        cores: stat.cores.map((c, i) => cpuPercent(prev?.stat.cores[i], c)),
      },
      memory: { total: mem.total, used: mem.used, usage: mem.total ? round2((mem.used / mem.total) * 100) : 0 },
      disk: { read: d.a, write: d.b },
      network: { rx: n.a, tx: n.b },
    }
  }
}

/** systeminformation, for machines without /proc. */
export class SiReader implements HostReader {
  async read(): Promise<SystemMonitorData> {
    const si = await import('systeminformation')
    const [load, mem, fs, net] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      si.fsStats().catch(() => undefined),
      si.networkStats('*').catch(() => []),
    ])
    const nonNeg = (v: number | null | undefined) => (typeof v === 'number' && v > 0 ? Math.round(v) : 0)
    const used = Math.max(0, Math.round((mem.total - mem.available) / 1024))
    const total = Math.round(mem.total / 1024)
    return {
      cpu: { usage: round2(load.currentLoad), cores: load.cpus.map(c => round2(c.load)) },
      memory: { total, used, usage: total ? round2((used / total) * 100) : 0 },
      disk: { read: nonNeg(fs?.rx_sec), write: nonNeg(fs?.wx_sec) },
      network: {
        rx: net.filter(i => i.iface !== 'lo').reduce((s, i) => s + nonNeg(i.rx_sec), 0),
        tx: net.filter(i => i.iface !== 'lo').reduce((s, i) => s + nonNeg(i.tx_sec), 0),
      },
    }
  }
}

export function defaultReader(): HostReader {
  return existsSync('/proc/stat') ? new ProcReader() : new SiReader()
}

type Listener = (data: SystemMonitorData) => void

/** One timer for one interval, with its own reader (so its rates span exactly its interval). */
class Sampler {
  readonly listeners = new Set<Listener>()
  latest?: SystemMonitorData
  private timer?: NodeJS.Timeout
  private reading = false

  constructor(
    readonly interval: number,
    private readonly reader: HostReader,
    private readonly onError: (e: unknown) => void,
  ) {}

  start(): void {
    // A baseline now, then a first measured sample soon (not a whole 5 s later), then every interval.
    void this.tick(false)
    const first = Math.min(this.interval, 1000)
    this.timer = setTimeout(() => {
      void this.tick(true)
      this.timer = setInterval(() => void this.tick(true), this.interval)
      this.timer.unref?.()
    }, first)
    this.timer.unref?.()
  }

  stop(): void {
    clearTimeout(this.timer)
    clearInterval(this.timer)
    this.timer = undefined
  }

  private async tick(publish: boolean): Promise<void> {
    if (this.reading) return // a slow read (stalled /proc?) never piles up
    this.reading = true
    try {
      const data = await this.reader.read()
      if (!publish || !this.timer) return
      this.latest = data
      for (const l of this.listeners) l(data)
    } catch (e) {
      this.onError(e)
    } finally {
      this.reading = false
    }
  }
}

export class HostMonitor {
  private readonly samplers = new Map<number, Sampler>()

  constructor(
    private readonly makeReader: () => HostReader = defaultReader,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  /** Subscribes at the (clamped) interval; returns the interval used and an unsubscribe function. */
  subscribe(requested: number | undefined, listener: Listener): { interval: number; close: () => void } {
    const interval = clampInterval(requested)
    let s = this.samplers.get(interval)
    if (!s) {
      s = new Sampler(interval, this.makeReader(), this.onError)
      this.samplers.set(interval, s)
      s.start()
    }
    s.listeners.add(listener)
    const sampler = s
    let closed = false
    // Joining a running sampler: its latest sample at once (after the subscribe reply).
    const latest = s.latest
    if (latest) setImmediate(() => !closed && listener(latest))
    return {
      interval,
      close: () => {
        if (closed) return
        closed = true
        sampler.listeners.delete(listener)
        if (sampler.listeners.size === 0) {
          sampler.stop()
          this.samplers.delete(interval)
        }
      },
    }
  }

  /** Intervals with a running sampler (for tests and health). */
  activeIntervals(): number[] {
    return [...this.samplers.keys()].sort((a, b) => a - b)
  }

  close(): void {
    for (const s of this.samplers.values()) s.stop()
    this.samplers.clear()
  }
}
