/**
 * `npm run bench -- vnc [--frames 4] [--runs 40] [--pings 500] [--width 1280] [--height 720]`
 *
 * A synthetic RFB server (test/fixtures/rfb-server.ts, in its own process
 * like QEMU) streams full-screen Raw framebuffer updates on request. The same viewer reaches it through
 * (a) direct TCP, (b) websockify (the proxy noVNC ships with), (c) the VoidVM
 * binary fast path (/ws/vnc) and (d) the VoidVM JSON tunnel (vnc-data,
 * base64), run side by side: throughput (full frames, MB/s) and added
 * latency (1×1 update round trips, compared with direct TCP), and the
 * CPU time each proxy process spends per MB relayed (from /proc).
 * Last line: `RESULT vnc-fastpath-vs-websockify <fast-path MB/s ÷ websockify MB/s>`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { startServer } from '../src/main/server/index.js'
import { createVncBridge } from '../src/main/vnc/index.js'
import { startSyntheticRfbServer, syntheticVmDirectory } from '../test/fixtures/rfb-server.js'

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

const FRAMES = arg('frames', 4)
const RUNS = arg('runs', 40)
const PINGS = arg('pings', 500)
const WIDTH = arg('width', 1280)
const HEIGHT = arg('height', 720)
const VM = 'bench-vm'

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** A byte pipe to an RFB server, whatever carries it. */
interface Pipe {
  send(b: Buffer): void
  onData(cb: (b: Buffer) => void): void
  close(): void
}

/** The viewer: RFB handshake, then requests whose answers it counts without copying. */
class BenchViewer {
  private buf = Buffer.alloc(0)
  private remaining = 0
  private wake?: () => void

  constructor(private readonly pipe: Pipe) {
    pipe.onData(d => {
      if (this.remaining > 0) {
        this.remaining -= d.length
        if (this.remaining <= 0) this.wake?.()
      } else {
        this.buf = Buffer.concat([this.buf, d])
        this.wake?.()
      }
    })
  }

  private async need(n: number): Promise<Buffer> {
    while (this.buf.length < n) await new Promise<void>(ok => (this.wake = ok))
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  async handshake(): Promise<{ width: number; height: number }> {
    await this.need(12)
    this.pipe.send(Buffer.from('RFB 003.008\n'))
    const n = (await this.need(1))[0]!
    await this.need(n)
    this.pipe.send(Buffer.from([1]))
    if ((await this.need(4)).readUInt32BE(0) !== 0) throw new Error('security failed')
    this.pipe.send(Buffer.from([1]))
    const head = await this.need(24)
    const size = { width: head.readUInt16BE(0), height: head.readUInt16BE(2) }
    await this.need(head.readUInt32BE(20))
    return size
  }

  /** Requests a region and resolves once its Raw update (16 + w·h·4 bytes) has arrived. */
  update(w: number, h: number): Promise<void> {
    const b = Buffer.alloc(10)
    b[0] = 3
    b.writeUInt16BE(w, 6)
    b.writeUInt16BE(h, 8)
    this.remaining = 16 + w * h * 4 - this.buf.length
    this.buf = Buffer.alloc(0)
    const done = new Promise<void>(ok => (this.wake = ok))
    this.pipe.send(b)
    return done
  }
}

function tcpPipe(port: number): Promise<Pipe> {
  return new Promise((ok, fail) => {
    const s = net.connect(port, '127.0.0.1', () =>
      ok({ send: b => void s.write(b), onData: cb => void s.on('data', cb), close: () => s.destroy() }),
    )
    s.setNoDelay(true)
    s.once('error', fail)
  })
}

function wsPipe(url: string, protocols?: string[]): Promise<Pipe> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false })
    ws.binaryType = 'nodebuffer'
    // The server speaks first: keep what arrives before the viewer listens.
    const early: Buffer[] = []
    let listener: ((b: Buffer) => void) | undefined
    ws.on('message', (d: Buffer) => (listener ? listener(d) : early.push(d)))
    ws.once('error', fail)
    ws.once('open', () =>
      ok({
        send: b => ws.send(b),
        onData: cb => {
          listener = cb
          for (const b of early.splice(0)) cb(b)
        },
        close: () => ws.close(),
      }),
    )
  })
}

function openWs(url: string): Promise<WebSocket> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once('error', fail)
    ws.once('open', () => ok(ws))
  })
}

/** Sends one request on the JSON API and resolves with its reply's data. */
function request<T>(ws: WebSocket, type: string, data: object): Promise<T> {
  const id = `b${Math.random().toString(36).slice(2)}`
  return new Promise((ok, fail) => {
    const on = (raw: Buffer): void => {
      const f = JSON.parse(raw.toString()) as { id?: string; type: string; data: T }
      if (f.id !== id) return
      ws.off('message', on)
      if (f.type === 'error') fail(new Error(JSON.stringify(f.data)))
      else ok(f.data)
    }
    ws.on('message', on)
    ws.send(JSON.stringify({ type, id, data }))
  })
}

async function fastPathPipe(api: ApiInfo, token: string): Promise<Pipe> {
  const ctl = await openWs(`${api.wsUrl}?token=${token}`)
  const r = await request<{ url: string }>(ctl, 'vnc-connect', { vmId: VM, transport: 'websocket' })
  const p = await wsPipe(api.url.replace(/^http/, 'ws') + r.url)
  return { ...p, close: () => (p.close(), ctl.close()) }
}

async function jsonPipe(api: ApiInfo, token: string): Promise<Pipe> {
  const ws = await openWs(`${api.wsUrl}?token=${token}`)
  const listeners: ((b: Buffer) => void)[] = []
  const early: Buffer[] = []
  let sessionId = ''
  ws.on('message', (raw: Buffer) => {
    const f = JSON.parse(raw.toString()) as { id?: string; type: string; data: { sessionId: string; data: string } }
    if (f.type !== 'vnc-data' || f.id !== undefined) return
    const bytes = Buffer.from(f.data.data, 'base64')
    if (listeners.length) for (const l of listeners) l(bytes)
    else early.push(bytes)
  })
  sessionId = (await request<{ sessionId: string }>(ws, 'vnc-connect', { vmId: VM })).sessionId
  let seq = 0
  return {
    send: b =>
      ws.send(
        JSON.stringify({ type: 'vnc-data', id: ++seq, data: { vmId: VM, sessionId, data: b.toString('base64') } }),
      ),
    onData: cb => {
      listeners.push(cb)
      for (const b of early.splice(0)) cb(b)
    },
    close: () => ws.close(),
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(ok => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as net.AddressInfo).port
  await new Promise(ok => s.close(ok))
  return port
}

async function startWebsockify(target: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('websockify', [`127.0.0.1:${port}`, `127.0.0.1:${target}`], { stdio: 'ignore' })
  const end = Date.now() + 10_000
  for (;;) {
    const up = await new Promise<boolean>(ok => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), ok(true)))
      s.once('error', () => ok(false))
    })
    if (up) return { port, child }
    if (Date.now() > end || child.exitCode !== null) throw new Error('websockify did not start')
    await new Promise(r => setTimeout(r, 100))
  }
}

interface Result {
  mbps: number[]
  latencyUs: number[]
  /** CPU time (ms) the proxy process(es) used during this path's throughput rounds. */
  proxyCpuMs: number
}

const TICK_MS = 1000 / 100 // USER_HZ, 100 on Linux

/** user+system CPU ms of a process and its children (websockify forks one per connection). */
function processTreeCpuMs(pid: number): number {
  const stat = (p: number | string): string[] | undefined => {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8')
      return st.slice(st.lastIndexOf(')') + 2).split(' ')
    } catch {
      return undefined
    }
  }
  let ticks = 0
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const f = stat(d)
    if (f && (Number(d) === pid || Number(f[1]) === pid)) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks * TICK_MS
}

/** Times `frames` full-screen updates; returns MB/s. */
async function throughput(v: BenchViewer, frames: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < frames; i++) await v.update(WIDTH, HEIGHT)
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  return (frames * (16 + WIDTH * HEIGHT * 4)) / 1e6 / secs
}

/** One 1×1 update round trip, µs. */
async function roundTrip(v: BenchViewer): Promise<number> {
  const t = process.hrtime.bigint()
  await v.update(1, 1)
  return Number(process.hrtime.bigint() - t) / 1e3
}

/**
 * The VoidVM server runs in its own process, as it does in real use (and as
 * websockify does): on two cores, proxy work then does not share the
 * viewer's thread.
 */
async function childServer(fixturePort: number): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'voidvm-bench-vnc-'))
  const api = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    rendererDir: null,
    logLevel: 'warn',
    // The latency loop sends hundreds of small vnc-data messages a second.
    limits: { messagesPerSecond: 100_000, messageBurst: 100_000 },
    bridges: async ctx => [createVncBridge(ctx, syntheticVmDirectory(fixturePort, VM))],
  })
  await api.users.add('bench', 'admin', 'bench-password-1', ['*'])
  const token = await api.issueToken('bench')
  process.stdout.write(JSON.stringify({ url: api.url, wsUrl: api.wsUrl, token }) + '\n')
  const stop = async (): Promise<void> => {
    await api.close()
    await rm(dataDir, { recursive: true, force: true })
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop())
  process.stdin.on('end', () => void stop())
  process.stdin.resume()
}

interface ApiInfo {
  url: string
  wsUrl: string
  token: string
}

/** Runs this file in another process in a child mode; resolves with the JSON line it prints. */
async function spawnChild<T>(args: string[]): Promise<{ info: T; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const info = await new Promise<T>((ok, fail) => {
    let out = ''
    child.stdout!.on('data', d => {
      out += String(d)
      const nl = out.indexOf('\n')
      if (nl >= 0) ok(JSON.parse(out.slice(0, nl)) as T)
    })
    child.once('exit', code => fail(new Error(`${args[0]} process exited with ${code}`)))
  })
  return { info, child }
}

/** The synthetic RFB server in its own process, as QEMU is: the viewer's thread does only viewing. */
async function childFixture(): Promise<void> {
  const rfb = await startSyntheticRfbServer(WIDTH, HEIGHT)
  process.stdout.write(JSON.stringify({ port: rfb.port }) + '\n')
  process.stdin.on('end', () => void rfb.close().then(() => process.exit(0)))
  process.stdin.resume()
}

async function main(): Promise<void> {
  const fixture = await spawnChild<{ port: number }>([
    '--child-fixture',
    '--width',
    String(WIDTH),
    '--height',
    String(HEIGHT),
  ])
  const rfb = fixture.info
  const wsfy = await startWebsockify(rfb.port)
  const { info: api, child } = await spawnChild<ApiInfo>(['--child-server', String(rfb.port)])
  try {
    const token = api.token
    const paths: [string, () => Promise<Pipe>][] = [
      ['direct TCP', () => tcpPipe(rfb.port)],
      ['websockify', () => wsPipe(`ws://127.0.0.1:${wsfy.port}/`, ['binary'])],
      ['VoidVM fast path', () => fastPathPipe(api, token)],
      ['VoidVM JSON tunnel', () => jsonPipe(api, token)],
    ]
    const proxyPid = new Map([
      ['websockify', wsfy.child.pid],
      ['VoidVM fast path', child.pid],
      ['VoidVM JSON tunnel', child.pid],
    ])
    const results = new Map<string, Result>(paths.map(([n]) => [n, { mbps: [], latencyUs: [], proxyCpuMs: 0 }]))
    console.log(
      `RFB ${WIDTH}×${HEIGHT} Raw 32 bpp; ${RUNS} rounds of ${FRAMES} full frames (${((FRAMES * WIDTH * HEIGHT * 4) / 1e6).toFixed(0)} MB) per path, then ${PINGS} 1×1 round trips per path; paths interleaved round by round so a busy host slows them alike`,
    )
    const viewers: [string, BenchViewer, Pipe][] = []
    for (const [name, open] of paths) {
      const pipe = await open()
      const v = new BenchViewer(pipe)
      const size = await v.handshake()
      if (size.width !== WIDTH || size.height !== HEIGHT) throw new Error(`${name}: unexpected geometry`)
      await v.update(WIDTH, HEIGHT) // warm-up
      viewers.push([name, v, pipe])
    }
    for (let run = 0; run < RUNS; run++)
      for (const [name, v] of viewers) {
        const r = results.get(name)!
        const pid = proxyPid.get(name)
        const cpu0 = pid ? processTreeCpuMs(pid) : 0
        r.mbps.push(await throughput(v, FRAMES))
        if (pid) r.proxyCpuMs += processTreeCpuMs(pid) - cpu0
      }
    for (let i = 0; i < PINGS; i++)
      for (const [name, v] of viewers) results.get(name)!.latencyUs.push(await roundTrip(v))
    for (const [, , pipe] of viewers) pipe.close()

    const med = (n: string) => ({ mbps: median(results.get(n)!.mbps), us: median(results.get(n)!.latencyUs) })
    const direct = med('direct TCP')
    const mbTotal = (RUNS * FRAMES * (16 + WIDTH * HEIGHT * 4)) / 1e6
    const cpuPerMb = (n: string): string => (proxyPid.get(n) ? (results.get(n)!.proxyCpuMs / mbTotal).toFixed(3) : '-')
    console.log(
      `${'path'.padEnd(20)} ${'MB/s'.padStart(9)} ${'RTT µs'.padStart(9)} ${'added µs'.padStart(9)} ${'proxy CPU ms/MB'.padStart(16)}`,
    )
    for (const [name] of paths) {
      const m = med(name)
      console.log(
        `${name.padEnd(20)} ${m.mbps.toFixed(1).padStart(9)} ${m.us.toFixed(0).padStart(9)} ${(m.us - direct.us).toFixed(0).padStart(9)} ${cpuPerMb(name).padStart(16)}`,
      )
    }
    const fast = med('VoidVM fast path')
    const wsf = med('websockify')
    const json = med('VoidVM JSON tunnel')
    const ratio = fast.mbps / wsf.mbps
    console.log(`throughput fast path ÷ websockify: ${ratio.toFixed(2)}`)
    console.log(
      `proxy CPU per MB fast path ÷ websockify: ${(results.get('VoidVM fast path')!.proxyCpuMs / Math.max(1, results.get('websockify')!.proxyCpuMs)).toFixed(2)}`,
    )
    console.log(`throughput fast path ÷ direct TCP: ${(fast.mbps / direct.mbps).toFixed(2)}`)
    console.log(`throughput fast path ÷ JSON tunnel: ${(fast.mbps / json.mbps).toFixed(2)} (should be ≤ 3)`)
    console.log(
      `added latency fast path ÷ websockify: ${((fast.us - direct.us) / Math.max(1, wsf.us - direct.us)).toFixed(2)}`,
    )
    console.log(`RESULT vnc-fastpath-vs-websockify ${ratio.toFixed(3)}`)
  } finally {
    child.stdin!.end()
    fixture.child.stdin!.end()
    wsfy.child.kill()
  }
}

const childAt = process.argv.indexOf('--child-server')
const isChild = childAt >= 0 || process.argv.includes('--child-fixture')
const entry = childAt >= 0 ? childServer(Number(process.argv[childAt + 1])) : isChild ? childFixture() : main()
entry.then(
  () => {
    if (!isChild) process.exit(0)
  },
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
