import { beforeEach, describe, expect, it } from 'vitest'
import type { VmStatusData, VmStatusValue } from '../../../shared/protocol'
import {
  clearPending,
  flushVmStatus,
  historyOf,
  HISTORY_SECONDS,
  ingestVmStatus,
  removeVm,
  resetVms,
  selectVmIds,
  setPending,
  setVmScheduler,
  useVmStore,
} from './vms'

const vm = (
  name: string,
  status: VmStatusValue = 'running',
  cpu = 10,
  extra: Partial<VmStatusData> = {},
): VmStatusData => ({
  vmId: name,
  uuid: `uuid-${name}`,
  name,
  status,
  cpu,
  memory: 50,
  network: { rx: 100, tx: 200 },
  disk: { read: 1000, write: 2000 },
  vcpus: 2,
  memoryKiB: 1048576,
  ...extra,
})

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString()

let scheduled = 0
beforeEach(() => {
  resetVms()
  scheduled = 0
  // Count flush requests instead of waiting for frames.
  setVmScheduler(() => {
    scheduled++
  })
})

describe('vm store batching', () => {
  it('coalesces a burst of pushes into one scheduled flush and one store update', () => {
    let updates = 0
    const unsub = useVmStore.subscribe(() => updates++)
    for (let i = 0; i < 200; i++) ingestVmStatus(vm(`vm-${i}`), at(1))
    expect(scheduled).toBe(1)
    expect(updates).toBe(0)
    flushVmStatus()
    expect(updates).toBe(1)
    expect(Object.keys(useVmStore.getState().byId)).toHaveLength(200)
    expect(useVmStore.getState().loaded).toBe(true)
    // The next burst schedules again.
    ingestVmStatus(vm('vm-0', 'paused'), at(2))
    expect(scheduled).toBe(2)
    unsub()
  })

  it('keeps an unchanged VM object identity for rows that did not get a sample', () => {
    ingestVmStatus(vm('a'), at(1))
    ingestVmStatus(vm('b'), at(1))
    flushVmStatus()
    const before = useVmStore.getState().byId
    ingestVmStatus(vm('a', 'running', 20), at(2))
    flushVmStatus()
    const after = useVmStore.getState().byId
    expect(after.b).toBe(before.b)
    expect(after.a).not.toBe(before.a)
  })

  it('records 1 s history per VM and caps it at 5 minutes', () => {
    for (let s = 0; s < HISTORY_SECONDS + 20; s++) {
      ingestVmStatus(vm('a', 'running', s % 100), at(s))
      flushVmStatus()
    }
    const h = historyOf('a')!
    expect(h.length).toBe(HISTORY_SECONDS)
    expect(h.series.cpu.last()).toBe((HISTORY_SECONDS + 19) % 100)
    expect(h.time.toArray()[0]).toBe(Date.parse(at(20)) / 1000)
    expect(h.series.rx.last()).toBe(100)
    expect(h.series.wr.last()).toBe(2000)
  })

  it('bumps listVersion only when the VM set or a state changes, not for new figures', () => {
    ingestVmStatus(vm('a'), at(1))
    flushVmStatus()
    const v1 = useVmStore.getState().listVersion
    ingestVmStatus(vm('a', 'running', 55), at(2))
    flushVmStatus()
    expect(useVmStore.getState().listVersion).toBe(v1)
    ingestVmStatus(vm('a', 'paused', 55), at(3))
    flushVmStatus()
    const v2 = useVmStore.getState().listVersion
    expect(v2).toBeGreaterThan(v1)
    ingestVmStatus(vm('b'), at(3))
    flushVmStatus()
    expect(useVmStore.getState().listVersion).toBeGreaterThan(v2)
  })

  it('drops a deleted VM and its history', () => {
    ingestVmStatus(vm('gone'), at(1))
    flushVmStatus()
    removeVm('gone')
    expect(useVmStore.getState().byId.gone).toBeUndefined()
    expect(historyOf('gone')).toBeUndefined()
  })
})

describe('pending actions', () => {
  it('stays pending until the VM reaches the target state', () => {
    ingestVmStatus(vm('a', 'stopped'), at(1))
    flushVmStatus()
    setPending('a', 'start')
    ingestVmStatus(vm('a', 'stopped'), at(2))
    flushVmStatus()
    expect(useVmStore.getState().pending.a?.action).toBe('start')
    ingestVmStatus(vm('a', 'running'), at(3))
    flushVmStatus()
    expect(useVmStore.getState().pending.a).toBeUndefined()
  })

  it('a reboot of a running VM is not ended by the VM still running', () => {
    ingestVmStatus(vm('a', 'running'), at(1))
    flushVmStatus()
    setPending('a', 'reboot')
    ingestVmStatus(vm('a', 'running'), at(2))
    flushVmStatus()
    expect(useVmStore.getState().pending.a?.action).toBe('reboot')
    clearPending('a')
    expect(useVmStore.getState().pending.a).toBeUndefined()
  })

  it('shutdown ends at stopped', () => {
    ingestVmStatus(vm('a', 'running'), at(1))
    flushVmStatus()
    setPending('a', 'shutdown')
    ingestVmStatus(vm('a', 'stopping'), at(2))
    flushVmStatus()
    expect(useVmStore.getState().pending.a).toBeDefined()
    ingestVmStatus(vm('a', 'stopped'), at(3))
    flushVmStatus()
    expect(useVmStore.getState().pending.a).toBeUndefined()
  })
})

describe('selectVmIds', () => {
  const byId = Object.fromEntries(
    [
      vm('web-2', 'running', 80, { memory: 10 }),
      vm('db', 'stopped', 0),
      vm('web-1', 'paused', 5, { memory: 90 }),
      vm('cache', 'running', 40, { network: { rx: 1e6, tx: 0 } }),
    ].map(v => [v.vmId, v]),
  )

  it('sorts by name, state and live figures', () => {
    expect(selectVmIds(byId, '', 'name', false)).toEqual(['cache', 'db', 'web-1', 'web-2'])
    expect(selectVmIds(byId, '', 'name', true)).toEqual(['web-2', 'web-1', 'db', 'cache'])
    expect(selectVmIds(byId, '', 'status', false)).toEqual(['cache', 'web-2', 'web-1', 'db'])
    expect(selectVmIds(byId, '', 'cpu', true)).toEqual(['web-2', 'cache', 'web-1', 'db'])
    expect(selectVmIds(byId, '', 'memory', true)[0]).toBe('web-1')
    expect(selectVmIds(byId, '', 'network', true)[0]).toBe('cache')
  })

  it('filters by name, state prefix or UUID prefix, ignoring case', () => {
    expect(selectVmIds(byId, 'WEB', 'name', false)).toEqual(['web-1', 'web-2'])
    expect(selectVmIds(byId, 'run', 'name', false)).toEqual(['cache', 'web-2'])
    expect(selectVmIds(byId, 'uuid-d', 'name', false)).toEqual(['db'])
    expect(selectVmIds(byId, 'nothing', 'name', false)).toEqual([])
  })
})

describe('list windowing', () => {
  it('renders only the rows in view plus a small overscan', async () => {
    const { visibleRange, ROW_HEIGHT } = await import('../views/VmList')
    expect(visibleRange(200, 0, 10 * ROW_HEIGHT)).toEqual([0, 13])
    expect(visibleRange(200, 100 * ROW_HEIGHT, 10 * ROW_HEIGHT)).toEqual([97, 113])
    expect(visibleRange(200, 195 * ROW_HEIGHT, 10 * ROW_HEIGHT)).toEqual([192, 200])
    expect(visibleRange(3, 0, 900)).toEqual([0, 3])
    expect(visibleRange(0, 0, 900)).toEqual([0, 0])
  })
})
