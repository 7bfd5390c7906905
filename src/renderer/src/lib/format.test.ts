import { describe, expect, it } from 'vitest'
import {
  byteRateTicks,
  formatByteRateTicks,
  formatEventTime,
  formatPercentTicks,
  linearTicks,
  niceStep,
} from './format'

const KiB = 1024
const MiB = 1024 * 1024

describe('event times', () => {
  // Local-time constructors, so the checks hold in any time zone.
  const now = new Date(2026, 10, 26, 15, 30, 0)

  it("shows only the time for today's events", () => {
    expect(formatEventTime(new Date(2026, 10, 26, 9, 5, 3).toISOString(), 'en', now)).toBe('09:05:03')
    expect(formatEventTime(new Date(2026, 10, 26, 0, 0, 1).getTime(), 'zh-CN', now)).toBe('00:00:01')
  })

  it('adds the date, in the UI language, for older events', () => {
    const yesterday = new Date(2026, 10, 25, 23, 59, 58).toISOString()
    expect(formatEventTime(yesterday, 'en', now)).toBe('Nov 25, 23:59:58')
    expect(formatEventTime(yesterday, 'zh-CN', now)).toBe('11月25日 23:59:58')
  })

  it('adds the year for events from another year', () => {
    const old = new Date(2025, 11, 31, 8, 0, 0).toISOString()
    expect(formatEventTime(old, 'en', now)).toBe('Dec 31, 2025, 08:00:00')
    expect(formatEventTime(old, 'zh-CN', now)).toBe('2025年12月31日 08:00:00')
  })

  it('says nothing misleading for a broken timestamp', () => {
    expect(formatEventTime('not a date', 'en', now)).toBe('–')
  })
})

describe('axis ticks', () => {
  it('picks steps of 1, 2 or 5 × 10^n', () => {
    expect([0.3, 1, 1.5, 2, 3, 7, 25, 0.021].map(niceStep)).toEqual([0.5, 1, 2, 2, 5, 10, 50, 0.05])
  })

  it('ticks a percent axis in round steps with one precision', () => {
    const t = linearTicks(0, 100, 5)
    expect(t).toEqual([0, 20, 40, 60, 80, 100])
    expect(formatPercentTicks(t)).toEqual(['0%', '20%', '40%', '60%', '80%', '100%'])
    // Not "0.0%" next to "50%": every label has the digits the step needs.
    expect(formatPercentTicks(linearTicks(0, 100, 2))).toEqual(['0%', '50%', '100%'])
    expect(formatPercentTicks(linearTicks(0, 2, 4))).toEqual(['0.0%', '0.5%', '1.0%', '1.5%', '2.0%'])
  })

  it('ticks byte rates in round steps of one binary unit, never 977 KiB/s', () => {
    // A decimal axis would put a tick at 1 000 000 B/s = 977 KiB/s.
    const t = byteRateTicks(1_000_000, 4)
    expect(t).toEqual([0, 500 * KiB, 1000 * KiB])
    expect(formatByteRateTicks(t)).toEqual(['0 KiB/s', '500 KiB/s', '1000 KiB/s'])
    const m = byteRateTicks(1.3 * MiB, 4)
    expect(m).toEqual([0, 0.5 * MiB, 1 * MiB, 1.5 * MiB])
    expect(formatByteRateTicks(m)).toEqual(['0.0 MiB/s', '0.5 MiB/s', '1.0 MiB/s', '1.5 MiB/s'])
  })

  it('moves up a unit instead of a 1500 KiB/s top tick', () => {
    const t = byteRateTicks(1020 * KiB, 4)
    expect(t[t.length - 1]).toBe(1 * MiB)
    expect(formatByteRateTicks(t)).toEqual(['0.0 MiB/s', '0.5 MiB/s', '1.0 MiB/s'])
  })

  it('reaches the maximum with its last tick and keeps every label round', () => {
    for (const max of [1024, 3000, 47_000, 800 * KiB, 3.7 * MiB, 260 * MiB, 5.5 * 1024 * MiB]) {
      const t = byteRateTicks(max, 5)
      expect(t[0]).toBe(0)
      expect(t[t.length - 1]).toBeGreaterThanOrEqual(max)
      expect(t.length).toBeLessThanOrEqual(11)
      const labels = formatByteRateTicks(t)
      const units = new Set(labels.map(l => l.split(' ')[1]))
      expect(units.size).toBe(1)
      // Mantissas of 1, 2 or 5: each label is a multiple of the step written with the step's digits.
      const step = Number(labels[1]?.split(' ')[0])
      expect([1, 2, 5]).toContain(Number((step / 10 ** Math.floor(Math.log10(step))).toFixed(6)))
    }
  })

  it('labels an idle chart (minimum top of 1 KiB/s) without fractions of a byte', () => {
    expect(formatByteRateTicks(byteRateTicks(1024, 4))).toEqual(['0.0 KiB/s', '0.5 KiB/s', '1.0 KiB/s'])
  })
})
