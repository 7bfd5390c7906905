/**
 * The server side of `npm run bench -- status`, run as a child process so
 * its CPU time is measured apart from the bench's 1,000 client sockets.
 *
 *   voidvm: the VoidVM server with the hypervisor bridge (auth, grants,
 *           latest-wins pushes, one stats call per tick).
 *   peer:   the floor for the same fan-out: a bare `ws` server that makes the
 *           same one stats call per second, serialises each VM's status once
 *           and sends that same frame to every socket (no auth, no grants, no
 *           per-socket work beyond ws.send).
 *
 * Talks to the parent over IPC: sends {ready, wsUrl, token}; on
 * {measure: K} it marks the start just after a tick's work, waits K ticks,
 * marks the end the same way, and reports the CPU time spent in between, so
 * every window holds exactly K ticks of work.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocketServer } from 'ws'
import { startServer } from '../src/main/server/index.js'
import { createHypervisorBridge } from '../src/main/hypervisor/index.js'
import { LibvirtClient } from '../src/main/libvirt/index.js'
import { computeRates, sampleFromParams, statusOf, type DomainSample } from '../src/main/hypervisor/status.js'

const [mode, uri] = process.argv.slice(2) as ['voidvm' | 'peer', string]
const send = (m: object) => process.send?.(m)

/** Called after each sampling tick's pushes were handed to the sockets. */
const tickListeners = new Set<() => void>()
const ticked = () => tickListeners.forEach(cb => cb())

async function voidvm(): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'voidvm-bench-status-'))
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    rendererDir: null,
    logLevel: 'error',
    // Every bench socket comes from 127.0.0.1: lift the per-address cap (default 64) for this measurement.
    limits: { maxConnectionsPerAddress: 0 },
    bridges: async ctx => {
      const hv = await createHypervisorBridge(ctx, { uri })
      hv.service.onTick(ticked)
      return [hv.bridge]
    },
  })
  await server.users.add('bench', 'viewer', 'bench-password-123', ['*'])
  const token = await server.issueToken('bench')
  send({ ready: true, wsUrl: server.wsUrl, token })
  return async () => {
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

async function peer(): Promise<() => Promise<void>> {
  const lv = await LibvirtClient.connect(uri)
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>(ok => wss.once('listening', () => ok()))
  const prev = new Map<string, DomainSample>()
  const timer = setInterval(() => {
    if (wss.clients.size === 0) return
    void lv.getAllDomainStats().then(records => {
      const at = performance.now()
      const frames: string[] = []
      for (const r of records) {
        const s = sampleFromParams(r.params, at)
        const rates = computeRates(prev.get(r.domain.name), s, { vcpus: s.vcpus ?? 1 })
        prev.set(r.domain.name, s)
        const data = {
          vmId: r.domain.name,
          uuid: r.domain.uuid,
          name: r.domain.name,
          status: statusOf(s.state),
          ...rates,
          vcpus: s.vcpus ?? 1,
          memoryKiB: s.balloonCurrent ?? 0,
        }
        frames.push(JSON.stringify({ type: 'vm-status', data, timestamp: new Date().toISOString() }))
      }
      for (const ws of wss.clients) for (const f of frames) ws.send(f)
      ticked()
    })
  }, 1000)
  const addr = wss.address() as { port: number }
  send({ ready: true, wsUrl: `ws://127.0.0.1:${addr.port}/ws`, token: 'none' })
  return async () => {
    clearInterval(timer)
    for (const ws of wss.clients) ws.terminate()
    await new Promise<void>(ok => wss.close(() => ok()))
    await lv.close()
  }
}

const stop = await (mode === 'peer' ? peer() : voidvm())
const nextTick = () =>
  new Promise<void>(ok => {
    const cb = () => (tickListeners.delete(cb), ok())
    tickListeners.add(cb)
  })
/** Write syscalls so far (Linux /proc/self/io), to compare how the two servers batch their writes. */
function syscw(): number {
  try {
    return Number(/^syscw:\s+(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN)
  } catch {
    return NaN
  }
}
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/**
 * K whole ticks: starts and ends 500 ms after a tick; CPU time and wall time
 * are also taken at every tick boundary in between, for per-tick figures.
 */
async function measureTicks(k: number): Promise<void> {
  await nextTick()
  await sleep(500)
  const io0 = syscw()
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  send({ mark: 'start' })
  const perTick: { cpuMs: number; wallMs: number }[] = []
  let last = { c: c0, t: t0 }
  for (let i = 0; i < k; i++) {
    await nextTick()
    const c = process.cpuUsage()
    const t = performance.now()
    if (i > 0) perTick.push({ cpuMs: (c.user - last.c.user + c.system - last.c.system) / 1000, wallMs: t - last.t })
    last = { c, t }
  }
  await sleep(500)
  const c = process.cpuUsage(c0)
  send({
    mark: 'end',
    cpuMs: (c.user + c.system) / 1000,
    userMs: c.user / 1000,
    wallMs: performance.now() - t0,
    ticks: k,
    perTick,
    writeSyscalls: syscw() - io0,
  })
}

process.on('message', (m: unknown) => {
  if (typeof m === 'object' && m !== null && 'measure' in m) void measureTicks(Number(m.measure))
  if (m === 'stop') void stop().finally(() => process.exit(0))
})
process.on('disconnect', () => void stop().finally(() => process.exit(0)))
