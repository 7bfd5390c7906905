/**
 * A tiny canvas line chart for table rows: one draw call per update, no DOM per
 * point. It reads its values straight from a history ring, and new samples are
 * drawn by `repaintSparklines()` (called once per store flush) without a React
 * render; a canvas whose window of values did not change is not redrawn (each
 * redrawn canvas costs a texture upload at the next commit).
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
  ring: Ring | undefined
  points: number
  color: string
  max: number | undefined
  width: number
  height: number
  /** What was drawn last: the window of values (length `drawnN`). */
  drawn: Float64Array
  drawnN: number
}

/** The mounted sparklines (only the rows in view are mounted). */
const mounted = new Set<Entry>()

/** True when the ring's newest window equals what the canvas shows. */
function unchanged(e: Entry): boolean {
  const r = e.ring
  const n = r ? Math.min(e.points, r.length) : 0
  if (n !== e.drawnN) return false
  if (!r) return true
  const from = r.length - n
  for (let i = 0; i < n; i++) if (e.drawn[i] !== r.at(from + i)) return false
  return true
}

function draw(e: Entry): void {
  const { canvas: c, ring, width, height, max, color } = e
  const n = ring ? Math.min(e.points, ring.length) : 0
  // Remember the window before drawing, so an unchanged one is skipped next time.
  if (e.drawn.length < n) e.drawn = new Float64Array(e.points)
  const from = ring ? ring.length - n : 0
  for (let i = 0; i < n; i++) e.drawn[i] = ring!.at(from + i)
  e.drawnN = n
  const ctx = c.getContext('2d')
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
  for (const e of mounted) if (!unchanged(e)) draw(e)
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
      ring,
      points,
      color,
      max,
      width,
      height,
      drawn: new Float64Array(points),
      drawnN: -1,
    }
    draw(e)
    mounted.add(e)
    return () => {
      mounted.delete(e)
    }
  }, [ring, points, color, max, width, height])
  return <canvas ref={ref} className="sparkline" style={{ width, height }} role="img" aria-label={label} />
})
