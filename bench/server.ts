/**
 * `npm run bench -- server [--sockets 1000] [--rounds 3] [--seconds 4]`
 *
 * The VoidVM server core against a bare `ws` echo server (the peer), side by
 * side in alternating rounds, each in its own child process:
 *  - idle cost: RSS growth of the server process per 1,000 open, authenticated,
 *    idle sockets (after a forced GC);
 *  - throughput: requests/s with every socket keeping one request in flight
 *    (VoidVM: an `unsubscribe`, parsed, validated, authorised and answered;
 *    echo: the same frame echoed back).
 * Ends with `RESULT server-idle-rss-per-1000-sockets-mib <median>`.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket, { WebSocketServer } from 'ws'

type Kind = 'voidvm' | 'ws-echo'

interface ChildReady {
  ready: true
  url: string
}

// ------------------------------------------------------------------ child side

async function runChild(kind: Kind): Promise<void> {
  const send = (m: object) => process.send?.(m)
  let url: string
  let cleanup: () => Promise<void>
  if (kind === 'voidvm') {
    const { startServer } = await import('../src/main/server/index.js')
    const dataDir = await mkdtemp(join(tmpdir(), 'voidvm-bench-'))
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      dataDir,
      bridges: [],
      logLevel: 'error',
      // Every bench socket comes from 127.0.0.1: lift the per-address cap (default 64) for this measurement.
      limits: { maxConnectionsPerAddress: 0 },
    })
    await server.users.add('bench', 'viewer', 'bench-password', ['*'])
    const token = await server.issueToken('bench', '1h')
    url = `${server.wsUrl}?token=${token}`
    cleanup = async () => {
      await server.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  } else {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
    wss.on('connection', ws => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
    await new Promise<void>(ok => wss.once('listening', () => ok()))
    const addr = wss.address() as { port: number }
    url = `ws://127.0.0.1:${addr.port}/ws`
    cleanup = () => new Promise<void>(ok => wss.close(() => ok()))
  }
  const gc = (globalThis as { gc?: () => void }).gc
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'rss') {
      // Two passes: the first may only queue finalizers.
      gc?.()
      gc?.()
      setTimeout(() => send({ rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed }), 100)
    } else if (m.cmd === 'exit') {
      void cleanup().then(() => process.exit(0))
    }
  })
  const ready: ChildReady = { ready: true, url }
  send(ready)
}

// ------------------------------------------------------------------ parent side

function startChild(kind: Kind): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', kind], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((ok, fail) => {
    child.once('message', m => ok({ child, url: (m as ChildReady).url }))
    child.once('exit', code => fail(new Error(`${kind} child exited with ${code}`)))
  })
}

function rssOf(child: ChildProcess): Promise<{ rss: number; heap: number }> {
  return new Promise(ok => {
    child.once('message', m => ok(m as { rss: number; heap: number }))
    child.send({ cmd: 'rss' })
  })
}

async function openSockets(url: string, n: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  // In batches, so the accept queue is never the bottleneck being measured.
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from(
      { length: Math.min(100, n - i) },
      () =>
        new Promise<WebSocket>((ok, fail) => {
          const ws = new WebSocket(url, { perMessageDeflate: false })
          ws.once('open', () => ok(ws))
          ws.once('error', fail)
        }),
    )
    sockets.push(...(await Promise.all(batch)))
  }
  return sockets
}

async function load(sockets: WebSocket[], seconds: number): Promise<number> {
  let count = 0
  let running = true
  let seq = 0
  const frame = () => JSON.stringify({ type: 'unsubscribe', data: { topic: 'vm-status' }, id: ++seq })
  for (const ws of sockets) {
    ws.on('message', () => {
      if (!running) return
      count += 1
      ws.send(frame())
    })
    ws.send(frame())
  }
  const started = performance.now()
  await new Promise(r => setTimeout(r, seconds * 1000))
  running = false
  const elapsed = (performance.now() - started) / 1000
  for (const ws of sockets) ws.removeAllListeners('message')
  return count / elapsed
}

async function round(
  kind: Kind,
  n: number,
  seconds: number,
): Promise<{ rps: number; rssPer1000MiB: number; heapPer1000MiB: number }> {
  const { child, url } = await startChild(kind)
  try {
    // Warm up the code paths (JIT) with a few sockets; the measured sockets then pay for their
    // own memory, including the heap growth they cause (that is what holding them costs).
    const warm = await openSockets(url, 50)
    await load(warm, 0.5)
    for (const ws of warm) ws.terminate()
    await new Promise(r => setTimeout(r, 500))
    const before = await rssOf(child)
    const sockets = await openSockets(url, n)
    await new Promise(r => setTimeout(r, 500))
    const after = await rssOf(child)
    const rps = await load(sockets, seconds)
    for (const ws of sockets) ws.terminate()
    const per1000 = (bytes: number) => (bytes / (1 << 20)) * (1000 / n)
    return { rps, rssPer1000MiB: per1000(after.rss - before.rss), heapPer1000MiB: per1000(after.heap - before.heap) }
  } finally {
    const exited = new Promise(r => child.once('exit', r))
    child.send({ cmd: 'exit' })
    await exited
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      sockets: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '4' },
    },
  })
  if (values.child) return runChild(values.child as Kind)
  const n = Number(values.sockets)
  const rounds = Number(values.rounds)
  const seconds = Number(values.seconds)
  console.log(
    `server benchmark: ${n} authenticated sockets on loopback, ${rounds} rounds, ${seconds} s of requests each`,
  )
  console.log('peer: a bare ws echo server (no auth, no parsing), same socket count and frames\n')
  const res: Record<Kind, { rps: number[]; rss: number[]; heap: number[] }> = {
    voidvm: { rps: [], rss: [], heap: [] },
    'ws-echo': { rps: [], rss: [], heap: [] },
  }
  for (let r = 1; r <= rounds; r++) {
    // Alternate who goes first, so drift on a shared machine hits both alike.
    const order: Kind[] = r % 2 ? ['voidvm', 'ws-echo'] : ['ws-echo', 'voidvm']
    const line: string[] = []
    for (const kind of order) {
      const { rps, rssPer1000MiB, heapPer1000MiB } = await round(kind, n, seconds)
      res[kind].rps.push(rps)
      res[kind].rss.push(rssPer1000MiB)
      res[kind].heap.push(heapPer1000MiB)
      line.push(
        `${kind} ${Math.round(rps).toLocaleString('en')} req/s, idle RSS ${rssPer1000MiB.toFixed(1)} MiB/1000 sockets`,
      )
    }
    console.log(`round ${r}: ${line.join(' | ')}`)
  }
  const vRps = median(res.voidvm.rps)
  const eRps = median(res['ws-echo'].rps)
  const vRss = median(res.voidvm.rss)
  const eRss = median(res['ws-echo'].rss)
  console.log('')
  console.log(
    `median requests/s:               voidvm ${Math.round(vRps)}  ws-echo ${Math.round(eRps)}  ratio voidvm/echo ${(vRps / eRps).toFixed(2)}`,
  )
  console.log(
    `median idle RSS per 1000 sockets: voidvm ${vRss.toFixed(1)} MiB  ws-echo ${eRss.toFixed(1)} MiB  ratio voidvm/echo ${(vRss / eRss).toFixed(2)}`,
  )
  const vHeap = median(res.voidvm.heap)
  const eHeap = median(res['ws-echo'].heap)
  console.log(
    `median JS heap per 1000 sockets:  voidvm ${vHeap.toFixed(1)} MiB  ws-echo ${eHeap.toFixed(1)} MiB  ratio voidvm/echo ${(vHeap / eHeap).toFixed(2)}`,
  )
  console.log(`RESULT server-idle-rss-per-1000-sockets-mib ${vRss.toFixed(2)}`)
}

await main()
