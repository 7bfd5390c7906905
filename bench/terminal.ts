/**
 * `npm run bench -- terminal [--mb 50] [--runs 5] [--keys 40]`
 *
 * Output throughput of `head -c N /dev/urandom | base64` through a VoidVM
 * terminal session (sshd → ssh2 → VoidVM server → WebSocket JSON → client)
 * versus an ssh2 client reading the same command from the same sshd directly,
 * both on an xterm-256color PTY, runs alternating; the VoidVM server runs in
 * its own process, like for a real client. Then keystroke echo latency (one character
 * typed at the shell prompt until its echo arrives) on both paths.
 * Last line: `RESULT terminal-throughput-vs-direct-ssh <VoidVM MB/s ÷ direct MB/s>`.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import WebSocket from 'ws'
import { defineTestGuest, guestImagesReady, QEMU_URI } from '../test/fixtures/guest.js'
import { startTestServer } from '../test/fixtures/server.js'
import { startSshd, type TestSshd } from '../test/fixtures/sshd.js'

const { Client } = ssh2

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

const MB = arg('mb', 50)
const RUNS = arg('runs', 5)
const KEYS = arg('keys', 40)
const END = 'BENCH-END-42'
const COMMAND = `head -c ${MB * 1_000_000} /dev/urandom | base64; echo BENCH-END-$((40+2))\n`

/** A terminal as the bench drives it: type text, watch text come back. */
interface Term {
  write(s: string): void
  onText(cb: (s: string) => void): void
  close(): Promise<void>
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

/** Waits until `pattern` shows up in the text stream (searching only a short tail). */
function waiter(t: Term) {
  let tail = ''
  let bytes = 0
  let pending: { re: string; resolve: () => void } | undefined
  t.onText(s => {
    bytes += Buffer.byteLength(s)
    tail = (tail + s).slice(-256)
    if (pending && tail.includes(pending.re)) {
      const p = pending
      pending = undefined
      tail = ''
      p.resolve()
    }
  })
  return {
    get bytes() {
      return bytes
    },
    reset() {
      tail = ''
      bytes = 0
    },
    until(text: string, timeoutMs = 120_000): Promise<void> {
      return new Promise((resolve, reject) => {
        if (tail.includes(text)) {
          tail = ''
          return resolve()
        }
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}`)), timeoutMs)
        pending = {
          re: text,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        }
      })
    },
  }
}

async function directTerm(sshd: TestSshd): Promise<Term> {
  const client = new Client()
  const channel = await new Promise<ClientChannel>((ok, fail) => {
    client.once('error', fail)
    client.once('ready', () =>
      client.shell({ term: 'xterm-256color', cols: 80, rows: 24 }, (err, ch) => (err ? fail(err) : ok(ch))),
    )
    client.connect({ host: '127.0.0.1', port: sshd.port, username: sshd.username, password: sshd.password })
  })
  const decoder = new TextDecoder()
  return {
    write: s => void channel.write(s),
    onText: cb => channel.on('data', (b: Buffer) => cb(decoder.decode(b, { stream: true }))),
    close: async () => {
      client.end()
    },
  }
}

interface Peer {
  label: string
  t: Term
  w: ReturnType<typeof waiter>
  rates: number[]
  lat: number[]
}

async function openPeer(label: string, open: () => Promise<Term>): Promise<Peer> {
  const t = await open()
  const w = waiter(t)
  // Wait for a prompt, and keep the shell's prompt decorations out of the way.
  t.write('PS1="$ "; echo READY-$((1+1))\n')
  await w.until('READY-2')
  return { label, t, w, rates: [], lat: [] }
}

/** One throughput run: the command's whole output, until the end marker. */
async function throughputRun(p: Peer, run: number): Promise<void> {
  p.w.reset()
  const t0 = process.hrtime.bigint()
  p.t.write(COMMAND)
  await p.w.until(END)
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  const mb = p.w.bytes / 1e6
  p.rates.push(mb / s)
  console.log(`${p.label}: run ${run}: ${mb.toFixed(1)} MB in ${s.toFixed(2)} s = ${(mb / s).toFixed(1)} MB/s`)
}

/** One keystroke: a letter typed at the prompt until its echo arrives (ms). */
async function keystroke(p: Peer, i: number): Promise<void> {
  const ch = String.fromCharCode(97 + (i % 26))
  const t0 = process.hrtime.bigint()
  const echoed = p.w.until(ch, 10_000)
  p.t.write(ch)
  await echoed
  p.lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
}

function summary(p: Peer) {
  const sorted = [...p.lat].sort((a, b) => a - b)
  return { mbps: median(p.rates), latencyMs: median(p.lat), p95: sorted[Math.floor(sorted.length * 0.95)] ?? 0 }
}

/** Runs both peers alternately (run by run, key by key) so they see the same background load. */
async function compare(a: Peer, b: Peer) {
  for (let i = 1; i <= RUNS; i++) for (const p of i % 2 ? [a, b] : [b, a]) await throughputRun(p, i)
  await new Promise(r => setTimeout(r, 300))
  for (let i = 0; i < KEYS; i++) for (const p of [a, b]) await keystroke(p, i)
  for (const p of [a, b]) {
    p.t.write('\x15') // Ctrl-U: clear the typed line
    await p.t.close()
  }
  return [summary(a), summary(b)] as const
}

/**
 * A VoidVM terminal as a browser client sees it: one WebSocket, JSON frames,
 * `terminal-input` requests and `terminal-output` pushes.
 */
async function voidvmTerm(wsUrl: string, token: string, vmId: string, sshd: TestSshd): Promise<Term> {
  const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`)
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok())
    ws.once('error', fail)
  })
  let seq = 0
  const replies = new Map<string, (f: { type: string; data: Record<string, unknown> }) => void>()
  let onText: ((s: string) => void) | undefined
  ws.on('message', raw => {
    const f = JSON.parse(raw.toString()) as { type: string; id?: string; data: Record<string, unknown> }
    if (f.type === 'terminal-output') onText?.(f.data.output as string)
    else if (f.id !== undefined) {
      replies.get(f.id)?.(f)
      replies.delete(f.id)
    }
  })
  const request = (type: string, data: object) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const id = `b${++seq}`
      replies.set(id, f => (f.type === 'error' ? fail(new Error(JSON.stringify(f.data))) : ok(f.data)))
      ws.send(JSON.stringify({ type, id, data }))
    })
  const r = await request('terminal-connect', {
    vmId,
    type: 'ssh',
    credentials: { username: sshd.username, password: sshd.password },
    cols: 80,
    rows: 24,
  })
  const sessionId = r.sessionId as string
  return {
    // Like the seed client: every input is a request; the bench does not wait for its reply.
    write: s => void request('terminal-input', { vmId, sessionId, input: s }).catch(() => undefined),
    onText: cb => (onText = cb),
    close: async () => {
      await request('terminal-disconnect', { vmId, sessionId }).catch(() => undefined)
      ws.close()
    },
  }
}

/**
 * The VoidVM server runs in its own process (as it does for a real browser
 * client), on the system libvirtd with the default bridges. It prints its
 * WebSocket URL and a token, and stops when its stdin closes.
 */
async function serve(): Promise<void> {
  const server = await startTestServer({ libvirtUri: QEMU_URI, logLevel: 'error' })
  await server.addUser('bench', 'admin')
  process.stdout.write(JSON.stringify({ wsUrl: server.wsUrl, token: await server.tokenFor('bench') }) + '\n')
  process.stdin.resume()
  await new Promise(r => process.stdin.once('end', r))
  await server.close()
}

async function spawnServer(): Promise<{ wsUrl: string; token: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>(r => child.once('exit', () => r()))
  const line = await new Promise<string>((ok, fail) => {
    let buf = ''
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) ok(buf.slice(0, nl))
    })
    child.once('exit', code => fail(new Error(`bench server exited with ${code}`)))
  })
  const info = JSON.parse(line) as { wsUrl: string; token: string }
  return {
    ...info,
    stop: async () => {
      child.stdin.end()
      await Promise.race([exited, new Promise(r => setTimeout(r, 5000))])
      if (child.exitCode === null) child.kill()
    },
  }
}

async function main() {
  if (!guestImagesReady()) {
    console.error('test guest images missing: run scripts/host-setup.sh as root')
    process.exit(1)
  }
  const vmName = `voidvm-t-term-bench-${process.pid}`
  const sshd = await startSshd()
  const guest = await defineTestGuest({ name: vmName, ssh: { host: '127.0.0.1', port: sshd.port } })
  let server: Awaited<ReturnType<typeof spawnServer>> | undefined
  try {
    server = await spawnServer()
    const { wsUrl, token } = server
    console.log(
      `terminal bench: ${MB} MB of random bytes as base64 (~${((MB * 4) / 3).toFixed(0)} MB of text), ${RUNS} runs each; ${KEYS} keystrokes`,
    )
    const [direct, voidvm] = await compare(
      await openPeer('direct ssh2', () => directTerm(sshd)),
      await openPeer('VoidVM     ', () => voidvmTerm(wsUrl, token, vmName, sshd)),
    )
    const ratio = voidvm.mbps / direct.mbps
    console.log('')
    console.log(
      `throughput   direct ssh2 ${direct.mbps.toFixed(1)} MB/s   VoidVM ${voidvm.mbps.toFixed(1)} MB/s   ratio ${ratio.toFixed(3)}`,
    )
    console.log(
      `echo latency direct ssh2 median ${direct.latencyMs.toFixed(2)} ms (p95 ${direct.p95.toFixed(2)})   ` +
        `VoidVM median ${voidvm.latencyMs.toFixed(2)} ms (p95 ${voidvm.p95.toFixed(2)})   ` +
        `ratio ${(voidvm.latencyMs / direct.latencyMs).toFixed(2)}`,
    )
    console.log(`RESULT terminal-throughput-vs-direct-ssh ${ratio.toFixed(3)}`)
  } finally {
    await server?.stop()
    await guest.remove()
    await sshd.stop()
  }
}

if (process.argv.includes('--serve')) await serve()
else await main()
