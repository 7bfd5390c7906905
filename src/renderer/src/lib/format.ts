/** Human-readable figures. Rates are bytes per second; sizes are KiB as the protocol sends them. */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes(bytes: number, digits = 1): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B'
  let v = bytes
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(digits)} ${UNITS[u]}`
}

export function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`
}

export function formatKiB(kib: number): string {
  return formatBytes(kib * 1024)
}

export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return '–'
  return `${p >= 10 ? Math.round(p) : p.toFixed(1)}%`
}

export function formatTime(iso: string | number, locale?: string): string {
  const d = new Date(iso)
  return d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate()
}

/**
 * When something happened: the time for today's events, the date and time for
 * older ones (with the year when it is not this year), in the UI's locale.
 */
export function formatEventTime(iso: string | number, locale?: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return '–'
  const time = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false } as const
  if (sameDay(d, now)) return d.toLocaleTimeString(locale, time)
  const year = d.getFullYear() === now.getFullYear() ? {} : ({ year: 'numeric' } as const)
  return d.toLocaleString(locale, { ...year, month: 'short', day: 'numeric', ...time })
}

/** The smallest of 1, 2, 5 × 10^n that is at least `raw` (raw > 0). */
export function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw))
  const f = raw / p
  // The small tolerance keeps 0.3 / 0.1 = 2.9999999999999996 from becoming 5.
  const m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10
  return m * p
}

/** Digits after the point that show every multiple of `step` exactly. */
function stepDecimals(step: number): number {
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9))
}

/** Ticks 0, step, 2·step… up to the first one at or above `max`. */
function ticksTo(max: number, step: number): number[] {
  const n = Math.max(1, Math.ceil(max / step - 1e-9))
  return Array.from({ length: n + 1 }, (_, i) => i * step)
}

/**
 * Round ticks for a linear axis from `min` to `max`: about `count` steps of
 * 1, 2 or 5 × 10^n, clipped to the range (percent charts: 0, 20, … 100).
 */
export function linearTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min]
  const step = niceStep((max - min) / Math.max(1, count))
  const out: number[] = []
  const d = stepDecimals(step)
  // `|| 0` turns Math.ceil's -0 into 0; rounding keeps 3 × 0.1 at 0.3.
  for (let i = Math.ceil(min / step - 1e-9) || 0; i * step <= max + step * 1e-9; i++)
    out.push(Number((i * step).toFixed(d)))
  return out
}

/** Percent tick labels, all with the digits the step needs ("0%", "20%"… or "0.5%", "1.0%"…). */
export function formatPercentTicks(ticks: readonly number[]): string[] {
  const step = ticks.length > 1 ? Math.abs((ticks[1] ?? 0) - (ticks[0] ?? 0)) : 1
  const d = stepDecimals(step)
  return ticks.map(v => `${v.toFixed(d)}%`)
}

/** The binary unit (index into B, KiB, MiB…) that the largest tick is shown in. */
function byteUnit(top: number): number {
  let u = 0
  while (u < UNITS.length - 1 && top >= 1024 ** (u + 1)) u++
  return u
}

/**
 * Round ticks for a byte-rate axis from 0: steps of 1, 2 or 5 × 10^n in one
 * binary unit (e.g. 0, 200, 400… KiB/s or 0, 0.5, 1.0, 1.5 MiB/s), about
 * `count` of them, the last one at or above `max` so the axis top is labelled.
 */
export function byteRateTicks(max: number, count: number): number[] {
  const top = Number.isFinite(max) && max > 0 ? max : 1
  let u = byteUnit(top)
  for (;;) {
    const scale = 1024 ** u
    const step = niceStep(top / scale / Math.max(1, count))
    const ticks = ticksTo(top / scale, step)
    // 1000 KiB would read better as 1 MiB: move up a unit when the top tick reaches 1024.
    if ((ticks[ticks.length - 1] ?? 0) >= 1024 && u < UNITS.length - 1) {
      u++
      continue
    }
    // Rounded in the unit, so 0.1 × 3 does not print as 0.30000000000000004.
    const d = stepDecimals(step)
    return ticks.map(t => Number(t.toFixed(d)) * scale)
  }
}

/** Byte-rate tick labels in one unit with one precision, e.g. "0.0 MiB/s", "0.5 MiB/s", "1.0 MiB/s". */
export function formatByteRateTicks(ticks: readonly number[]): string[] {
  const top = Math.max(0, ...ticks)
  const scale = 1024 ** byteUnit(top)
  const step = ticks.length > 1 ? Math.abs((ticks[1] ?? 0) - (ticks[0] ?? 0)) / scale : 1
  const d = stepDecimals(step)
  const unit = UNITS[byteUnit(top)] ?? 'B'
  return ticks.map(v => `${(v / scale).toFixed(d)} ${unit}/s`)
}
