import { describe, expect, it } from 'vitest'
import { Utf8Stream } from './utf8.js'

describe('Utf8Stream', () => {
  it('keeps 虚拟机 whole when every byte arrives in its own chunk', () => {
    const bytes = Buffer.from('虚拟机 ok', 'utf8')
    const d = new Utf8Stream()
    const parts: string[] = []
    for (const b of bytes) parts.push(d.write(Uint8Array.of(b)))
    parts.push(d.end())
    expect(parts.join('')).toBe('虚拟机 ok')
    // No part ever holds half a character.
    for (const p of parts) expect(p).not.toContain('\uFFFD')
  })

  it('decodes a 4-byte emoji split 1+3 and invalid bytes as U+FFFD', () => {
    const e = Buffer.from('😀', 'utf8')
    const d = new Utf8Stream()
    expect(d.write(e.subarray(0, 1))).toBe('')
    expect(d.write(e.subarray(1))).toBe('😀')
    expect(d.write(Uint8Array.of(0xff, 0x41))).toBe('\uFFFDA')
  })

  it('flushes an incomplete tail at the end', () => {
    const d = new Utf8Stream()
    expect(d.write(Buffer.from('虚', 'utf8').subarray(0, 2))).toBe('')
    expect(d.end()).toBe('\uFFFD')
  })
})
