/** A tiny canvas line chart for table rows: one draw call per update, no DOM per point. */
import { memo, useEffect, useRef } from 'react'

export interface SparklineProps {
  values: number[]
  color: string
  /** Fixed top of the scale (100 for percent); auto when omitted. */
  max?: number
  width?: number
  height?: number
  label: string
}

export const Sparkline = memo(function Sparkline({
  values,
  color,
  max,
  width = 96,
  height = 24,
  label,
}: SparklineProps) {
  const ref = useRef<HTMLCanvasElement>(null)
  useEffect(() => {
    const c = ref.current
    const ctx = c?.getContext('2d')
    if (!c || !ctx) return
    const dpr = Math.min(2, window.devicePixelRatio || 1)
    if (c.width !== width * dpr) {
      c.width = width * dpr
      c.height = height * dpr
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, width, height)
    const n = values.length
    if (n < 2) return
    let top = max ?? 0
    if (max === undefined) for (const v of values) top = Math.max(top, v)
    if (top <= 0) top = 1
    const step = width / (n - 1)
    const y = (v: number) => height - 1 - (Math.min(v, top) / top) * (height - 3)
    ctx.beginPath()
    ctx.moveTo(0, y(values[0] ?? 0))
    for (let i = 1; i < n; i++) ctx.lineTo(i * step, y(values[i] ?? 0))
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
  }, [values, color, max, width, height])
  return <canvas ref={ref} className="sparkline" style={{ width, height }} role="img" aria-label={label} />
})
