/** The host monitor: the latest system-monitor sample and its history. */
import { create } from 'zustand'
import type { SystemMonitorData } from '../../../shared/protocol'
import { SeriesSet } from '../lib/ring'

export const HOST_SERIES = ['cpu', 'mem', 'rd', 'wr', 'rx', 'tx'] as const
export type HostSeriesKey = (typeof HOST_SERIES)[number]

export interface HostState {
  latest: SystemMonitorData | null
  intervalMs: number
  version: number
}

const history = new SeriesSet(HOST_SERIES, 600)
export const hostHistory = (): SeriesSet<HostSeriesKey> => history

export const useHostStore = create<HostState>(() => ({ latest: null, intervalMs: 2000, version: 0 }))

export function ingestHost(data: SystemMonitorData, timestamp?: string): void {
  const t = timestamp ? Date.parse(timestamp) / 1000 : Date.now() / 1000
  history.push(Number.isFinite(t) ? t : Date.now() / 1000, {
    cpu: data.cpu.usage,
    mem: data.memory.usage,
    rd: data.disk.read,
    wr: data.disk.write,
    rx: data.network.rx,
    tx: data.network.tx,
  })
  useHostStore.setState(s => ({ latest: data, version: s.version + 1 }))
}

export function setHostInterval(ms: number): void {
  useHostStore.setState({ intervalMs: ms })
}
