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
