/**
 * `npm run bench -- ui [--updates N] [--vms N]`: the VM list with 200 domains
 * (test driver, in a private libvirtd) receiving vm-status-all at 1 Hz from
 * the real voidvm-server, rendered by the built renderer in Chromium.
 *
 * Main-thread time per update comes from a Chromium trace: the renderer marks
 * the first push of each burst, and every main-thread task between one mark
 * and the next (script, React render and commit, style, layout, paint) is
 * charged to that update. Dropped frames are counted separately (a rAF loop
 * would add its own work to the trace): frame intervals longer than one vsync.
 *
 * Peer, side by side: the same app wired the naive way (`naive`): the
 * WebSocket on the main thread (one task per pushed status) and one store
 * update and React render per push, which is what a store wired straight to
 * the socket does. `voidvm` reads the socket in a worker that hands over each
 * burst at once, and batches store updates per frame.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { chromium, type Browser, type Page } from '@playwright/test'
import { startE2eServer, type E2eServer } from '../e2e/server.js'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../test/fixtures/private-libvirtd.js'

const run = promisify(execFile)

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : def
}

const N = arg('vms', 200)
const UPDATES = arg('updates', 20)
const FRAME_SECONDS = arg('frame-seconds', 8)
const PREFIX = 'voidvm-t-ui-bench-'

interface TraceEvent {
  name: string
  cat: string
  ph: string
  ts: number
  dur?: number
  pid: number
  tid: number
  args?: { name?: string }
}

interface ModeResult {
  mode: string
  perUpdateMs: number[]
  droppedFrames: number
  frames: number
  frameSeconds: number
}

const median = (xs: number[]) => quantile(xs, 0.5)
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return (s[lo] ?? 0) + ((s[hi] ?? 0) - (s[lo] ?? 0)) * (pos - lo)
}
const fmt = (x: number) => x.toFixed(2)

async function trace(page: Page, seconds: number): Promise<TraceEvent[]> {
  const cdp = await page.context().newCDPSession(page)
  const events: TraceEvent[] = []
  cdp.on('Tracing.dataCollected', e => events.push(...(e.value as unknown as TraceEvent[])))
  const done = new Promise<void>(ok => cdp.once('Tracing.tracingComplete', () => ok()))
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: { includedCategories: ['toplevel', 'blink.user_timing', 'devtools.timeline'] },
  })
  await page.waitForTimeout(seconds * 1000)
  await cdp.send('Tracing.end')
  await done
  await cdp.detach()
  return events
}

/** Main-thread busy time between consecutive batch marks (ms), from the trace. */
function perUpdate(events: TraceEvent[]): number[] {
  const marks = events.filter(e => e.name === 'voidvm:batch').sort((a, b) => a.ts - b.ts)
  if (marks.length < 2) throw new Error(`only ${marks.length} vm-status bursts in the trace: is the server pushing?`)
  const { pid, tid } = marks[0]!
  // Top-level tasks of the renderer's main thread, merged so nested ones count once.
  const tasks = events
    .filter(e => e.pid === pid && e.tid === tid && e.ph === 'X' && e.dur !== undefined && e.cat.includes('toplevel'))
    .map(e => [e.ts, e.ts + (e.dur ?? 0)] as [number, number])
    .sort((a, b) => a[0] - b[0])
  const merged: [number, number][] = []
  for (const t of tasks) {
    const last = merged.at(-1)
    if (last && t[0] <= last[1]) last[1] = Math.max(last[1], t[1])
    else merged.push([t[0], t[1]])
  }
  const out: number[] = []
  for (let i = 0; i + 1 < marks.length; i++) {
    // The mark is set inside the task that handles the first push: start from that task.
    const m = marks[i]!.ts
    const start = merged.find(([a, b]) => a <= m && m <= b)?.[0] ?? m
    const end = Math.min(marks[i + 1]!.ts, start + 1_000_000)
    const endTask = merged.find(([a, b]) => a <= marks[i + 1]!.ts && marks[i + 1]!.ts <= b)?.[0] ?? end
    let busy = 0
    for (const [a, b] of merged) {
      const lo = Math.max(a, start)
      const hi = Math.min(b, Math.min(end, endTask))
      if (hi > lo) busy += hi - lo
    }
    out.push(busy / 1000)
    if (process.env.UI_BENCH_BREAKDOWN) {
      const inWin = merged.filter(([a, b]) => b > start && a < Math.min(end, endTask)).map(([a, b]) => (b - a) / 1000)
      inWin.sort((a, b) => b - a)
      console.log(
        `  update ${i}: ${inWin.length} tasks, largest ${inWin
          .slice(0, 3)
          .map(d => d.toFixed(1))
          .join('/')} ms, rest ${inWin
          .slice(3)
          .reduce((a, b) => a + b, 0)
          .toFixed(1)} ms`,
      )
    }
  }
  return out
}

/** Self time by function over a few updates (debug aid: UI_BENCH_PROFILE=1). */
async function profile(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
  await page.waitForTimeout(4000)
  const { profile: prof } = (await cdp.send('Profiler.stop')) as unknown as {
    profile: {
      nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
      samples: number[]
      timeDeltas: number[]
    }
  }
  const self = new Map<string, number>()
  const byId = new Map(prof.nodes.map(n => [n.id, n]))
  prof.samples.forEach((id, i) => {
    const n = byId.get(id)
    if (!n) return
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`
    self.set(k, (self.get(k) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000)
  })
  const top = [...self]
    .filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(program)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
  for (const [k, v] of top) console.log(`  ${v.toFixed(1).padStart(7)} ms  ${k}`)
  await cdp.detach()
}

/** Where the main thread's time went (debug aid: UI_BENCH_BREAKDOWN=1). */
function breakdown(events: TraceEvent[]): void {
  const mark = events.find(e => e.name === 'voidvm:batch')
  if (!mark) return
  const tasks = events.filter(
    e => e.pid === mark.pid && e.tid === mark.tid && e.ph === 'X' && e.cat.includes('toplevel'),
  )
  const durs = tasks.map(e => (e.dur ?? 0) / 1000).sort((a, b) => b - a)
  console.log(
    `  tasks: ${tasks.length}, total ${durs.reduce((a, b) => a + b, 0).toFixed(0)} ms, longest ${durs
      .slice(0, 5)
      .map(d => d.toFixed(1))
      .join(', ')} ms, under 0.2 ms: ${durs.filter(d => d < 0.2).length} (sum ${durs
      .filter(d => d < 0.2)
      .reduce((a, b) => a + b, 0)
      .toFixed(0)} ms)`,
  )
  const by = new Map<string, number>()
  for (const e of events)
    if (e.pid === mark.pid && e.tid === mark.tid && e.ph === 'X' && e.cat.includes('devtools.timeline'))
      by.set(e.name, (by.get(e.name) ?? 0) + (e.dur ?? 0) / 1000)
  const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 12)
  console.log(
    '  breakdown (ms, whole trace, nested events overlap):',
    top.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '),
  )
}

// Plain source text: the bundler that runs this file would wrap named functions in helpers the page lacks.
const FRAME_COUNTER = `(secs) => new Promise(resolve => {
  const vsync = 1000 / 60
  let last = performance.now()
  let dropped = 0
  let frames = 0
  const endAt = last + secs * 1000
  const step = t => {
    const missed = Math.round((t - last) / vsync) - 1
    if (missed > 0) dropped += missed
    frames++
    last = t
    if (t < endAt) requestAnimationFrame(step)
    else resolve({ dropped, frames })
  }
  requestAnimationFrame(step)
})`

async function countDroppedFrames(page: Page, seconds: number): Promise<{ dropped: number; frames: number }> {
  return page.evaluate(`(${FRAME_COUNTER})(${seconds})`) as Promise<{ dropped: number; frames: number }>
}

async function measure(
  browser: Browser,
  server: E2eServer,
  token: string,
  mode: 'voidvm' | 'naive',
): Promise<ModeResult> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  await context.addInitScript(
    ({ batch, url, token: tok }) => {
      ;(globalThis as unknown as { __VOIDVM_PERF__: { batch: boolean; worker: boolean } }).__VOIDVM_PERF__ = {
        batch,
        worker: batch,
      }
      ;(globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem(
        'voidvm.login',
        JSON.stringify({
          url,
          token: tok,
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          username: 'bench',
        }),
      )
    },
    { batch: mode === 'voidvm', url: server.url, token },
  )
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', e => errors.push(e.message))
  await page.goto(server.url)
  // Polled from here: the app's CSP (rightly) forbids the string eval waitForFunction would need.
  for (let i = 0; ; i++) {
    const total = Number(await page.evaluate(`document.querySelector('table.vm-table')?.dataset.total ?? 0`))
    if (total >= N) break
    if (i > 120) throw new Error(`the list shows ${total} of ${N} VMs after 60 s`)
    await page.waitForTimeout(500)
  }
  await page.waitForTimeout(3000) // warm up: JIT, first layouts, sparklines filling
  if (process.env.UI_BENCH_PROFILE) await profile(page)
  const events = await trace(page, UPDATES + 1)
  const perUpdateMs = perUpdate(events)
  if (process.env.UI_BENCH_BREAKDOWN) breakdown(events)
  const { dropped, frames } = await countDroppedFrames(page, FRAME_SECONDS)
  if (errors.length) throw new Error(`page errors in ${mode}: ${errors.join('; ')}`)
  await context.close()
  return { mode, perUpdateMs, droppedFrames: dropped, frames, frameSeconds: FRAME_SECONDS }
}

async function main(): Promise<void> {
  let daemon: PrivateLibvirtd | undefined
  let server: E2eServer | undefined
  let browser: Browser | undefined
  try {
    daemon = await startPrivateLibvirtd()
    server = await startE2eServer({ libvirtUri: daemon.uri })
    await server.addUser('voidvm-t-ui-bench', 'admin')
    const token = await server.token('voidvm-t-ui-bench')
    // The server's connection keeps the test driver's state; one virsh process defines and starts them all.
    const cmds: string[] = []
    for (let i = 0; i < N; i++) {
      const name = `${PREFIX}${String(i).padStart(3, '0')}`
      const f = join(daemon.dir, `${name}.xml`)
      await writeFile(
        f,
        `<domain type='test'><name>${name}</name><memory unit='MiB'>256</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`,
      )
      cmds.push(`define ${f}`, `start ${name}`)
    }
    await run('virsh', ['-c', daemon.uri, cmds.join(' ; ')], { timeout: 120_000, maxBuffer: 16 << 20 })
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
    })
    console.log(
      `ui bench: ${N} VMs (test driver) + the driver's own, vm-status-all at 1 Hz, ${UPDATES} updates per mode`,
    )
    const results: ModeResult[] = []
    for (const mode of ['voidvm', 'naive'] as const) {
      const r = await measure(browser, server, token, mode)
      results.push(r)
      console.log(
        `${mode.padEnd(7)} main-thread per update: median ${fmt(median(r.perUpdateMs))} ms, p95 ${fmt(quantile(r.perUpdateMs, 0.95))} ms, max ${fmt(Math.max(...r.perUpdateMs))} ms (n=${r.perUpdateMs.length}); dropped frames ${r.droppedFrames} of ${r.frames} in ${r.frameSeconds} s`,
      )
    }
    const [v, n] = results as [ModeResult, ModeResult]
    console.log(
      `ratio naive/voidvm: median ${fmt(median(n.perUpdateMs) / median(v.perUpdateMs))}x, p95 ${fmt(quantile(n.perUpdateMs, 0.95) / quantile(v.perUpdateMs, 0.95))}x`,
    )
    console.log(`RESULT ui-update-p95-ms-200vms ${fmt(quantile(v.perUpdateMs, 0.95))}`)
  } finally {
    await browser?.close()
    await server?.stop()
    await daemon?.dispose()
  }
}

main().catch(err => {
  console.error(err instanceof Error ? err.stack : err)
  process.exit(1)
})
