import { describe, expect, it } from 'vitest'
import type { VmStatusData } from '../../../shared/protocol'
import { rowModel } from './rowModel'

const vm = (over: Partial<VmStatusData> = {}): VmStatusData => ({
  vmId: 'a',
  uuid: 'u-a',
  name: 'web-1',
  status: 'running',
  cpu: 49.8,
  memory: 37.5,
  network: { rx: 1000, tx: 0 },
  disk: { read: 0, write: 2048 },
  vcpus: 2,
  memoryKiB: 262144,
  ...over,
})

describe('row model', () => {
  it('formats what the row shows', () => {
    const m = rowModel('fmt', vm({ vmId: 'fmt' }))!
    expect(m).toMatchObject({
      cpu: '50%',
      mem: '38%',
      live: true,
      rx: '1000 B/s',
      wr: '2.0 KiB/s',
      memorySize: '256 MiB',
    })
  })

  it('keeps the same object while the shown figures are the same, so the row does not re-render', () => {
    const first = rowModel('same', vm({ vmId: 'same', cpu: 49.8 }))
    const second = rowModel('same', vm({ vmId: 'same', cpu: 50.2 }))
    expect(second).toBe(first)
    const third = rowModel('same', vm({ vmId: 'same', cpu: 51 }))
    expect(third).not.toBe(first)
    expect(third?.cpu).toBe('51%')
    const paused = rowModel('same', vm({ vmId: 'same', cpu: 51, status: 'paused' }))
    expect(paused?.live).toBe(false)
  })

  it('is undefined for a VM that is gone', () => {
    rowModel('gone', vm({ vmId: 'gone' }))
    expect(rowModel('gone', undefined)).toBeUndefined()
  })
})
