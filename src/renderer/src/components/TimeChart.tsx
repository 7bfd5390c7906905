/**
 * A uPlot time-series chart that follows its container's width. The plot is
 * created once; updates only call setData (cheap at 300 points).
 */
import { useEffect, useRef } from 'react'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { byteRateTicks, formatByteRateTicks, formatPercentTicks, linearTicks } from '../lib/format'

export interface ChartSeries {
  label: string
  color: string
  values: number[]
}

export interface TimeChartProps {
  title: string
  time: number[]
  series: ChartSeries[]
  format: (v: number) => string
  /** Fixed y range (percent charts use [0, 100]). */
  range?: [number, number]
  height?: number
  gridColor: string
  axisColor: string
  /** Seconds of history shown. */
  windowSec?: number
  /** Smallest top of an auto-scaled y axis (keeps idle charts from showing 0–1 B/s ticks). */
  minTop?: number
  /**
   * How the y axis is ticked and labelled: round percent steps, or round
   * byte-rate steps in one binary unit. Defaults to percent for a fixed
   * range and byte rate for an auto-scaled axis (the charts we draw).
   */
  axis?: 'percent' | 'byteRate'
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false })

export function TimeChart({
  title,
  time,
  series,
  format,
  range,
  height = 180,
  gridColor,
  axisColor,
  windowSec = 300,
  minTop = 1024,
  axis: axisKind,
}: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const key = series.map(s => s.label + s.color).join('|') + gridColor + axisColor
  const kind = axisKind ?? (range ? 'percent' : 'byteRate')
  const rangeKey = range ? range.join(',') : ''

  useEffect(() => {
    const el = box.current
    if (!el) return
    const axis = {
      stroke: axisColor,
      grid: { stroke: gridColor, width: 1 },
      ticks: { stroke: gridColor, width: 1 },
      font: '11px system-ui, sans-serif',
    }
    // About one labelled tick per 28 px of plot height.
    const tickCount = Math.max(2, Math.floor((height - 35) / 28))
    const yTicks = (min: number, max: number) =>
      kind === 'percent'
        ? linearTicks(min, max, tickCount)
        : byteRateTicks(max, tickCount).filter(v => v <= max * 1.000001)
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      // Our own legend (below) shows the latest values; uPlot's would show the hovered ones.
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: {
          time: true,
          range: (_u, _min, max) => [max - windowSec, max],
        },
        y: range
          ? { range: () => range }
          : {
              // Up to the next round tick, so the top of the axis is labelled.
              range: (_u, _min, max) => {
                const ticks = byteRateTicks(Math.max((max ?? 0) * 1.05, minTop), tickCount)
                return [0, ticks[ticks.length - 1] ?? minTop]
              },
            },
      },
      axes: [
        { ...axis, values: (_u, vals) => vals.map(v => clock.format(new Date(v * 1000))) },
        {
          ...axis,
          size: 76,
          splits: (_u, _i, min, max) => yTicks(min, max),
          values: (_u, vals) => (kind === 'percent' ? formatPercentTicks(vals) : formatByteRateTicks(vals)),
        },
      ],
      series: [
        {},
        ...series.map(s => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          fill: s.color + '22',
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)),
        })),
      ],
    }
    // Created empty; the data effect below fills it in the same commit.
    const u = new uPlot(opts, [[], ...series.map(() => [])], el)
    plot.current = u
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth
      if (w > 0 && Math.abs(w - u.width) > 1) u.setSize({ width: w, height })
    })
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // Recreate only when the series' identity or the theme changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, height, windowSec, minTop, kind, rangeKey])

  useEffect(() => {
    plot.current?.setData([time, ...series.map(s => s.values)])
  })

  return (
    <figure className="chart" aria-label={title}>
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="chart-legend">
          {series.map(s => (
            <span key={s.label} className="legend-item">
              <span className="swatch" style={{ background: s.color }} aria-hidden="true" />
              {s.label}
              <b>{s.values.length ? format(s.values[s.values.length - 1] ?? 0) : '–'}</b>
            </span>
          ))}
        </span>
      </figcaption>
      <div ref={box} className="chart-box" data-points={time.length} />
    </figure>
  )
}
