import { describe, expect, it } from 'vitest'
import { base64PushFrame, pushFrame } from './connection.js'

const status = (name: string) => ({
  vmId: name,
  uuid: '00000000-0000-0000-0000-000000000001',
  name,
  status: 'running',
  cpu: 12.5,
  memory: 40,
  network: { rx: 1, tx: 2 },
  disk: { read: 3, write: 4 },
  vcpus: 2,
  memoryKiB: 65536,
})

const tick = () => new Promise(r => setTimeout(r, 5))

describe('pushFrame', () => {
  it('is byte-identical to stringifying the push, timestamp included', () => {
    const data = status('vm-ü "quoted"\n')
    const frame = pushFrame('vm-status', data)
    const { timestamp } = JSON.parse(frame) as { timestamp: string }
    expect(new Date(timestamp).toISOString()).toBe(timestamp)
    expect(Math.abs(Date.parse(timestamp) - Date.now())).toBeLessThan(1000)
    expect(frame).toBe(JSON.stringify({ type: 'vm-status', data, timestamp }))
  })

  it('serialises one data object once per fan-out: every socket gets the same frame', () => {
    const data = status('a')
    const first = pushFrame('vm-status', data)
    for (let i = 0; i < 100; i++) expect(pushFrame('vm-status', data)).toBe(first)
    // Another object with equal content is serialised on its own.
    expect(JSON.parse(pushFrame('vm-status', status('a')))).toMatchObject({ data: status('a') })
    // The same object under another type is not mixed up with the cached one.
    expect(JSON.parse(pushFrame('system-event', data))).toMatchObject({ type: 'system-event', data })
    expect(JSON.parse(pushFrame('vm-status', data))).toMatchObject({ type: 'vm-status', data })
  })

  it('a later push of the same object gets a fresh timestamp (and its current content)', async () => {
    const data = status('b')
    const first = JSON.parse(pushFrame('vm-status', data)) as { timestamp: string }
    await tick()
    data.cpu = 99
    const later = JSON.parse(pushFrame('vm-status', data)) as { timestamp: string; data: { cpu: number } }
    expect(Date.parse(later.timestamp)).toBeGreaterThan(Date.parse(first.timestamp))
    expect(later.data.cpu).toBe(99)
  })

  it('ends the cache at the next microtask: a push after an await is not served a stale frame', async () => {
    const data = status('c')
    const first = pushFrame('vm-status', data)
    await Promise.resolve()
    data.cpu = 1
    expect(pushFrame('vm-status', data)).not.toBe(first)
  })
})

describe('base64PushFrame', () => {
  const cases: [string, Record<string, string>, number][] = [
    ['empty payload', { vmId: 'vm1', sessionId: 's1' }, 0],
    ['small payload', { vmId: 'vm1', sessionId: 's1' }, 7],
    ['non-ASCII and escaped fields', { vmId: 'vm-中文 "x"\\', sessionId: 's\n2' }, 1000],
    ['no other fields', {}, 3],
    ['a 1 MiB framebuffer chunk', { vmId: 'vm1', sessionId: 's1' }, 1 << 20],
  ]
  for (const [what, data, n] of cases)
    it(`is byte-identical to JSON.stringify of the whole push (${what})`, () => {
      const bytes = Buffer.alloc(n)
      for (let i = 0; i < n; i++) bytes[i] = (i * 131 + 7) & 255
      const frame = base64PushFrame('vnc-data', data, 'data', bytes)
      const { timestamp } = JSON.parse(frame.toString('utf8')) as { timestamp: string }
      expect(new Date(timestamp).toISOString()).toBe(timestamp)
      const want = JSON.stringify({ type: 'vnc-data', data: { ...data, data: bytes.toString('base64') }, timestamp })
      expect(frame.equals(Buffer.from(want))).toBe(true)
    })

  it('encodes only the bytes of a view, not the rest of its backing buffer', () => {
    const backing = Buffer.from('0123456789')
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 3)
    const parsed = JSON.parse(base64PushFrame('vnc-data', {}, 'data', view).toString()) as { data: { data: string } }
    expect(Buffer.from(parsed.data.data, 'base64').toString()).toBe('234')
  })
})
