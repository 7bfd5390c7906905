/**
 * Helpers for the terminal integration tests: a VoidVM server on the system
 * libvirtd (qemu:///system) running the hypervisor and terminal bridges, and a
 * per-session view of `terminal-output` text.
 */
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'
import { createTerminalBridge, type TerminalBridgeOptions } from '../../src/main/terminal/index.js'
import type { TerminalClosedData, TerminalOutputData } from '../../src/shared/protocol.js'
import { QEMU_URI } from '../fixtures/guest.js'
import { startTestServer, type TestServer, type TestServerOptions } from '../fixtures/server.js'
import type { TestClient } from '../fixtures/ws-client.js'

export async function startTerminalServer(
  opts: TerminalBridgeOptions = {},
  limits?: TestServerOptions['limits'],
): Promise<TestServer> {
  return startTestServer({
    libvirtUri: QEMU_URI,
    limits,
    bridges: async ctx => {
      const hv = await createHypervisorBridge(ctx, { uri: QEMU_URI })
      return [hv.bridge, createTerminalBridge(ctx, hv.directory, opts)]
    },
  })
}

export interface TerminalView {
  /** Everything a session printed so far (decoded text, as pushed). */
  text(sessionId: string): string
  /** Every output push's text for a session, in order. */
  chunks(sessionId: string): string[]
  /** Resolves once the session's output contains `needle` (after `from` chars). */
  waitFor(sessionId: string, needle: string | RegExp, timeoutMs?: number, from?: number): Promise<string>
  closed(sessionId: string): TerminalClosedData | undefined
  waitClosed(sessionId: string, timeoutMs?: number): Promise<TerminalClosedData>
  /** Stops keeping chunks (for floods); text is still counted in bytes(). */
  keepChunks: boolean
  bytes(sessionId: string): number
}

export function terminalView(c: TestClient): TerminalView {
  const chunks = new Map<string, string[]>()
  const texts = new Map<string, string>()
  const bytes = new Map<string, number>()
  const closed = new Map<string, TerminalClosedData>()
  const listeners = new Set<() => void>()
  const view: TerminalView = {
    keepChunks: true,
    text: id => texts.get(id) ?? '',
    chunks: id => chunks.get(id) ?? [],
    bytes: id => bytes.get(id) ?? 0,
    closed: id => closed.get(id),
    waitFor(id, needle, timeoutMs = 20_000, from = 0) {
      const test = () => {
        const t = (texts.get(id) ?? '').slice(from)
        return typeof needle === 'string' ? t.includes(needle) : needle.test(t)
      }
      return new Promise((ok, fail) => {
        if (test()) return ok(view.text(id))
        const l = () => {
          if (!test()) return
          listeners.delete(l)
          clearTimeout(timer)
          ok(view.text(id))
        }
        const timer = setTimeout(() => {
          listeners.delete(l)
          fail(
            new Error(
              `timed out waiting for ${String(needle)} in session ${id}; got ${JSON.stringify(view.text(id).slice(-400))}`,
            ),
          )
        }, timeoutMs)
        listeners.add(l)
      })
    },
    waitClosed(id, timeoutMs = 20_000) {
      return new Promise((ok, fail) => {
        const c0 = closed.get(id)
        if (c0) return ok(c0)
        const l = () => {
          const c1 = closed.get(id)
          if (!c1) return
          listeners.delete(l)
          clearTimeout(timer)
          ok(c1)
        }
        const timer = setTimeout(() => {
          listeners.delete(l)
          fail(new Error(`timed out waiting for terminal-closed of ${id}`))
        }, timeoutMs)
        listeners.add(l)
      })
    },
  }
  c.ws.on('message', (raw, isBinary) => {
    if (isBinary) return
    const s = raw.toString()
    if (!s.startsWith('{"type":"terminal-')) return
    const f = JSON.parse(s) as { type: string; data: unknown }
    if (f.type === 'terminal-output') {
      const d = f.data as TerminalOutputData
      bytes.set(d.sessionId, (bytes.get(d.sessionId) ?? 0) + Buffer.byteLength(d.output))
      if (!view.keepChunks) return
      const list = chunks.get(d.sessionId) ?? []
      list.push(d.output)
      chunks.set(d.sessionId, list)
      texts.set(d.sessionId, (texts.get(d.sessionId) ?? '') + d.output)
    } else if (f.type === 'terminal-closed') {
      const d = f.data as TerminalClosedData
      closed.set(d.sessionId, d)
    } else return
    for (const l of [...listeners]) l()
  })
  return view
}
