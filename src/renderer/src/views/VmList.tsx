/**
 * The VM list. Only the rows in view are rendered. Each row subscribes to its
 * own VM's display strings (lib/rowModel), so a batch of 200 status pushes
 * re-renders just the visible rows whose shown figures changed; sparklines
 * take new samples without a render (repaintSparklines). The list itself
 * re-renders only when its order, the VM set or a state changes.
 */
import { memo, useCallback, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { Role } from '../../../shared/protocol'
import { ActionButtons } from '../components/ActionButtons'
import { Icon } from '../components/Icon'
import { repaintSparklines, Sparkline } from '../components/Sparkline'
import { StatusBadge } from '../components/StatusBadge'
import { rowModel } from '../lib/rowModel'
import { useChartColors, type ChartColors } from '../lib/theme'
import { useSessionStore } from '../stores/session'
import { navigate } from '../stores/ui'
import { historyOf, selectVmIds, useVmStore, type SortKey, type VmState } from '../stores/vms'

const SPARK_POINTS = 60
/** Fixed row height (px, matches .vm-row in styles.css): the list renders only the rows in view. */
export const ROW_HEIGHT = 52
const OVERSCAN = 3

/** The slice of rows to render for a scroll position; pure, so it is unit-tested. */
export function visibleRange(count: number, scrollTop: number, viewHeight: number): [number, number] {
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN)
  const last = Math.min(count, Math.ceil((scrollTop + Math.max(viewHeight, ROW_HEIGHT)) / ROW_HEIGHT) + OVERSCAN)
  return [first, Math.max(first, last)]
}
const COLUMNS: { key: SortKey; cls: string }[] = [
  { key: 'name', cls: 'col-name' },
  { key: 'status', cls: 'col-status' },
  { key: 'cpu', cls: 'col-cpu' },
  { key: 'memory', cls: 'col-mem' },
  { key: 'network', cls: 'col-net' },
  { key: 'disk', cls: 'col-disk' },
]

/**
 * Row strings, translated once per language: i18next lookups were the largest
 * single cost of re-rendering rows at 1 Hz.
 */
interface RowLabels {
  open: (vm: string) => string
  cpuTrend: (vm: string, value: string) => string
  memTrend: (vm: string, value: string) => string
  vcpus: (n: number) => string
}

function makeLabels(t: (key: string, o?: Record<string, unknown>) => string): RowLabels {
  const VM = '\u0000'
  const VAL = '\u0001'
  const fill =
    (tpl: string) =>
    (vm: string, value = '') =>
      tpl.replace(VM, vm).replace(VAL, value)
  const vcpus = new Map<number, string>()
  return {
    open: fill(t('list.open', { vm: VM })),
    cpuTrend: fill(t('list.cpuTrend', { vm: VM, value: VAL })),
    memTrend: fill(t('list.memTrend', { vm: VM, value: VAL })),
    vcpus: n => {
      let v = vcpus.get(n)
      if (v === undefined) vcpus.set(n, (v = t('list.vcpus', { count: n })))
      return v
    },
  }
}

interface RowProps {
  id: string
  selected: boolean
  role: Role | undefined
  colors: ChartColors
  labels: RowLabels
  onSelect: (id: string) => void
}

const VmRow = memo(function VmRow({ id, selected, role, colors, labels, onSelect }: RowProps) {
  const vm = useVmStore(s => rowModel(id, s.byId[id]))
  const pending = useVmStore(s => s.pending[id])
  if (!vm) return null
  const h = historyOf(id)
  const live = vm.live
  return (
    <tr
      className={`vm-row${selected ? ' selected' : ''}`}
      data-vm={vm.name}
      aria-selected={selected}
      onClick={() => onSelect(id)}
      onDoubleClick={() => navigate('vm', id, 'overview')}
    >
      <td className="col-name">
        <button
          type="button"
          className="vm-name link"
          onClick={e => {
            e.stopPropagation()
            navigate('vm', id, 'overview')
          }}
          aria-label={labels.open(vm.name)}
        >
          {vm.name}
        </button>
        <span className="vm-sub">
          {labels.vcpus(vm.vcpus)} · {vm.memorySize}
        </span>
      </td>
      <td className="col-status">
        <StatusBadge status={vm.status} pending={pending} />
      </td>
      <td className="col-cpu">
        <div className="metric">
          <Sparkline
            ring={h?.series.cpu}
            points={SPARK_POINTS}
            color={colors.cpu}
            max={100}
            label={labels.cpuTrend(vm.name, vm.cpu)}
          />
          <span className="num">{live ? vm.cpu : '–'}</span>
        </div>
      </td>
      <td className="col-mem">
        <div className="metric">
          <Sparkline
            ring={h?.series.mem}
            points={SPARK_POINTS}
            color={colors.mem}
            max={100}
            label={labels.memTrend(vm.name, vm.mem)}
          />
          <span className="num">{live ? vm.mem : '–'}</span>
        </div>
      </td>
      <td className="col-net num">
        <span className="rate rx">↓ {vm.rx}</span>
        <span className="rate tx">↑ {vm.tx}</span>
      </td>
      <td className="col-disk num">
        <span className="rate rd">R {vm.rd}</span>
        <span className="rate wr">W {vm.wr}</span>
      </td>
      <td className="col-actions">
        <ActionButtons vmId={id} status={vm.status} role={role} pending={pending} variant="compact" />
      </td>
    </tr>
  )
})

/** The header row; memoised so the 1 Hz updates don't re-translate it. */
const ListHead = memo(function ListHead({
  sort,
  desc,
  onSort,
}: {
  sort: SortKey
  desc: boolean
  onSort: (k: SortKey) => void
}) {
  const { t } = useTranslation()
  return (
    <thead>
      <tr>
        {COLUMNS.map(c => (
          <th
            key={c.key}
            className={c.cls}
            scope="col"
            aria-sort={sort === c.key ? (desc ? 'descending' : 'ascending') : 'none'}
          >
            <button
              type="button"
              className="sort"
              onClick={() => onSort(c.key)}
              title={t('list.sortBy', { column: t(`list.col.${c.key}`) })}
            >
              {t(`list.col.${c.key}`)}
              <span className="sort-arrow" aria-hidden="true">
                {sort === c.key ? (desc ? '▼' : '▲') : ''}
              </span>
            </button>
          </th>
        ))}
        <th className="col-actions" scope="col">
          {t('list.col.actions')}
        </th>
      </tr>
    </thead>
  )
})

const LIVE_SORT: ReadonlySet<SortKey> = new Set(['cpu', 'memory', 'network', 'disk'])

function sameIds(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The filtered, sorted ids, as a store selector that returns the same array
 * while the order is the same: by name or state it is recomputed only when
 * the list changes (listVersion), by a live figure on each batch.
 */
function useVmIds(filter: string, sort: SortKey, desc: boolean): string[] {
  const cache = useRef<{ key: unknown; filter: string; sort: SortKey; desc: boolean; ids: string[] } | null>(null)
  const select = useCallback(
    (s: VmState) => {
      const key = LIVE_SORT.has(sort) ? s.byId : s.listVersion
      const c = cache.current
      if (c && c.key === key && c.filter === filter && c.sort === sort && c.desc === desc) return c.ids
      const next = selectVmIds(s.byId, filter, sort, desc)
      const ids = c && sameIds(c.ids, next) ? c.ids : next
      cache.current = { key, filter, sort, desc, ids }
      return ids
    },
    [filter, sort, desc],
  )
  return useVmStore(select)
}

export function VmList() {
  const { t, i18n } = useTranslation()
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const labels = useMemo(() => makeLabels(t), [t, i18n.language])
  const listVersion = useVmStore(s => s.listVersion)
  const loaded = useVmStore(s => s.loaded)
  const role = useSessionStore(s => s.user?.role)
  const colors = useChartColors()
  const [filter, setFilter] = useState('')
  const [sort, setSort] = useState<SortKey>('name')
  const [desc, setDesc] = useState(false)
  const [selected, setSelected] = useState<string | null>(null)
  const deferredFilter = useDeferredValue(filter)
  const filterRef = useRef<HTMLInputElement>(null)
  const scroller = useRef<HTMLDivElement>(null)
  const [view, setView] = useState({ top: 0, height: 900 })

  const ids = useVmIds(deferredFilter, sort, desc)
  // Counts change only with the VM set or a state (listVersion).
  const [total, running] = useMemo(() => {
    const all = Object.values(useVmStore.getState().byId)
    return [all.length, all.filter(v => v.status === 'running').length]
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [listVersion])

  // New samples reach the visible sparklines without re-rendering their rows.
  useEffect(() => useVmStore.subscribe(repaintSparklines), [])

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null
      const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)
      if (e.key === '/' && !typing) {
        e.preventDefault()
        filterRef.current?.focus()
        return
      }
      if (typing && e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Enter') return
      if (typing && target !== filterRef.current) return
      if (document.querySelector('dialog[open]')) return
      const idx = selected ? ids.indexOf(selected) : -1
      if (e.key === 'ArrowDown' || (e.key === 'j' && !typing)) {
        e.preventDefault()
        setSelected(ids[Math.min(ids.length - 1, idx + 1)] ?? null)
      } else if (e.key === 'ArrowUp' || (e.key === 'k' && !typing)) {
        e.preventDefault()
        setSelected(ids[Math.max(0, idx - 1)] ?? null)
      } else if (e.key === 'Enter' && selected) {
        e.preventDefault()
        navigate('vm', selected, 'overview')
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [ids, selected])

  // Track the scroller's position and size (once per frame at most).
  useLayoutEffect(() => {
    const el = scroller.current
    if (!el) return
    let frame = 0
    const read = () => {
      frame = 0
      setView(v =>
        v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight },
      )
    }
    const onScroll = () => {
      if (!frame) frame = requestAnimationFrame(read)
    }
    read()
    el.addEventListener('scroll', onScroll, { passive: true })
    const ro = new ResizeObserver(onScroll)
    ro.observe(el)
    return () => {
      el.removeEventListener('scroll', onScroll)
      ro.disconnect()
      if (frame) cancelAnimationFrame(frame)
    }
  }, [])

  // Keep the keyboard selection in view (it may not be rendered yet).
  useEffect(() => {
    const el = scroller.current
    const idx = selected ? ids.indexOf(selected) : -1
    if (!el || idx < 0) return
    const head = el.querySelector('thead')?.clientHeight ?? 0
    const top = idx * ROW_HEIGHT
    if (top < el.scrollTop) el.scrollTop = top
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight - head)
      el.scrollTop = top + ROW_HEIGHT - el.clientHeight + head
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selected])

  const [first, last] = visibleRange(ids.length, view.top, view.height)

  const sortBy = useCallback(
    (k: SortKey) => {
      if (k === sort) setDesc(d => !d)
      else {
        setSort(k)
        setDesc(k !== 'name' && k !== 'status')
      }
    },
    [sort],
  )

  return (
    <section className="view view-list" aria-labelledby="vm-list-title">
      <header className="view-header">
        <div>
          <h2 id="vm-list-title">{t('list.title')}</h2>
          <p className="view-sub">
            <span>{t('list.count', { shown: ids.length, total })}</span>
            <span className="sep">·</span>
            <span className="running-count">{t('list.running', { count: running })}</span>
          </p>
        </div>
        <label className="search">
          <Icon name="search" />
          <span className="visually-hidden">{t('list.filterLabel')}</span>
          <input
            ref={filterRef}
            type="search"
            placeholder={t('list.filter')}
            value={filter}
            onChange={e => setFilter(e.target.value)}
            aria-keyshortcuts="/"
          />
          <kbd aria-hidden="true">/</kbd>
        </label>
      </header>
      <div className="table-wrap" ref={scroller}>
        <table className="vm-table" aria-labelledby="vm-list-title" aria-rowcount={ids.length + 1} data-total={total}>
          <ListHead sort={sort} desc={desc} onSort={sortBy} />
          <tbody>
            {first > 0 && <tr className="spacer-row" style={{ height: first * ROW_HEIGHT }} aria-hidden="true" />}
            {ids.slice(first, last).map(id => (
              <VmRow
                key={id}
                id={id}
                selected={id === selected}
                role={role}
                colors={colors}
                labels={labels}
                onSelect={setSelected}
              />
            ))}
            {last < ids.length && (
              <tr className="spacer-row" style={{ height: (ids.length - last) * ROW_HEIGHT }} aria-hidden="true" />
            )}
          </tbody>
        </table>
        {ids.length === 0 && (
          <div className="empty">
            {!loaded ? t('list.loading') : total === 0 ? t('list.empty') : t('list.noMatch', { filter })}
          </div>
        )}
      </div>
    </section>
  )
}
