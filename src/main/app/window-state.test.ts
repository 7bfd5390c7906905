import { describe, expect, it } from 'vitest'
import { DEFAULT_WINDOW, restoreWindowState } from './window-state.js'

const laptop = { x: 0, y: 0, width: 1440, height: 900 }
const external = { x: 1440, y: 0, width: 2560, height: 1440 }

describe('window bounds', () => {
  it('restores saved bounds on a display that exists', () => {
    const saved = { x: 1600, y: 100, width: 1400, height: 900, maximized: true }
    expect(restoreWindowState(saved, [laptop, external])).toEqual(saved)
  })
  it('drops the position when the display is gone, keeping a size that fits', () => {
    const saved = { x: 1600, y: 100, width: 2000, height: 1200, maximized: false }
    expect(restoreWindowState(saved, [laptop])).toEqual({ width: 1440, height: 900, maximized: false })
  })
  it('drops a position whose title bar is off screen', () => {
    expect(restoreWindowState({ x: 100, y: -500, width: 1000, height: 600 }, [laptop])).toEqual({
      width: 1000,
      height: 600,
      maximized: false,
    })
  })
  it('uses defaults for missing or malformed state', () => {
    expect(restoreWindowState(undefined, [laptop])).toEqual(DEFAULT_WINDOW)
    expect(restoreWindowState({ width: 'big' }, [laptop])).toEqual(DEFAULT_WINDOW)
    expect(restoreWindowState({ width: 10, height: 10 }, [laptop])).toEqual(DEFAULT_WINDOW)
  })
})
