/**
 * What a VM list row shows, as display strings. A new sample whose figures
 * format the same (e.g. CPU 49.8 % → 50.1 %, both "50%") keeps the previous
 * model object, so the row does not re-render at all.
 */
import type { VmStatusData, VmStatusValue } from '../../../shared/protocol'
import { formatKiB, formatPercent, formatRate } from './format'

export interface VmRowModel {
  name: string
  status: VmStatusValue
  vcpus: number
  memorySize: string
  /** CPU and memory use as formatted for the sparklines' labels. */
  cpu: string
  mem: string
  /** Running: the figures beside the sparklines are shown (else "–"). */
  live: boolean
  rx: string
  tx: string
  rd: string
  wr: string
}

export function buildRowModel(vm: VmStatusData): VmRowModel {
  return {
    name: vm.name,
    status: vm.status,
    vcpus: vm.vcpus,
    memorySize: formatKiB(vm.memoryKiB),
    cpu: formatPercent(vm.cpu),
    mem: formatPercent(vm.memory),
    live: vm.status === 'running',
    rx: formatRate(vm.network?.rx ?? 0),
    tx: formatRate(vm.network?.tx ?? 0),
    rd: formatRate(vm.disk?.read ?? 0),
    wr: formatRate(vm.disk?.write ?? 0),
  }
}

export function sameRowModel(a: VmRowModel, b: VmRowModel): boolean {
  for (const k in a) if (a[k as keyof VmRowModel] !== b[k as keyof VmRowModel]) return false
  return true
}

const cache = new Map<string, { src: VmStatusData; model: VmRowModel }>()

/** The row model for a VM status, the previous object when nothing shown changed. */
export function rowModel(id: string, vm: VmStatusData | undefined): VmRowModel | undefined {
  const c = cache.get(id)
  if (!vm) {
    if (c) cache.delete(id)
    return undefined
  }
  if (c && c.src === vm) return c.model
  const next = buildRowModel(vm)
  if (c && sameRowModel(c.model, next)) {
    c.src = vm
    return c.model
  }
  cache.set(id, { src: vm, model: next })
  return next
}
