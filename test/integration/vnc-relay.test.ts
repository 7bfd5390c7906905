/**
 * The relay's byte integrity under load: a synthetic RFB server streams
 * full-screen Raw updates whose every pixel encodes its position, through
 * the real server and VNC bridge, to viewers on the binary fast path and on
 * the JSON tunnel at once, some of them stalling long enough for the proxy
 * to stop reading and resume. Every frame must arrive byte for byte: the
 * proxy reuses its read and frame buffers, and a buffer reused too early
 * would show here as pixels from another place or another frame.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVncBridge } from '../../src/main/vnc/index.js'
import type { MiniRfbClient } from '../../src/main/vnc/rfb-client.js'
import {
  startSyntheticRfbServer,
  syntheticPixels,
  syntheticVmDirectory,
  type SyntheticRfbServer,
} from '../fixtures/rfb-server.js'
import { startTestServer, type TestServer } from '../fixtures/server.js'
import { connect, type TestClient } from '../fixtures/ws-client.js'
import { jsonViewer, wsViewer, type ConnectReply } from './vnc-helpers.js'

const VM = 'synthetic-vm'
const WIDTH = 800
const HEIGHT = 600
const FRAMES = 8

describe('VNC relay integrity (synthetic RFB server, real server and bridge)', () => {
  let rfbServer: SyntheticRfbServer
  let server: TestServer
  let token: string
  const clients: TestClient[] = []
  const expected = syntheticPixels(WIDTH, HEIGHT)

  beforeAll(async () => {
    rfbServer = await startSyntheticRfbServer(WIDTH, HEIGHT)
    server = await startTestServer({
      bridges: async ctx => [
        // A small high-water mark, so a stalled viewer makes the proxy pause QEMU's side quickly.
        createVncBridge(ctx, syntheticVmDirectory(rfbServer.port, VM), {
          highWater: 128 * 1024,
        }),
      ],
      limits: { messagesPerSecond: 10_000, messageBurst: 10_000 },
    })
    await server.addUser('viewer', 'operator', [VM])
    token = await server.tokenFor('viewer')
  })

  afterAll(async () => {
    for (const c of clients) await c.close()
    await server?.close()
    await rfbServer?.close()
  })

  async function client(): Promise<TestClient> {
    const c = await connect(server.wsUrl, token)
    clients.push(c)
    return c
  }

  /**
   * Reads FRAMES full-screen updates. A stalled viewer asks for all of them at
   * once and stops reading for a while: far more than the kernel's socket
   * buffers hold is then in flight, so the proxy's writes queue and it stops
   * reading from the VNC server until the viewer drains.
   */
  async function readFrames(rfb: MiniRfbClient, stall?: { pause(): void; resume(): void }): Promise<void> {
    const init = await rfb.handshake()
    expect([init.width, init.height]).toEqual([WIDTH, HEIGHT])
    if (stall) {
      for (let i = 0; i < FRAMES; i++) rfb.requestUpdate(false)
      stall.pause()
      await new Promise(r => setTimeout(r, 400))
      stall.resume()
    }
    for (let i = 0; i < FRAMES; i++) {
      if (!stall) rfb.requestUpdate(false)
      const rects = await rfb.readUpdate()
      expect(rects).toHaveLength(1)
      const r = rects[0]!
      expect([r.x, r.y, r.w, r.h]).toEqual([0, 0, WIDTH, HEIGHT])
      expect(r.pixels.length).toBe(expected.length)
      // Compare without printing megabytes on failure: find the first differing byte.
      const firstDiff = r.pixels.equals(expected) ? -1 : r.pixels.findIndex((b, j) => b !== expected[j])
      expect(firstDiff, `frame ${i}: first wrong byte`).toBe(-1)
    }
  }

  it('delivers every frame byte for byte to fast-path and JSON viewers at once, stalled or not', async () => {
    const viewers: Promise<void>[] = []
    for (const stalled of [false, true]) {
      // Binary fast path.
      const ctl = await client()
      const fast = await ctl.request<ConnectReply>('vnc-connect', { vmId: VM, transport: 'websocket' })
      const { rfb, ws } = await wsViewer(server.url.replace(/^http/, 'ws') + fast.url!)
      viewers.push(readFrames(rfb, stalled ? ws : undefined).finally(() => ws.close()))
      // JSON tunnel (base64 vnc-data pushes).
      const c = await client()
      const json = await c.request<ConnectReply>('vnc-connect', { vmId: VM })
      viewers.push(readFrames(jsonViewer(c, VM, json.sessionId), stalled ? c.ws : undefined))
    }
    await Promise.all(viewers)
  }, 20_000) // about a second when right; corrupted framing would otherwise hang until the default timeout
})
