import { describe, expect, it } from 'vitest'
import { counterRates, cpuPercent, parseDiskStats, parseMemInfo, parseNetDev, parseProcStat } from './procfs.js'
import { clampInterval, HostMonitor, type HostReader } from './monitor.js'
import type { SystemMonitorData } from '../../shared/protocol.js'

const STAT1 = `cpu  100 0 100 800 0 0 0 0 0 0
cpu0 50 0 50 400 0 0 0 0 0 0
cpu1 50 0 50 400 0 0 0 0 0 0
intr 1 2 3
ctxt 99
`
const STAT2 = `cpu  250 0 150 900 100 0 0 0 40 0
cpu0 150 0 50 400 0 0 0 0 40 0
cpu1 100 0 100 500 100 0 0 0 0 0
`

describe('/proc/stat', () => {
  it('counts idle and iowait as idle, leaves guest time out of the total', () => {
    const s = parseProcStat(STAT2)
    expect(s.cores).toHaveLength(2)
    expect(s.all).toEqual({ busy: 400, total: 1400 })
  })

  it('gives percent busy per core and overall', () => {
    const a = parseProcStat(STAT1)
    const b = parseProcStat(STAT2)
    expect(cpuPercent(a.all, b.all)).toBe(50) // busy +200 of total +400
    expect(cpuPercent(a.cores[0], b.cores[0]!)).toBe(100)
    expect(cpuPercent(a.cores[1], b.cores[1]!)).toBe(33.33) // +100 busy of +300
  })

  it('never goes negative or divides by zero', () => {
    const a = parseProcStat(STAT2)
    const b = parseProcStat(STAT1)
    expect(cpuPercent(a.all, b.all)).toBe(0)
    expect(cpuPercent(a.all, a.all)).toBe(0)
    expect(cpuPercent(undefined, a.all)).toBe(0)
  })
})

describe('/proc/meminfo', () => {
  it('uses MemAvailable', () => {
    expect(parseMemInfo('MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    600 kB\n')).toEqual({
      total: 1000,
      used: 400,
    })
  })
  it('falls back to free + buffers + cached on old kernels', () => {
    expect(parseMemInfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n')).toEqual({
      total: 1000,
      used: 600,
    })
  })
})

describe('byte counters', () => {
  const disk1 = `   8       0 sda 10 0 100 0 20 0 200 0 0 0 0
   8       1 sda1 10 0 100 0 20 0 200 0 0 0 0
   7       0 loop0 1 0 8 0 0 0 0 0 0 0 0`
  const disk2 = `   8       0 sda 10 0 300 0 20 0 1200 0 0 0 0
   8       1 sda1 10 0 300 0 20 0 1200 0 0 0 0
   7       0 loop0 1 0 800 0 0 0 0 0 0 0 0`

  it('reads sectors as 512-byte units for the included disks only', () => {
    const c = parseDiskStats(disk1, n => n === 'sda')
    expect([...c.keys()]).toEqual(['sda'])
    expect(c.get('sda')).toEqual({ a: 51200, b: 102400 })
    const r = counterRates(
      c,
      parseDiskStats(disk2, n => n === 'sda'),
      2000,
    )
    expect(r).toEqual({ a: (200 * 512) / 2, b: (1000 * 512) / 2 })
  })

  const net1 = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 5000     1    0    0    0     0          0         0  5000     1    0    0    0     0       0          0
  eth0: 1000       1    0    0    0     0          0         0  2000       1    0    0    0     0       0          0
  eth1: 1000       1    0    0    0     0          0         0  2000       1    0    0    0     0       0          0`
  const net2 = net1
    .replace('eth0: 1000', 'eth0: 3000')
    .replace(
      'eth1: 1000       1    0    0    0     0          0         0  2000',
      'eth1: 10       1    0    0    0     0          0         0  2500',
    )

  it('sums rates over interfaces; a counter that went back adds 0, never a negative', () => {
    const inc = (n: string) => n !== 'lo'
    const a = parseNetDev(net1, inc)
    expect([...a.keys()]).toEqual(['eth0', 'eth1'])
    const r = counterRates(a, parseNetDev(net2, inc), 1000)
    expect(r).toEqual({ a: 2000, b: 500 })
  })

  it('has no rate without a previous reading', () => {
    expect(
      counterRates(
        undefined,
        parseNetDev(net1, () => true),
        1000,
      ),
    ).toEqual({ a: 0, b: 0 })
  })
})

describe('HostMonitor', () => {
  it('clamps intervals to [500, 60000] with 5000 as default', () => {
    expect(clampInterval(undefined)).toBe(5000)
    expect(clampInterval(1)).toBe(500)
    expect(clampInterval(10_000_000)).toBe(60_000)
    expect(clampInterval(1234)).toBe(1234)
  })

  it('shares one sampler per interval and stops it when the last subscriber leaves', async () => {
    let made = 0
    const sample: SystemMonitorData = {
      cpu: { usage: 1, cores: [1] },
      memory: { total: 1, used: 0, usage: 0 },
      disk: { read: 0, write: 0 },
      network: { rx: 0, tx: 0 },
    }
    const reader = (): HostReader => (made++, { read: async () => sample })
    const mon = new HostMonitor(reader)
    const got: number[] = []
    const a = mon.subscribe(500, () => got.push(1))
    const b = mon.subscribe(400, () => got.push(2))
    const c = mon.subscribe(700, () => got.push(3))
    expect(a.interval).toBe(500)
    expect(b.interval).toBe(500)
    expect(mon.activeIntervals()).toEqual([500, 700])
    expect(made).toBe(2)
    await new Promise(r => setTimeout(r, 650))
    expect(got).toContain(1)
    expect(got).toContain(2)
    a.close()
    b.close()
    expect(mon.activeIntervals()).toEqual([700])
    c.close()
    expect(mon.activeIntervals()).toEqual([])
    mon.close()
  })
})
