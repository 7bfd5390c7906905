/**
 * VM state: the latest status of every VM, a 5-minute, 1-second history per
 * VM kept in ring buffers (outside React state, so appending is free), and
 * actions in flight. Pushes are batched into one update per frame.
 */
import { create } from 'zustand'
import type { VmStatusData, VmStatusValue } from '../../../shared/protocol'
import { SeriesSet } from '../lib/ring'
import { ACTION_TARGET, type UiAction } from '../lib/permissions'
import { frameScheduler, type FlushScheduler } from './schedule'

export const HISTORY_SECONDS = 300
export const SERIES = ['cpu', 'mem', 'rx', 'tx', 'rd', 'wr'] as const
export type SeriesKey = (typeof SERIES)[number]

export interface PendingAction {
  action: UiAction
  since: number
  /** Status when the action was requested (reboot/reset keep "running"). */
  from: VmStatusValue
}

export interface VmState {
  byId: Record<string, VmStatusData>
  /** Bumped on each flush; charts redraw on it. */
  version: number
  /**
   * Bumped only when the set of VMs or a VM's name, uuid or state changes:
   * what filtering, sorting by name/state and the counts depend on.
   */
  listVersion: number
  pending: Record<string, PendingAction>
  /** True once the first status batch arrived. */
  loaded: boolean
}

const histories = new Map<string, SeriesSet<SeriesKey>>()

export function historyOf(vmId: string): SeriesSet<SeriesKey> | undefined {
  return histories.get(vmId)
}

export const useVmStore = create<VmState>(() => ({ byId: {}, version: 0, listVersion: 0, pending: {}, loaded: false }))

// Queued pushes and their times, as two arrays (no wrapper object per push).
let buffer: VmStatusData[] = []
let bufferT: number[] = []
let scheduled = false
let scheduler: FlushScheduler = frameScheduler

/** Replaces the batching scheduler (tests flush synchronously). */
export function setVmScheduler(s: FlushScheduler): void {
  scheduler = s
}

/**
 * Set by the UI benchmark (bench/ui.ts) before the app loads: marks each batch
 * for the trace, and `batch: false` turns batching off to measure the naive peer.
 */
interface PerfHook {
  batch?: boolean
}
const perf = (globalThis as { __VOIDVM_PERF__?: PerfHook }).__VOIDVM_PERF__
let lastMark = -Infinity

/** Queues a pushed status; the store updates once per frame. */
let lastStamp = ''
let lastT = 0

export function ingestVmStatus(data: VmStatusData, timestamp?: string): void {
  // A tick's pushes share their timestamp: parse it once.
  if (timestamp !== lastStamp || !timestamp) {
    const t = timestamp ? Date.parse(timestamp) / 1000 : Date.now() / 1000
    lastT = Number.isFinite(t) ? t : Date.now() / 1000
    lastStamp = timestamp ?? ''
  }
  buffer.push(data)
  bufferT.push(lastT)
  if (perf) {
    // One mark per burst of pushes (the server sends all VMs' samples together).
    const now = performance.now()
    if (now - lastMark > 300) performance.mark('voidvm:batch')
    lastMark = now
    if (perf.batch === false) return flushVmStatus()
  }
  if (!scheduled) {
    scheduled = true
    scheduler(flushVmStatus)
  }
}

export function flushVmStatus(): void {
  scheduled = false
  if (buffer.length === 0) return
  const batch = buffer
  const times = bufferT
  buffer = []
  bufferT = []
  const prev = useVmStore.getState()
  const byId = { ...prev.byId }
  let pending = prev.pending
  let listChanged = !prev.loaded
  for (let i = 0; i < batch.length; i++) {
    const data = batch[i]!
    const t = times[i]!
    const id = data.vmId
    const old = byId[id]
    if (!old || old.status !== data.status || old.name !== data.name || old.uuid !== data.uuid) listChanged = true
    byId[id] = data
    let h = histories.get(id)
    if (!h) histories.set(id, (h = new SeriesSet(SERIES, HISTORY_SECONDS)))
    // Several samples in one batch keep their own timestamps; equal ones are merged.
    if (h.time.last() !== t) {
      // Straight into the rings: no object per VM per second.
      const s = h.series
      h.time.push(t)
      s.cpu.push(data.cpu)
      s.mem.push(data.memory)
      s.rx.push(data.network?.rx ?? 0)
      s.tx.push(data.network?.tx ?? 0)
      s.rd.push(data.disk?.read ?? 0)
      s.wr.push(data.disk?.write ?? 0)
    }
    const p = pending[id]
    if (p && ACTION_TARGET[p.action].includes(data.status) && !(p.from === data.status && keepsStatus(p.action))) {
      if (pending === prev.pending) pending = { ...pending }
      delete pending[id]
    }
  }
  useVmStore.setState({
    byId,
    pending,
    version: prev.version + 1,
    listVersion: listChanged ? prev.listVersion + 1 : prev.listVersion,
    loaded: true,
  })
}

/** reboot and reset end in the state they started from: their reply ends them. */
function keepsStatus(a: UiAction): boolean {
  return a === 'reboot' || a === 'reset'
}

export function setPending(vmId: string, action: UiAction): void {
  const vm = useVmStore.getState().byId[vmId]
  useVmStore.setState(s => ({
    pending: { ...s.pending, [vmId]: { action, since: Date.now(), from: vm?.status ?? 'unknown' } },
  }))
}

export function clearPending(vmId: string): void {
  useVmStore.setState(s => {
    if (!s.pending[vmId]) return s
    const pending = { ...s.pending }
    delete pending[vmId]
    return { pending }
  })
}

export function removeVm(vmId: string): void {
  histories.delete(vmId)
  useVmStore.setState(s => {
    if (!s.byId[vmId]) return s
    const byId = { ...s.byId }
    delete byId[vmId]
    return { byId, version: s.version + 1, listVersion: s.listVersion + 1 }
  })
}

export function resetVms(): void {
  histories.clear()
  buffer = []
  bufferT = []
  useVmStore.setState(s => ({ byId: {}, version: 0, listVersion: s.listVersion + 1, pending: {}, loaded: false }))
}

export type SortKey = 'name' | 'status' | 'cpu' | 'memory' | 'network' | 'disk'

const STATUS_ORDER: Record<VmStatusValue, number> = {
  running: 0,
  stopping: 1,
  paused: 2,
  suspended: 3,
  crashed: 4,
  unknown: 5,
  stopped: 6,
}

/** Filter by name/state/uuid text ("run", "web-", a UUID prefix) and sort; pure, so tested directly. */
export function selectVmIds(
  byId: Record<string, VmStatusData>,
  filter: string,
  sort: SortKey,
  desc: boolean,
): string[] {
  const q = filter.trim().toLowerCase()
  const list = Object.values(byId).filter(
    v => !q || v.name.toLowerCase().includes(q) || v.status.startsWith(q) || v.uuid?.toLowerCase().startsWith(q),
  )
  const key = (v: VmStatusData): number | string => {
    switch (sort) {
      case 'name':
        return v.name.toLowerCase()
      case 'status':
        return STATUS_ORDER[v.status] ?? 9
      case 'cpu':
        return v.cpu
      case 'memory':
        return v.memory
      case 'network':
        return (v.network?.rx ?? 0) + (v.network?.tx ?? 0)
      case 'disk':
        return (v.disk?.read ?? 0) + (v.disk?.write ?? 0)
    }
  }
  list.sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    const c = ka < kb ? -1 : ka > kb ? 1 : a.name.localeCompare(b.name)
    return desc ? -c : c
  })
  return list.map(v => v.vmId)
}
