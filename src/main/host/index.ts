/**
 * The host-monitor bridge: the `system-monitor` topic (host CPU per core,
 * memory, disk and network rates), sampled by HostMonitor.
 */
import type { Bridge, BridgeContext, TopicProvider } from '../server/bridge.js'
import { HostMonitor } from './monitor.js'

export { HostMonitor, clampInterval, ProcReader, SiReader } from './monitor.js'

export function createHostMonitorBridge(ctx: BridgeContext, monitor?: HostMonitor): Bridge {
  const mon =
    monitor ?? new HostMonitor(undefined, e => ctx.log.warn('host monitor: sampling failed', { error: String(e) }))
  const topic: TopicProvider = {
    topic: 'system-monitor',
    permission: 'view',
    subscribe(data, hctx) {
      const conn = hctx.conn
      const sub = mon.subscribe(data.interval, sample =>
        conn.pushLatest(`system-monitor:${data.interval ?? ''}`, 'system-monitor', sample),
      )
      return { response: { topic: 'system-monitor', interval: sub.interval }, close: sub.close }
    },
  }
  return {
    name: 'host',
    topics: [topic],
    close: () => mon.close(),
  }
}
