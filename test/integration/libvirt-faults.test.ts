// Fault cases against a PRIVATE libvirtd (test/fixtures/private-libvirtd.ts)
// that this file may kill, freeze and restart: the system daemon is never touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LibvirtClient,
  LibvirtConnectionError,
  LibvirtNotConnectedError,
  LibvirtTimeoutError,
  LifecycleEvent,
  Proc,
  ReconnectingLibvirt,
} from '../../src/main/libvirt/index.js'
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../fixtures/private-libvirtd.js'
import { recordEvents, testDriverXml } from './libvirt-helpers.js'

describe('libvirt client fault handling (private libvirtd)', () => {
  let daemon: PrivateLibvirtd

  beforeAll(async () => {
    daemon = await startPrivateLibvirtd()
  })

  afterAll(async () => {
    await daemon?.dispose()
  })

  it('connects to the private daemon through its socket URI', async () => {
    const lv = await LibvirtClient.connect(daemon.uri)
    expect(await lv.getUri()).toBe('test:///default')
    expect((await lv.listAllDomains()).map(d => d.name)).toEqual(['test'])
    await lv.close()
  })

  it('times out a call that gets no reply, with a clear error, and recovers', async () => {
    const lv = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 500, keepaliveIntervalMs: 0 })
    daemon.pause()
    try {
      const t0 = Date.now()
      const err = await lv.getHostname().catch((e: unknown) => e)
      const took = Date.now() - t0
      expect(err).toBeInstanceOf(LibvirtTimeoutError)
      expect((err as LibvirtTimeoutError).procedure).toBe(Proc.CONNECT_GET_HOSTNAME)
      expect((err as Error).message).toMatch(/no reply within 500 ms/)
      expect(took).toBeGreaterThanOrEqual(450)
      expect(took).toBeLessThan(3000)
    } finally {
      daemon.resume()
    }
    // The late reply is dropped; the connection still works.
    expect(await lv.getUri()).toBe('test:///default')
    await lv.close()
  })

  it('declares a frozen daemon dead via keepalive and reports the close', async () => {
    const lv = await LibvirtClient.connect(daemon.uri, { keepaliveIntervalMs: 200, keepaliveCount: 2 })
    const closed = new Promise<Error | undefined>(r => lv.once('close', r))
    daemon.pause()
    try {
      const err = await Promise.race([closed, new Promise(r => setTimeout(() => r('no close'), 5000))])
      expect(err).toBeInstanceOf(LibvirtConnectionError)
      expect((err as LibvirtConnectionError).reason).toBe('keepalive-timeout')
      expect(lv.isOpen).toBe(false)
      await expect(lv.getUri()).rejects.toBeInstanceOf(LibvirtConnectionError)
    } finally {
      daemon.resume()
    }
  })

  it('fails pending calls at once when the daemon is killed, and reports the drop', async () => {
    const lv = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 20_000 })
    const closed = new Promise<Error | undefined>(r => lv.once('close', r))
    daemon.pause()
    const pending = lv.getHostname().catch((e: unknown) => e)
    await new Promise(r => setTimeout(r, 100))
    try {
      const t0 = Date.now()
      await daemon.kill()
      const err = await pending
      expect(Date.now() - t0).toBeLessThan(2000)
      expect(err).toBeInstanceOf(LibvirtConnectionError)
      expect(await closed).toBeInstanceOf(LibvirtConnectionError)
    } finally {
      // The next tests need the daemon up whatever happened here.
      await daemon.start()
    }
  })

  it('reconnects after the daemon is killed and restarted: disconnected, reconnected, calls and events work again', async () => {
    const rl = new ReconnectingLibvirt(daemon.uri, { initialDelayMs: 100, maxDelayMs: 1000 })
    const log: string[] = []
    rl.on('connected', () => log.push('connected'))
    rl.on('disconnected', () => log.push('disconnected'))
    rl.on('reconnected', () => log.push('reconnected'))
    let failures = 0
    rl.on('connect-failed', () => void failures++)
    const events = recordEvents(rl)
    await daemon.start()
    try {
      await rl.start()
      expect(rl.connected).toBe(true)
      expect(await rl.client.getUri()).toBe('test:///default')

      const disconnected = new Promise<Error>(r => rl.once('disconnected', r))
      await daemon.kill()
      const why = await disconnected
      expect(why).toBeInstanceOf(LibvirtConnectionError)
      expect(rl.connected).toBe(false)
      expect(() => rl.client).toThrow(LibvirtNotConnectedError)
      await expect(rl.call(c => c.getUri())).rejects.toBeInstanceOf(LibvirtNotConnectedError)

      // Let a few attempts fail against the missing socket before the daemon returns.
      await new Promise(r => setTimeout(r, 700))
      expect(failures).toBeGreaterThan(0)
      const reconnected = new Promise<LibvirtClient>(r => rl.once('reconnected', r))
      await daemon.start()
      const client = await reconnected
      expect(await client.getUri()).toBe('test:///default')
      expect(await rl.call(c => c.listAllDomains())).toHaveLength(1)
      expect(log).toEqual(['connected', 'disconnected', 'connected', 'reconnected'])

      // Event registration was renewed on the new connection.
      const name = `voidvm-t-lv-rc${process.pid}`
      await rl.client.domainDefineXml(testDriverXml(name))
      await events.waitLifecycle(name, LifecycleEvent.DEFINED, 5000)
      await rl.client.domainUndefine(name)
      await events.waitLifecycle(name, LifecycleEvent.UNDEFINED, 5000)
    } finally {
      await rl.close()
    }
    expect(rl.connected).toBe(false)
  })

  it('reports a missing socket without hanging, and the wrapper keeps retrying with backoff', async () => {
    const missing = `${daemon.dir}/no-such-sock`
    const err = await LibvirtClient.connect(`test+unix:///default?socket=${missing}`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as Error).message).toContain(missing)
    const rl = new ReconnectingLibvirt(`test+unix:///default?socket=${missing}`, {
      initialDelayMs: 50,
      maxDelayMs: 400,
    })
    const delays: number[] = []
    rl.on('connect-failed', (_e, _n, d) => void delays.push(d))
    await expect(rl.start()).rejects.toBeInstanceOf(LibvirtConnectionError)
    await new Promise(r => setTimeout(r, 1200))
    await rl.close()
    expect(delays.length).toBeGreaterThanOrEqual(3)
    // Exponential growth (with ±20 % jitter), capped at maxDelayMs.
    expect(delays[2]!).toBeGreaterThan(delays[0]!)
    expect(Math.max(...delays)).toBeLessThanOrEqual(400 * 1.2)
  })
})
