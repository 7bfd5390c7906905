import { describe, expect, it } from 'vitest'
import { computeRates, cpuPercent, memoryPercent, sampleFromParams, statusOf, type ParamValue } from './status.js'

const sample = (at: number, p: Record<string, ParamValue>) => sampleFromParams(p, at)

describe('VM status math', () => {
  it('cpu% = cpu.time delta / (elapsed × vCPUs)', () => {
    const a = sample(0, { 'state.state': 1, 'cpu.time': 1_000_000_000n })
    // 2 s later, 1 s more CPU time over 2 vCPUs = 25 %
    const b = sample(2000, { 'state.state': 1, 'cpu.time': 2_000_000_000n })
    expect(cpuPercent(a, b, 2)).toBe(25)
    expect(cpuPercent(a, b, 1)).toBe(50)
  })

  it('cpu% is 0 without a previous sample and when the counter went back (VM restarted)', () => {
    const a = sample(0, { 'state.state': 1, 'cpu.time': 9_000_000_000n })
    const b = sample(1000, { 'state.state': 1, 'cpu.time': 100_000_000n })
    expect(cpuPercent(undefined, b, 1)).toBe(0)
    expect(cpuPercent(a, b, 1)).toBe(0)
  })

  it('cpu% never exceeds 100', () => {
    const a = sample(0, { 'cpu.time': 0n })
    const b = sample(1000, { 'cpu.time': 5_000_000_000n })
    expect(cpuPercent(a, b, 1)).toBe(100)
  })

  it('memory% uses the balloon (available − unused) / available', () => {
    const s = sample(0, {
      'balloon.current': 1048576,
      'balloon.maximum': 1048576,
      'balloon.available': 1000000,
      'balloon.unused': 750000,
    })
    expect(memoryPercent(s)).toBe(25)
  })

  it('memory% falls back to current/maximum when the guest reports no balloon stats', () => {
    const s = sample(0, { 'balloon.current': 524288, 'balloon.maximum': 1048576 })
    expect(memoryPercent(s)).toBe(50)
    expect(memoryPercent(sample(0, { 'balloon.current': 262144 }), 1048576)).toBe(25)
    expect(memoryPercent(sample(0, {}))).toBe(0)
  })

  it('sums byte rates over all interfaces and disks', () => {
    const a = sample(0, {
      'state.state': 1,
      'net.count': 2,
      'net.0.name': 'vnet0',
      'net.0.rx.bytes': 1000,
      'net.0.tx.bytes': 0,
      'net.1.name': 'vnet1',
      'net.1.rx.bytes': 0,
      'net.1.tx.bytes': 500,
      'block.count': 2,
      'block.0.name': 'vda',
      'block.0.rd.bytes': 0,
      'block.0.wr.bytes': 0,
      'block.1.name': 'vdb',
      'block.1.rd.bytes': 4096,
      'block.1.wr.bytes': 4096,
    })
    const b = sample(2000, {
      'state.state': 1,
      'net.count': 2,
      'net.0.name': 'vnet0',
      'net.0.rx.bytes': 3000,
      'net.0.tx.bytes': 1000,
      'net.1.name': 'vnet1',
      'net.1.rx.bytes': 2000,
      'net.1.tx.bytes': 1500,
      'block.count': 2,
      'block.0.name': 'vda',
      'block.0.rd.bytes': 8192,
      'block.0.wr.bytes': 2048,
      'block.1.name': 'vdb',
      'block.1.rd.bytes': 4096,
      'block.1.wr.bytes': 8192,
    })
    const r = computeRates(a, b, { vcpus: 1 })
    expect(r.network).toEqual({ rx: 2000, tx: 1000 })
    expect(r.disk).toEqual({ read: 4096, write: 3072 })
  })

  it('a counter that goes backwards resets the rate, never a negative', () => {
    const a = sample(0, {
      'state.state': 1,
      'net.count': 2,
      'net.0.name': 'vnet0',
      'net.0.rx.bytes': 5000,
      'net.0.tx.bytes': 5000,
      'net.1.name': 'vnet1',
      'net.1.rx.bytes': 0,
      'net.1.tx.bytes': 0,
    })
    const b = sample(1000, {
      'state.state': 1,
      'net.count': 2,
      'net.0.name': 'vnet0',
      'net.0.rx.bytes': 10,
      'net.0.tx.bytes': 10,
      'net.1.name': 'vnet1',
      'net.1.rx.bytes': 100,
      'net.1.tx.bytes': 0,
    })
    expect(computeRates(a, b, { vcpus: 1 }).network).toEqual({ rx: 100, tx: 0 })
  })

  it('a VM whose cpu.time went back (restarted) gets no rates from the old sample', () => {
    const a = sample(0, {
      'state.state': 1,
      'cpu.time': 50_000_000_000n,
      'block.count': 1,
      'block.0.name': 'vda',
      'block.0.rd.bytes': 1,
      'block.0.wr.bytes': 1,
    })
    const b = sample(1000, {
      'state.state': 1,
      'cpu.time': 1_000_000n,
      'block.count': 1,
      'block.0.name': 'vda',
      'block.0.rd.bytes': 999999,
      'block.0.wr.bytes': 999999,
    })
    const r = computeRates(a, b, { vcpus: 1 })
    expect(r.cpu).toBe(0)
    expect(r.disk).toEqual({ read: 0, write: 0 })
  })

  it('a stopped VM has all-zero figures', () => {
    const a = sample(0, { 'state.state': 1, 'cpu.time': 0n })
    const b = sample(1000, { 'state.state': 5, 'balloon.current': 1, 'balloon.maximum': 2 })
    expect(computeRates(a, b, { vcpus: 1 })).toEqual({
      cpu: 0,
      memory: 0,
      network: { rx: 0, tx: 0 },
      disk: { read: 0, write: 0 },
    })
  })

  it('maps libvirt states to status values', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 99].map(statusOf)).toEqual([
      'unknown',
      'running',
      'running',
      'paused',
      'stopping',
      'stopped',
      'crashed',
      'suspended',
      'unknown',
    ])
  })
})
