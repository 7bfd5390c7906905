/**
 * `npm run bench -- terminal [--mb 50] [--runs 3] [--keys 40]`
 *
 * Output throughput of `head -c N /dev/urandom | base64` through a VoidVM
 * terminal session (sshd → ssh2 → VoidVM server → WebSocket JSON → client)
 * versus an ssh2 client reading the same command from the same sshd directly,
 * both on an xterm-256color PTY; then keystroke echo latency (one character
 * typed at the shell prompt until its echo arrives) on both paths.
 * Last line: `RESULT terminal-throughput-vs-direct-ssh <VoidVM MB/s ÷ direct MB/s>`.
 */
import ssh2 from 'ssh2'
import type { ClientChannel } from 'ssh2'
import WebSocket from 'ws'
import { defineTestGuest, guestImagesReady, QEMU_URI } from '../test/fixtures/guest.js'
import { startTestServer, type TestServer } from '../test/fixtures/server.js'
import { startSshd, type TestSshd } from '../test/fixtures/sshd.js'

const { Client } = ssh2

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : dflt
}

const MB = arg('mb', 50)
const RUNS = arg('runs', 3)
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

/** Throughput (MB/s of terminal output) and keystroke echo latencies (ms) of one terminal. */
async function measure(label: string, open: () => Promise<Term>) {
  const t = await open()
  const w = waiter(t)
  // Wait for a prompt, then quiet the shell's prompt decorations out of the way.
  t.write('PS1="$ "; echo READY-$((1+1))\n')
  await w.until('READY-2')
  const rates: number[] = []
  for (let i = 0; i < RUNS; i++) {
    w.reset()
    const t0 = process.hrtime.bigint()
    t.write(COMMAND)
    await w.until(END)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    rates.push(w.bytes / 1e6 / s)
    console.log(
      `${label}: run ${i + 1}: ${(w.bytes / 1e6).toFixed(1)} MB in ${s.toFixed(2)} s = ${(w.bytes / 1e6 / s).toFixed(1)} MB/s`,
    )
  }
  await new Promise(r => setTimeout(r, 300))
  const lat: number[] = []
  for (let i = 0; i < KEYS; i++) {
    const ch = String.fromCharCode(97 + (i % 26))
    const t0 = process.hrtime.bigint()
    const echoed = w.until(ch, 10_000)
    t.write(ch)
    await echoed
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  t.write('\x15') // Ctrl-U: clear the typed line
  await t.close()
  return {
    mbps: median(rates),
    latencyMs: median(lat),
    p95: [...lat].sort((a, b) => a - b)[Math.floor(lat.length * 0.95)] ?? 0,
  }
}

/**
 * A VoidVM terminal as a browser client sees it: one WebSocket, JSON frames,
 * `terminal-input` requests and `terminal-output` pushes.
 */
async function voidvmTerm(server: TestServer, token: string, vmId: string, sshd: TestSshd): Promise<Term> {
  const ws = new WebSocket(`${server.wsUrl}?token=${encodeURIComponent(token)}`)
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

async function main() {
  if (!guestImagesReady()) {
    console.error('test guest images missing: run scripts/host-setup.sh as root')
    process.exit(1)
  }
  const vmName = `voidvm-t-term-bench-${process.pid}`
  const sshd = await startSshd()
  const guest = await defineTestGuest({ name: vmName, ssh: { host: '127.0.0.1', port: sshd.port } })
  const server = await startTestServer({ libvirtUri: QEMU_URI, logLevel: 'error' })
  try {
    await server.addUser('bench', 'admin')
    const token = await server.tokenFor('bench')
    console.log(
      `terminal bench: ${MB} MB of random bytes as base64 (~${((MB * 4) / 3).toFixed(0)} MB of text), ${RUNS} runs each; ${KEYS} keystrokes`,
    )
    // Interleave the peers so both see the same background load.
    const direct = await measure('direct ssh2', () => directTerm(sshd))
    const voidvm = await measure('VoidVM     ', () => voidvmTerm(server, token, vmName, sshd))
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
    await server.close()
    await guest.remove()
    await sshd.stop()
  }
}

await main()
