import { describe, expect, it } from 'vitest'
import { ScreenSize, type Size } from './screen-size.js'

/** A probe whose answer and failure the test sets, counting calls. */
function probeOf(initial: Size) {
  const p = {
    current: initial as Size,
    fail: undefined as string | undefined,
    calls: 0,
    read: async (): Promise<Size> => {
      p.calls++
      await new Promise(r => setTimeout(r, 5))
      if (p.fail) throw new Error(p.fail)
      return { ...p.current }
    },
  }
  return p
}

describe('ScreenSize', () => {
  it('accepts points inside the known size without re-reading it', async () => {
    const p = probeOf({ width: 720, height: 400 })
    const s = new ScreenSize({ width: 720, height: 400 }, p.read)
    expect(await s.contains(0, 0)).toBe(true)
    expect(await s.contains(719, 399)).toBe(true)
    expect(p.calls).toBe(0)
  })

  it('re-learns a larger size before refusing, and then accepts the point', async () => {
    const p = probeOf({ width: 1024, height: 768 })
    const s = new ScreenSize({ width: 720, height: 400 }, p.read)
    expect(await s.contains(1000, 700)).toBe(true)
    expect({ w: s.width, h: s.height, calls: p.calls }).toEqual({ w: 1024, h: 768, calls: 1 })
  })

  it('re-reads at most once per interval; concurrent checks share one re-read', async () => {
    let now = 10_000
    const p = probeOf({ width: 720, height: 400 })
    const s = new ScreenSize({ width: 720, height: 400 }, p.read, 1000, () => now)
    const both = await Promise.all([s.contains(800, 10), s.contains(10, 500)])
    expect(both).toEqual([false, false])
    expect(p.calls).toBe(1)
    now += 999
    p.current = { width: 1024, height: 768 }
    expect(await s.contains(800, 10)).toBe(false) // still within the interval: no new read
    expect(p.calls).toBe(1)
    now += 1
    expect(await s.contains(800, 10)).toBe(true)
    expect(p.calls).toBe(2)
  })

  it('follows a shrink too, and keeps the known size (saying why) when the re-read fails', async () => {
    let now = 0
    const p = probeOf({ width: 640, height: 480 })
    const s = new ScreenSize({ width: 1024, height: 768 }, p.read, 1000, () => now)
    // A point inside the old size is trusted (QEMU clamps it); one outside triggers a re-read.
    expect(await s.contains(1000, 10)).toBe(true)
    expect(p.calls).toBe(0)
    expect(await s.contains(1030, 10)).toBe(false)
    expect({ w: s.width, h: s.height }).toEqual({ w: 640, h: 480 })
    now += 5000
    p.fail = 'the VNC server refused the connection'
    expect(await s.contains(700, 10)).toBe(false)
    expect({ w: s.width, h: s.height, why: s.lastFailure }).toEqual({
      w: 640,
      h: 480,
      why: 'the VNC server refused the connection',
    })
    now += 5000
    p.fail = undefined
    p.current = { width: 800, height: 600 }
    expect(await s.contains(700, 10)).toBe(true)
    expect(s.lastFailure).toBeUndefined()
  })
})
