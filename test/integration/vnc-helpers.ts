/**
 * Helpers shared by the VNC integration tests: viewers speaking RFB over
 * vnc-data or the binary fast path, the guest's serial console as the
 * fixture sees it, typing over vnc-input until the guest shows the result,
 * and error-reply checks.
 */
import { spawn } from 'node:child_process'
import WebSocket from 'ws'
import { expect } from 'vitest'
import type { Logger } from '../../src/main/server/index.js'
import { hasNonBlackPixel, MiniRfbClient } from '../../src/main/vnc/rfb-client.js'
import { virsh, waitFor } from '../fixtures/guest.js'
import { refusal, type Frame, type ReplyError, type TestClient } from '../fixtures/ws-client.js'

export interface ConnectReply {
  vmId: string
  sessionId: string
  width: number
  height: number
  name: string
  url?: string
}

/** Reads the guest's serial console from its pty (fixture side, not the code under test). */
export function serialReader(pty: string): { text: () => string; stop: () => void } {
  let out = ''
  // `cat` on the pty slave after putting it in raw mode; the guest's ttyS0 output arrives here.
  const child = spawn('sh', ['-c', `stty -F ${pty} raw -echo && exec cat ${pty}`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  child.stdout.on('data', d => (out += String(d)))
  return { text: () => out, stop: () => void child.kill() }
}

let dataSeq = 0
/** A viewer speaking RFB through vnc-data pushes and messages. */
export function jsonViewer(client: TestClient, vmId: string, sessionId: string): MiniRfbClient {
  const rfb = new MiniRfbClient(b =>
    client.send({ type: 'vnc-data', id: `vd${++dataSeq}`, data: { vmId, sessionId, data: b.toString('base64') } }),
  )
  const take = (f: Frame): void => {
    const d = f.data as { sessionId?: string; data?: string; reason?: string }
    if (d?.sessionId !== sessionId || f.id !== undefined) return
    if (f.type === 'vnc-data') rfb.push(Buffer.from(d.data ?? '', 'base64'))
    if (f.type === 'vnc-closed') rfb.fail(new Error(`session closed: ${d.reason}`))
  }
  // Pushes that arrived with the reply are already in `frames`.
  for (const f of client.frames) take(f)
  client.ws.on('message', (raw, isBinary) => {
    if (!isBinary) take(JSON.parse(raw.toString()) as Frame)
  })
  return rfb
}

/** A viewer on the binary fast path. */
export async function wsViewer(url: string): Promise<{ rfb: MiniRfbClient; ws: WebSocket }> {
  const ws = new WebSocket(url)
  const rfb = new MiniRfbClient(b => ws.send(b))
  ws.on('message', (d: Buffer) => rfb.push(Buffer.from(d)))
  ws.on('close', (code, reason) => rfb.fail(new Error(`ws closed ${code} ${reason.toString()}`)))
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok())
    ws.once('error', fail)
  })
  return { rfb, ws }
}

/** Asks for full updates until one shows something other than black (the guest's console). */
export async function expectConsolePixels(rfb: MiniRfbClient, what: string): Promise<void> {
  await waitFor(
    async () => {
      rfb.requestUpdate(false)
      return hasNonBlackPixel(await rfb.readUpdate()) || undefined
    },
    30_000,
    what,
  )
}

/**
 * Types `echo vnc-ok-$((6*7)) > /dev/ttyS0` + Enter over vnc-input only, retyping
 * while tty1's shell starts, until `vnc-ok-42` shows on the serial console.
 */
export async function typeUntilSerial(
  client: TestClient,
  vmId: string,
  serial: { text: () => string },
  sessionId?: string,
  opts: {
    /** Shell command typed as `text` (default: echo vnc-ok-$((6*7)) > /dev/ttyS0). */
    command?: string
    /** What the serial console must show (default vnc-ok-42). */
    expect?: string
    /** A key held down (vnc-input keyboard) while the text is typed, released after. */
    holding?: string
  } = {},
): Promise<void> {
  const command = opts.command ?? 'echo vnc-ok-$((6*7)) > /dev/ttyS0'
  const marker = opts.expect ?? 'vnc-ok-42'
  let last = 0
  const input = (d: object): Promise<unknown> => client.request('vnc-input', { vmId, sessionId, ...d })
  await waitFor(
    async () => {
      if (serial.text().includes(marker)) return true
      if (Date.now() - last > 6000) {
        last = Date.now()
        if (opts.holding) await input({ inputType: 'keyboard', key: opts.holding, down: true })
        await input({ inputType: 'text', text: command })
        if (opts.holding) await input({ inputType: 'keyboard', key: opts.holding, down: false })
        await input({ inputType: 'keyboard', key: 'Enter', down: true })
        await input({ inputType: 'keyboard', key: 'Enter', down: false })
      }
      return undefined
    },
    45_000,
    `${marker} on the guest serial console`,
  )
}

/** The request is refused with `code` (and names `field`, when given). */
export async function expectError(p: Promise<unknown>, code: string, field?: string): Promise<ReplyError> {
  const r = await refusal(p)
  expect(r.code).toBe(code)
  if (field) expect(r.field).toBe(field)
  return r
}

/** Number of VNC clients QEMU reports for a guest (`info vnc`). */
export async function qemuVncClients(name: string): Promise<number> {
  const out = await virsh('qemu-monitor-command', '--hmp', name, 'info vnc')
  return (out.match(/^\s*Client:/gm) ?? []).length
}

/** A server logger that keeps every line, so a test can check what was (never) logged. */
export function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const add = (level: string) => (m: string, f?: Record<string, unknown>) =>
    void lines.push(`${level} ${m} ${JSON.stringify(f ?? {})}`)
  return { log: { debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') }, lines }
}
