/**
 * A tiny canvas line chart for table rows: one draw call per update, no DOM per
 * point. It reads its values straight from a history ring, and new samples are
 * drawn by `repaintSparklines()` (called once per store flush) without a React
 * render. Each redrawn canvas costs a texture upload at the next commit, so a
 * canvas is redrawn only when its picture changes (a flat line stays the same
 * flat line as the window fills) and only while it is on screen (rows in the
 * overscan catch up when they scroll into view).
 */
import { memo, useEffect, useRef } from 'react'
import type { Ring } from '../lib/ring'

export interface SparklineProps {
  /** The series; its newest `points` values are drawn. */
  ring: Ring | undefined
  points: number
  color: string
  /** Fixed top of the scale (100 for percent); auto when omitted. */
  max?: number
  width?: number
  height?: number
  label: string
}

interface Entry {
  canvas: HTMLCanvasElement
  ctx: CanvasRenderingContext2D | null
  ring: Ring | undefined
  points: number
  color: string
  max: number | undefined
  width: number
  height: number
  /** What was drawn last: the window of values (length `drawnN`). */
  drawn: Float64Array
  drawnN: number
  /** The value of a drawn flat line (all values equal, at least 2), else NaN. */
  flat: number
  /** Intersects the viewport (true until the observer says otherwise). */
  visible: boolean
}

/** The mounted sparklines (only the rows in view and the overscan are mounted). */
const mounted = new Set<Entry>()
const byCanvas = new Map<Element, Entry>()
let observer: IntersectionObserver | null | undefined

function visibility(): IntersectionObserver | null {
  if (observer === undefined)
    observer =
      typeof IntersectionObserver === 'function'
        ? new IntersectionObserver(records => {
            for (const r of records) {
              const e = byCanvas.get(r.target)
              if (!e) continue
              e.visible = r.isIntersecting
              if (e.visible && !unchanged(e)) draw(e)
            }
          })
        : null
  return observer
}

/** True when the ring's newest window draws the same picture as the canvas shows. */
function unchanged(e: Entry): boolean {
  const r = e.ring
  const n = r ? Math.min(e.points, r.length) : 0
  const from = r ? r.length - n : 0
  if (r && n >= 2 && e.drawnN >= 2 && !Number.isNaN(e.flat)) {
    // A flat line spans the full width whatever the number of points.
    for (let i = 0; i < n; i++) if (r.at(from + i) !== e.flat) return false
    return true
  }
  if (n !== e.drawnN) return false
  if (!r) return true
  for (let i = 0; i < n; i++) if (e.drawn[i] !== r.at(from + i)) return false
  return true
}

function draw(e: Entry): void {
  const { canvas: c, ring, width, height, max, color } = e
  const n = ring ? Math.min(e.points, ring.length) : 0
  // Remember the window before drawing, so an unchanged one is skipped next time.
  if (e.drawn.length < n) e.drawn = new Float64Array(e.points)
  const from = ring ? ring.length - n : 0
  let flat = n >= 2 ? ring!.at(from) : NaN
  for (let i = 0; i < n; i++) {
    const v = ring!.at(from + i)
    e.drawn[i] = v
    if (v !== flat) flat = NaN
  }
  e.drawnN = n
  e.flat = flat
  const ctx = e.ctx ?? (e.ctx = c.getContext('2d'))
  if (!ctx) return
  const dpr = Math.min(2, window.devicePixelRatio || 1)
  if (c.width !== width * dpr) {
    c.width = width * dpr
    c.height = height * dpr
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  ctx.clearRect(0, 0, width, height)
  if (n < 2) return
  const values = e.drawn
  let top = max ?? 0
  if (max === undefined) for (let i = 0; i < n; i++) top = Math.max(top, values[i]!)
  if (top <= 0) top = 1
  const step = width / (n - 1)
  const y = (v: number) => height - 1 - (Math.min(v, top) / top) * (height - 3)
  ctx.beginPath()
  ctx.moveTo(0, y(values[0]!))
  for (let i = 1; i < n; i++) ctx.lineTo(i * step, y(values[i]!))
  ctx.lineWidth = 1.5
  ctx.strokeStyle = color
  ctx.lineJoin = 'round'
  ctx.stroke()
  ctx.lineTo(width, height)
  ctx.lineTo(0, height)
  ctx.closePath()
  ctx.globalAlpha = 0.15
  ctx.fillStyle = color
  ctx.fill()
  ctx.globalAlpha = 1
}

/** Redraws the mounted sparklines whose data moved on since they were drawn. */
export function repaintSparklines(): void {
  for (const e of mounted) if (e.visible && !unchanged(e)) draw(e)
}

export const Sparkline = memo(function Sparkline({
  ring,
  points,
  color,
  max,
  width = 96,
  height = 24,
  label,
}: SparklineProps) {
  const ref = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    const canvas = ref.current
    if (!canvas) return
    const e: Entry = {
      canvas,
      ctx: null,
      ring,
      points,
      color,
      max,
      width,
      height,
      drawn: new Float64Array(points),
      drawnN: -1,
      flat: NaN,
      visible: true,
    }
    draw(e)
    mounted.add(e)
    byCanvas.set(canvas, e)
    const io = visibility()
    io?.observe(canvas)
    return () => {
      mounted.delete(e)
      if (byCanvas.get(canvas) === e) byCanvas.delete(canvas)
      io?.unobserve(canvas)
    }
  }, [ring, points, color, max, width, height])
  return <canvas ref={ref} className="sparkline" style={{ width, height }} role="img" aria-label={label} />
})
