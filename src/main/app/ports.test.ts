import { createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { isPortFree, listenWithFallback } from './ports.js'

const open: Server[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map(s => new Promise(r => s.close(r))))
})

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => {
      open.push(s)
      resolve(s)
    })
  })
}
const portOf = (s: Server) => (s.address() as { port: number }).port

describe('port selection', () => {
  it('uses the configured port when it is free', async () => {
    const probe = await listen(0)
    const port = portOf(probe)
    await new Promise(r => probe.close(r))
    open.splice(open.indexOf(probe), 1)
    expect(await isPortFree('127.0.0.1', port)).toBe(true)
    const r = await listenWithFallback(port, listen)
    expect(r.fellBack).toBe(false)
    expect(portOf(r.value)).toBe(port)
  })

  it('falls back to an ephemeral port when the configured one is taken', async () => {
    const taken = portOf(await listen(0))
    expect(await isPortFree('127.0.0.1', taken)).toBe(false)
    const r = await listenWithFallback(taken, listen)
    expect(r.fellBack).toBe(true)
    expect(portOf(r.value)).not.toBe(taken)
    expect(portOf(r.value)).toBeGreaterThan(0)
  })

  it('propagates other errors and rejects invalid ports', async () => {
    await expect(listenWithFallback(3000, () => Promise.reject(new Error('libvirt exploded')))).rejects.toThrow(
      'libvirt exploded',
    )
    await expect(listenWithFallback(70000, listen)).rejects.toThrow(/0 to 65535/)
    await expect(listenWithFallback(1.5, listen)).rejects.toThrow(RangeError)
  })
})
