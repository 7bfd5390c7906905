/**
 * Adversarial test of the WebSocket API: the real server with its default
 * bridges on libvirtd's test:///default (through the system daemon), a real
 * QEMU VNC server and a real sshd behind two test-driver VMs, and a seeded
 * stream of a few hundred malformed (and some well-formed) frames per client
 * message type from test/integration/fuzz-gen.ts.
 *
 * It checks what a client relies on: one reply per frame with a readable id,
 * documented error codes with messages that name the bad field, the socket
 * staying open, a second client's pushes and replies continuing, no session
 * left behind once the socket closes (seen from sshd's and QEMU's side and in
 * the audit log), the users file unchanged, bounded memory, no prototype
 * pollution, and no network connection to anything but loopback.
 *
 * The fuzzing user is an operator whose only grant is voidvm-t-fz-*, so every
 * well-formed message aimed at another VM (the shared `test` domain included)
 * must be FORBIDDEN. Reproduce a run with VOIDVM_FUZZ_SEED=<seed>.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_MESSAGES } from '../../src/shared/protocol.js'
import { ERROR_CODE_LIST } from '../../src/shared/errors.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import { connect, type Frame, type TestClient } from '../fixtures/ws-client.js'
import { testDriverVirsh as virsh } from './libvirt-helpers.js'
import { generate, generateRaw, type FuzzCase } from './fuzz-gen.js'

const run = promisify(execFile)
const SEED = Number(process.env.VOIDVM_FUZZ_SEED ?? 0x5eedf022)
const PREFIX = 'voidvm-t-fz-'
const VNC_VM = `${PREFIX}vnc`
const SSH_VM = `${PREFIX}ssh`
const CTL_VM = `${PREFIX}ctl`
const OUR_VMS = [VNC_VM, SSH_VM, CTL_VM]
const OP = 'fz-op'

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

// ------------------------------------------------------------ outbound connections

/** Every connect() the process makes (server, bridges and test clients alike). */
const outbound: { host?: string; port?: number; path?: string }[] = []
const originalConnect = net.Socket.prototype.connect
function recordConnect(args: unknown[]): void {
  // net.connect() hands Socket#connect its normalized [options, cb] array.
  const a0 = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
  if (typeof a0 === 'string') outbound.push({ path: a0 })
  else if (typeof a0 === 'number') outbound.push({ port: a0, host: typeof args[1] === 'string' ? args[1] : undefined })
  else if (a0 && typeof a0 === 'object') {
    const o = a0 as { host?: unknown; port?: unknown; path?: unknown }
    if (typeof o.path === 'string') outbound.push({ path: o.path })
    else
      outbound.push({
        host: typeof o.host === 'string' ? o.host : undefined,
        port: o.port === undefined ? undefined : Number(o.port),
      })
  }
}
const isLoopback = (h: string | undefined) =>
  h === undefined || h === 'localhost' || /^127\./.test(h) || h === '::1' || /^::ffff:127\./.test(h)

// ------------------------------------------------------------ helpers

/** Connections to sshd's port that are established (from anyone on this host). */
async function sshdConnections(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`])
  return stdout.split('\n').filter(l => l.trim()).length
}

/** Accepted connections on QEMU's VNC unix socket. */
async function vncConnections(path: string): Promise<number> {
  const { stdout } = await run('ss', ['-Hxn', 'state', 'connected'])
  return stdout.split('\n').filter(l => l.includes(path)).length
}

interface AuditLine {
  username?: string
  action: string
  vmId?: string
  result: string
  detail?: string
}

async function auditLines(dataDir: string): Promise<AuditLine[]> {
  const text = await readFile(join(dataDir, 'audit.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as AuditLine)
}

function gc(): void {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
}

const show = (s: string | Buffer, n = 300): string => {
  const t = typeof s === 'string' ? s : `<binary ${s.length} bytes: ${s.subarray(0, 24).toString('hex')}…>`
  return t.length > n ? `${t.slice(0, n)}… (${t.length} chars)` : t
}

interface ErrorReply {
  code?: unknown
  message?: unknown
  field?: unknown
  vmId?: unknown
}

/** Problems with an error reply, whatever was sent: a documented code, a message, a named field. */
function errorProblems(d: ErrorReply): string[] {
  const out: string[] = []
  if (!ERROR_CODE_LIST.includes(d.code as never)) out.push(`code ${JSON.stringify(d.code)} is not in ERROR_CODES`)
  if (typeof d.message !== 'string' || d.message.trim() === '') out.push('empty message')
  else if (/(^|: )Invalid input$/.test(d.message)) out.push(`message "${d.message}" does not say what to fix`)
  else if (/9007199254740991/.test(d.message) && d.field !== 'data.interval')
    out.push(`message "${d.message}" gives the safe-integer bound, not the field's documented range`)
  if (d.vmId !== undefined && (typeof d.vmId !== 'string' || d.vmId.length > 256))
    out.push(`vmId is not a VM reference (${typeof d.vmId === 'string' ? `${d.vmId.length} chars` : typeof d.vmId})`)
  if (d.code === 'INVALID_MESSAGE' && d.field !== undefined) {
    if (typeof d.field !== 'string' || d.field === '') out.push(`field ${JSON.stringify(d.field)} is not a path`)
    else {
      const short = d.field.replace(/^data\./, '')
      if (typeof d.message === 'string' && !d.message.includes(short))
        out.push(`message does not name field ${d.field}`)
    }
  }
  return out
}

/** a and b lie on one path (a.b.c vs a.b), compared by whole segments. */
const onPath = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`)

function caseProblems(c: FuzzCase, replies: Frame[]): string[] {
  if (replies.length !== 1) return [`${replies.length} replies (want exactly 1)`]
  const f = replies[0]!
  const out: string[] = []
  if (typeof f.timestamp !== 'string' || Number.isNaN(Date.parse(f.timestamp))) out.push('no ISO timestamp')
  if (f.type === 'error') {
    const d = f.data as ErrorReply
    out.push(...errorProblems(d))
    if (d.code === 'RATE_LIMITED' && /too many messages/.test(String(d.message)))
      out.push('rate limited: the test sent too fast')
    if (c.expect.invalidPath) {
      if (d.code !== 'INVALID_MESSAGE') out.push(`code ${String(d.code)}, want INVALID_MESSAGE`)
      else if (typeof d.field !== 'string') out.push(`INVALID_MESSAGE without field (want ${c.expect.invalidPath})`)
      // Every layer names fields by their full path from the envelope (data.…).
      else if (!onPath(d.field, c.expect.invalidPath))
        out.push(`field ${d.field} is not the bad field ${c.expect.invalidPath}`)
      else if (d.field === 'data' && c.expect.invalidPath !== 'data')
        out.push(`field "data" does not say which field (${c.expect.invalidPath}) is bad`)
    }
    if (c.expect.codes && !c.expect.codes.includes(String(d.code)))
      out.push(`code ${String(d.code)}, want one of ${c.expect.codes.join('/')}`)
  } else if (f.type === `${c.base}-response`) {
    if (!c.expect.okAllowed)
      out.push(`succeeded, want ${c.expect.codes?.join('/') ?? `INVALID_MESSAGE (${c.expect.invalidPath})`}`)
  } else out.push(`unexpected reply type ${f.type}`)
  return out
}

// ------------------------------------------------------------ the test

describe('WebSocket API under malformed input (real server, real bridges)', () => {
  let dir = ''
  let vncSock = ''
  let qemu: ChildProcess | undefined
  let sshd: TestSshd
  let server: TestServer
  let watcher: TestClient
  let usersHash = ''
  const watcherStatusAt: number[] = []
  const watcherLatency: number[] = []
  let testUuid = ''
  let cases: FuzzCase[] = []
  let rssBase = 0
  let rssPeak = 0
  let heapBase = 0
  const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort()
  let fuzz: TestClient | undefined
  let realSessions = { vnc: 0, terminal: 0 }

  const usersFileHash = async () =>
    createHash('sha256')
      .update(await readFile(join(server.dataDir, 'users.json')))
      .digest('hex')

  beforeAll(async () => {
    console.log(`server fuzz seed: ${SEED} (VOIDVM_FUZZ_SEED=${SEED} reproduces this run)`)
    net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
      recordConnect(args)
      return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args)
    } as typeof originalConnect

    dir = await mkdtemp(join(tmpdir(), 'voidvm-t-fz-'))
    vncSock = join(dir, 'vnc.sock')
    // QEMU's own VNC server with no machine at all: a real RFB peer that costs no guest CPU.
    qemu = spawn(
      'qemu-system-x86_64',
      ['-machine', 'none', '-nodefaults', '-display', 'none', '-vnc', `unix:${vncSock}`, '-S'],
      {
        stdio: 'ignore',
      },
    )
    for (let i = 0; i < 100 && !existsSync(vncSock); i++) await sleep(50)
    if (!existsSync(vncSock)) throw new Error('QEMU did not create its VNC socket')
    sshd = await startSshd()

    server = await startTestServer({ libvirtUri: 'test:///default' })
    await server.addUser(OP, 'operator', [`${PREFIX}*`])
    await server.addUser('fz-other', 'operator', [`${PREFIX}*`])
    await server.addUser('fz-watch', 'viewer', [`${PREFIX}*`])

    const xml = (name: string, devices: string, meta = '') =>
      `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>${meta}<devices>${devices}</devices></domain>`
    await writeFile(
      join(dir, 'vnc.xml'),
      xml(VNC_VM, `<graphics type='vnc'><listen type='socket' socket='${vncSock}'/></graphics>`),
    )
    await writeFile(
      join(dir, 'ssh.xml'),
      xml(
        SSH_VM,
        '',
        `<metadata><voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="127.0.0.1" port="${sshd.port}"/></metadata>`,
      ),
    )
    await writeFile(join(dir, 'ctl.xml'), xml(CTL_VM, ''))
    // Leftovers of an interrupted run first (errors ignored), then ours.
    await virsh(...OUR_VMS.flatMap(n => [`destroy ${n}`, `undefine ${n}`])).catch(() => '')
    await virsh(
      ...OUR_VMS.map(n => `define ${join(dir, `${n.slice(PREFIX.length)}.xml`)}`),
      ...OUR_VMS.map(n => `start ${n}`),
    )
    testUuid = (await virsh('domuuid test').catch(() => '')).trim()

    watcher = await connect(server.wsUrl, await server.tokenFor('fz-watch'))
    watcher.ws.on('message', raw => {
      if (raw.toString().startsWith('{"type":"vm-status"')) watcherStatusAt.push(Date.now())
    })
    await watcher.request('subscribe', { topic: 'vm-status-all' })
    await watcher.next('vm-status', (d: { name: string }) => d.name === VNC_VM, 10_000)

    cases = generate({
      seed: SEED,
      targets: {
        vnc: VNC_VM,
        ssh: SSH_VM,
        ctl: CTL_VM,
        missing: [`${PREFIX}nope`, `${PREFIX}__proto__`, `${PREFIX}constructor`, `${PREFIX}*`, `${PREFIX}vnc `],
        foreign: [
          'test',
          ...(testUuid ? [testUuid, testUuid.toUpperCase()] : []),
          'TEST',
          ' test',
          '__proto__',
          'constructor',
          'toString',
          'voidvm-t-hv-x',
          '*',
          '../../etc/passwd',
          '00000000-0000-0000-0000-000000000000',
        ],
        sshCreds: { username: sshd.username, password: sshd.password },
      },
      ownToken: await server.tokenFor(OP),
      otherToken: await server.tokenFor('fz-other'),
    })
    usersHash = await usersFileHash()
  })

  afterAll(async () => {
    net.Socket.prototype.connect = originalConnect
    await fuzz?.close().catch(() => undefined)
    await watcher?.close().catch(() => undefined)
    await virsh(...OUR_VMS.flatMap(n => [`destroy ${n}`, `undefine ${n}`])).catch(() => '')
    await server?.close()
    qemu?.kill('SIGTERM')
    await sshd?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('before authentication: every type gets UNAUTHORIZED with its id, bad auth data INVALID_MESSAGE, junk tokens close 1008', async () => {
    const c = await connect(server.wsUrl)
    try {
      for (const type of [...Object.keys(CLIENT_MESSAGES).filter(t => t !== 'auth'), 'no-such-type', '__proto__']) {
        const e = await c.request(type, { vmId: 'test', action: 'start' }).catch((x: unknown) => x)
        expect(e, type).toMatchObject({ code: 'UNAUTHORIZED' })
      }
      for (const [data, field] of [
        [{}, 'data.token'],
        [{ token: '' }, 'data.token'],
        [{ token: 42 }, 'data.token'],
        [{ token: ['x'] }, 'data.token'],
        ['token', 'data'],
      ] as const) {
        const e = await c.request('auth', data).catch((x: unknown) => x)
        expect(e, JSON.stringify(data)).toMatchObject({ code: 'INVALID_MESSAGE', field })
        expect(errorProblems(e as ErrorReply)).toEqual([])
      }
      expect(c.ws.readyState).toBe(WebSocket.OPEN)
    } finally {
      await c.close()
    }
    const forged = (() => {
      const b = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
      return {
        none: `${b({ alg: 'none', typ: 'JWT' })}.${b({ sub: 'x', exp: 4e9 })}.`,
        badSig: `${b({ alg: 'HS256', typ: 'JWT' })}.${b({ sub: 'x', exp: 4e9, __proto__: { admin: true } })}.${'A'.repeat(43)}`,
      }
    })()
    for (const token of ['x', 'a.b.c', forged.none, forged.badSig, '虚拟机😀', 't'.repeat(500_000), '\u0000']) {
      const c2 = await connect(server.wsUrl)
      const e = await c2.request('auth', { token }).catch((x: unknown) => x)
      expect(e, show(token, 40)).toMatchObject({ code: 'UNAUTHORIZED' })
      expect((await c2.closed).code).toBe(1008)
    }
    // And a good token still works afterwards.
    const ok = await connect(server.wsUrl)
    expect(await ok.request('auth', { token: await server.tokenFor(OP) })).toMatchObject({ username: OP })
    await ok.close()
  })

  it(`a seeded stream of malformed frames for every message type gets one documented reply each (seed ${SEED})`, async () => {
    gc()
    rssBase = process.memoryUsage().rss
    heapBase = process.memoryUsage().heapUsed
    rssPeak = rssBase
    fuzz = await connect(server.wsUrl, await server.tokenFor(OP))
    const byId = new Map<string | number, Frame[]>()
    fuzz.ws.on('message', (raw, isBinary) => {
      if (isBinary) return
      const f = JSON.parse(raw.toString()) as Frame
      if (f.id === undefined) return
      const list = byId.get(f.id)
      if (list) list.push(f)
      else byId.set(f.id, [f])
    })
    let closedEarly: { code: number; reason: string } | undefined
    void fuzz.closed.then(c => (closedEarly = c))

    // The well-behaved client keeps asking while the fuzzing runs.
    let fuzzing = true
    const probe = (async () => {
      while (fuzzing) {
        const t0 = Date.now()
        await watcher.request('unsubscribe', { topic: 'system-monitor' }, 10_000)
        watcherLatency.push(Date.now() - t0)
        await sleep(500)
      }
    })()
    const rss = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 200)

    const t0 = Date.now()
    // ~250 frames/s, under the documented 400/s sustained rate.
    for (let i = 0; i < cases.length; i += 25) {
      for (const c of cases.slice(i, i + 25)) fuzz.send(c.frame)
      await sleep(100)
    }
    const sentAt = Date.now()
    const pending = () => cases.filter(c => !byId.has(c.id!))
    while (pending().length > 0 && Date.now() - sentAt < 20_000) await sleep(200)
    await sleep(500) // late duplicates would arrive now
    fuzzing = false
    await probe
    clearInterval(rss)
    const fuzzEnd = Date.now()

    const problems: string[] = []
    for (const c of cases) {
      const p = caseProblems(c, byId.get(c.id!) ?? [])
      if (p.length)
        problems.push(
          `#${c.index} ${c.base} [${c.mutation}] → ${p.join('; ')}\n    sent:  ${show(c.frame)}\n    reply: ${show(JSON.stringify(byId.get(c.id!) ?? []))}`,
        )
    }
    // VOIDVM_FUZZ_DUMP=file writes every frame and its replies, one JSON line each, for inspection.
    if (process.env.VOIDVM_FUZZ_DUMP)
      await writeFile(
        process.env.VOIDVM_FUZZ_DUMP,
        cases.map(c => JSON.stringify({ ...c, frame: show(c.frame, 2000), replies: byId.get(c.id!) ?? [] })).join('\n'),
      )
    const total = cases.length
    const types = new Set(cases.map(c => c.base))
    console.log(
      `fuzz: ${total} frames over ${types.size} types in ${((sentAt - t0) / 1000).toFixed(1)} s, ` +
        `all answered after ${((fuzzEnd - t0) / 1000).toFixed(1)} s; ${problems.length} problems`,
    )
    if (problems.length) console.log(`seed ${SEED}: first problems:\n${problems.slice(0, 15).join('\n')}`)
    expect(problems.slice(0, 15), `seed ${SEED}`).toEqual([])
    expect([...types].sort()).toEqual(Object.keys(CLIENT_MESSAGES).sort())

    // The fuzzing really reached the bridges: real sessions opened, FORBIDDEN and VM_NOT_FOUND came back.
    const replyOf = (c: FuzzCase) => byId.get(c.id!)?.[0]
    realSessions = {
      vnc: cases.filter(c => c.base === 'vnc-connect' && replyOf(c)?.type === 'vnc-connect-response').length,
      terminal: cases.filter(c => c.base === 'terminal-connect' && replyOf(c)?.type === 'terminal-connect-response')
        .length,
    }
    expect(realSessions.vnc).toBeGreaterThan(0)
    expect(realSessions.terminal).toBeGreaterThan(0)
    const codes = new Set(cases.map(c => (replyOf(c)?.data as ErrorReply | undefined)?.code))
    for (const code of ['INVALID_MESSAGE', 'UNKNOWN_TYPE', 'FORBIDDEN', 'VM_NOT_FOUND', 'UNAUTHORIZED'])
      expect(codes, code).toContain(code)

    // The socket stayed open; the second client kept getting vm-status pushes and answers.
    expect(closedEarly).toBeUndefined()
    expect(fuzz.ws.readyState).toBe(WebSocket.OPEN)
    const during = [t0, ...watcherStatusAt.filter(t => t >= t0 && t <= fuzzEnd), fuzzEnd]
    const maxGap = Math.max(...during.slice(1).map((t, i) => t - during[i]!))
    expect(maxGap, 'longest gap between vm-status pushes to the other client (ms)').toBeLessThan(5000)
    expect(Math.max(...watcherLatency), 'slowest reply to the other client (ms)').toBeLessThan(5000)

    // Nothing reached Object.prototype in this process (the server runs in it).
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoKeysBefore)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('frames without a readable id (not JSON, truncated, not objects, binary, bad ids) get one INVALID_MESSAGE each', async () => {
    const c = fuzz!
    const sample = JSON.stringify({ type: 'vm-control', data: { vmId: CTL_VM, action: 'pause' }, id: 'raw' })
    const problems: string[] = []
    for (const rc of generateRaw(SEED, sample)) {
      const before = c.frames.length
      c.send(rc.frame)
      // Polled from the frame log: an earlier id-less push must not count as this frame's reply.
      let reply: Frame | undefined
      for (let t = 0; t < 250 && !reply; t++) {
        reply = c.frames.slice(before).find(f => f.type === 'error' && f.id === rc.id)
        if (!reply) await sleep(20)
      }
      const d = reply?.data as ErrorReply | undefined
      const p: string[] = []
      if (!d) p.push('no reply')
      else {
        p.push(...errorProblems(d))
        if (d.code !== rc.code) p.push(`code ${String(d.code)}, want ${rc.code}`)
        if (rc.field && d.field !== rc.field) p.push(`field ${String(d.field)}, want ${rc.field}`)
      }
      await sleep(20)
      const extra = c.frames.slice(before).filter(f => f.type === 'error' || f.id !== undefined).length - 1
      if (extra > 0) p.push(`${extra} extra replies`)
      if (p.length) problems.push(`#${rc.index} [${rc.mutation}] → ${p.join('; ')}\n    sent: ${show(rc.frame)}`)
    }
    expect(problems, `seed ${SEED}`).toEqual([])
    expect(c.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('a frame over 1 MiB closes only its own socket, with 1009', async () => {
    const c = await connect(server.wsUrl, await server.tokenFor(OP))
    c.send(JSON.stringify({ type: 'subscribe', data: { topic: 'vm-status', vmId: 'x'.repeat(1 << 20) }, id: 1 }))
    expect((await c.closed).code).toBe(1009)
    expect(fuzz!.ws.readyState).toBe(WebSocket.OPEN)
    expect(await watcher.request('unsubscribe', { topic: 'vm-status' })).toEqual({ topic: 'vm-status' })
  })

  it('closing the fuzzing socket ends all its VNC and terminal sessions; nothing leaked, lost or polluted', async () => {
    // Make sure sessions are open at the moment the socket goes (a full cap counts too).
    for (const [type, data] of [
      ['vnc-connect', { vmId: VNC_VM }],
      [
        'terminal-connect',
        { vmId: SSH_VM, type: 'ssh', credentials: { username: sshd.username, password: sshd.password } },
      ],
    ] as const) {
      const r = await fuzz!.request(type, data).catch((e: unknown) => e)
      if (r instanceof Error) expect(r, type).toMatchObject({ code: 'SESSION_LIMIT' })
    }
    expect(await vncConnections(vncSock), 'VNC sessions open before the close').toBeGreaterThan(0)
    expect(await sshdConnections(sshd.port), 'SSH sessions open before the close').toBeGreaterThan(0)
    await fuzz!.close()
    // Seen from the servers' side: no connection left to sshd or to QEMU's VNC socket.
    await expect.poll(() => sshdConnections(sshd.port), { timeout: 10_000 }).toBe(0)
    await expect.poll(() => vncConnections(vncSock), { timeout: 10_000 }).toBe(0)
    // And in the audit log: every session opened by the fuzzing user was closed.
    const lines = (await auditLines(server.dataDir)).filter(l => l.username === OP)
    const count = (action: string, result?: string) =>
      lines.filter(l => l.action === action && (!result || l.result === result)).length
    expect(count('vnc-connect', 'ok')).toBeGreaterThanOrEqual(realSessions.vnc)
    expect(count('vnc-closed')).toBe(count('vnc-connect', 'ok'))
    expect(count('terminal-open', 'ok')).toBeGreaterThanOrEqual(realSessions.terminal)
    expect(count('terminal-close')).toBe(count('terminal-open', 'ok'))
    // Nothing the fuzzing user did succeeded on a VM outside voidvm-t-fz-*.
    expect(lines.filter(l => l.result === 'ok' && l.vmId !== undefined && !l.vmId.startsWith(PREFIX))).toEqual([])

    // A new socket of the same user can open the full number of VNC sessions (4), not one more.
    const c = await connect(server.wsUrl, await server.tokenFor(OP))
    try {
      for (let i = 0; i < 4; i++) await c.request('vnc-connect', { vmId: VNC_VM })
      expect(await c.request('vnc-connect', { vmId: VNC_VM }).catch((e: unknown) => e)).toMatchObject({
        code: 'SESSION_LIMIT',
      })
    } finally {
      await c.close()
    }
    await expect.poll(() => vncConnections(vncSock), { timeout: 10_000 }).toBe(0)

    // Users file untouched; our VMs all still defined.
    expect(await usersFileHash()).toBe(usersHash)
    const list = await virsh('list --all --name')
    for (const n of OUR_VMS) expect(list).toContain(n)

    // Memory: a bounded peak while fuzzing, and back near the start once collected.
    gc()
    const heapAfter = process.memoryUsage().heapUsed
    console.log(
      `memory: rss base ${(rssBase / 2 ** 20).toFixed(0)} MiB, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB; ` +
        `heap ${(heapBase / 2 ** 20).toFixed(0)} → ${(heapAfter / 2 ** 20).toFixed(0)} MiB`,
    )
    expect(rssPeak - rssBase).toBeLessThan(400 * 2 ** 20)
    expect(heapAfter - heapBase).toBeLessThan(64 * 2 ** 20)

    // Only loopback (or unix sockets) was ever connected to: never the test domain's fake 192.168.122.3.
    const remote = outbound.filter(o => o.path === undefined && !isLoopback(o.host))
    expect(remote).toEqual([])
    expect(outbound.some(o => o.path === vncSock)).toBe(true)
    expect(outbound.some(o => o.port === sshd.port)).toBe(true)
  })
})
