/**
 * Window bounds remembered between runs, clamped so a window saved on a
 * monitor that is gone reopens on one that exists.
 */
import { z } from 'zod'

export const windowState = z.object({
  x: z.number().int().optional(),
  y: z.number().int().optional(),
  width: z.number().int().min(400).max(16384),
  height: z.number().int().min(300).max(16384),
  maximized: z.boolean().default(false),
})
export type WindowState = z.infer<typeof windowState>

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}

export const DEFAULT_WINDOW: WindowState = { width: 1280, height: 800, maximized: false }
export const MIN_WIDTH = 800
export const MIN_HEIGHT = 560

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y)
  return w > 0 && h > 0 ? w * h : 0
}

/**
 * The bounds to open with: the saved ones when at least a reasonable part
 * (a 100×50 grab area) lies on one of the displays' work areas, otherwise the
 * saved size (shrunk to fit) without a position, so the OS centres it.
 */
export function restoreWindowState(saved: unknown, workAreas: readonly Rect[]): WindowState {
  const parsed = windowState.safeParse(saved)
  if (!parsed.success) return { ...DEFAULT_WINDOW }
  const s = parsed.data
  const largest = workAreas.reduce<Rect | undefined>(
    (a, b) => (!a || b.width * b.height > a.width * a.height ? b : a),
    undefined,
  )
  const fit = (w: Rect | undefined): Pick<WindowState, 'width' | 'height'> => ({
    width: w ? Math.min(s.width, w.width) : s.width,
    height: w ? Math.min(s.height, w.height) : s.height,
  })
  if (s.x === undefined || s.y === undefined) return { ...fit(largest), maximized: s.maximized }
  const rect = { x: s.x, y: s.y, width: s.width, height: s.height }
  const titleBar = { x: s.x, y: s.y, width: s.width, height: 50 }
  const home = workAreas.find(w => overlap(titleBar, w) >= Math.min(100 * 50, s.width * 50) && overlap(rect, w) > 0)
  if (!home) return { ...fit(largest), maximized: s.maximized }
  return { x: s.x, y: s.y, ...fit(home), maximized: s.maximized }
}
