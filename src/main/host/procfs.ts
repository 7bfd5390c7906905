/**
 * Host counters read straight from Linux's /proc (and /sys for device kinds).
 *
 * Why /proc and not `systeminformation`: the hypervisor hosts VoidVM serves are
 * Linux, and /proc/stat, /proc/meminfo, /proc/diskstats and /proc/net/dev give
 * exact cumulative counters for the cost of four small file reads per tick.
 * systeminformation reads the same files on Linux but adds its own caching
 * and per-call overhead (and for some figures spawns processes), and its rates
 * are computed against its own hidden previous call, which breaks when two
 * samplers with different intervals run at once. Where /proc is missing (a
 * non-Linux machine running the server) host.ts falls back to systeminformation.
 *
 * The parsers here are pure (text in, numbers out) so they are unit-tested
 * with fixed inputs; the rate math is pure too.
 */

/** One CPU line of /proc/stat, in USER_HZ ticks. */
export interface CpuTimes {
  busy: number
  total: number
}

export interface ProcStat {
  all: CpuTimes
  cores: CpuTimes[]
}

/** Parses /proc/stat's `cpu` and `cpuN` lines. */
export function parseProcStat(text: string): ProcStat {
  let all: CpuTimes | undefined
  const cores: CpuTimes[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue
    const parts = line.trim().split(/\s+/)
    const label = parts[0] ?? ''
    // user nice system idle iowait irq softirq steal guest guest_nice
    const v = parts.slice(1, 11).map(Number)
    const f = (i: number) => (Number.isFinite(v[i]) ? (v[i] as number) : 0)
    // guest and guest_nice are already counted in user and nice: leave them out of the total.
    const total = f(0) + f(1) + f(2) + f(3) + f(4) + f(5) + f(6) + f(7)
    const idle = f(3) + f(4)
    const times = { busy: total - idle, total }
    if (label === 'cpu') all = times
    else if (/^cpu\d+$/.test(label)) cores[Number(label.slice(3))] = times
  }
  // A CPU taken offline has no line: keep its slot so indexes stay stable.
  for (let i = 0; i < cores.length; i++) cores[i] ??= { busy: 0, total: 0 }
  return { all: all ?? { busy: 0, total: 0 }, cores }
}

/** Percent busy between two readings; 0 when nothing elapsed or counters went back. */
export function cpuPercent(prev: CpuTimes | undefined, cur: CpuTimes): number {
  if (!prev) return 0
  const dTotal = cur.total - prev.total
  const dBusy = cur.busy - prev.busy
  if (dTotal <= 0 || dBusy < 0) return 0
  return round2(Math.min(100, (dBusy / dTotal) * 100))
}

export interface MemInfo {
  /** KiB */
  total: number
  /** KiB: total − available (what applications hold, cache excluded). */
  used: number
}

/** Parses /proc/meminfo (values are in kB, which the kernel means as KiB). */
export function parseMemInfo(text: string): MemInfo {
  const get = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)
    return m ? Number(m[1]) : undefined
  }
  const total = get('MemTotal') ?? 0
  // MemAvailable exists since Linux 3.14; older kernels: free + buffers + cached.
  const available = get('MemAvailable') ?? (get('MemFree') ?? 0) + (get('Buffers') ?? 0) + (get('Cached') ?? 0)
  return { total, used: Math.max(0, total - available) }
}

/** Cumulative byte counters per device. */
export type Counters = Map<string, { a: number; b: number }>

/**
 * Parses /proc/diskstats into read/write bytes per device (`a` = read,
 * `b` = written). Sector counts there are always in 512-byte units.
 */
export function parseDiskStats(text: string, include: (name: string) => boolean): Counters {
  const out: Counters = new Map()
  for (const line of text.split('\n')) {
    const p = line.trim().split(/\s+/)
    if (p.length < 10) continue
    const name = p[2] as string
    if (!include(name)) continue
    out.set(name, { a: Number(p[5]) * 512, b: Number(p[9]) * 512 })
  }
  return out
}

/** Parses /proc/net/dev into rx/tx bytes per interface (`a` = rx, `b` = tx). */
export function parseNetDev(text: string, include: (name: string) => boolean): Counters {
  const out: Counters = new Map()
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':')
    if (colon < 0) continue
    const name = line.slice(0, colon).trim()
    if (!name || name.includes('|') || !include(name)) continue
    const p = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
    if (p.length < 9) continue
    out.set(name, { a: Number(p[0]), b: Number(p[8]) })
  }
  return out
}

/**
 * Bytes per second over all devices between two readings. Each device's
 * delta is taken on its own; a counter that went backwards (device re-created,
 * counter wrapped) contributes 0 for that interval, never a negative rate.
 */
export function counterRates(prev: Counters | undefined, cur: Counters, elapsedMs: number): { a: number; b: number } {
  if (!prev || elapsedMs <= 0) return { a: 0, b: 0 }
  let a = 0
  let b = 0
  for (const [name, c] of cur) {
    const p = prev.get(name)
    if (!p) continue
    if (c.a >= p.a) a += c.a - p.a
    if (c.b >= p.b) b += c.b - p.b
  }
  const s = elapsedMs / 1000
  return { a: Math.round(a / s), b: Math.round(b / s) }
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100
}
