/** One VM: live charts and facts, its console, and its terminal tabs. */
import { lazy, Suspense } from 'react'
import { useTranslation } from 'react-i18next'
import { ActionButtons } from '../components/ActionButtons'
import { Icon } from '../components/Icon'
import { StatusBadge } from '../components/StatusBadge'
import { TimeChart } from '../components/TimeChart'
import { formatKiB, formatPercent, formatRate } from '../lib/format'
import { useChartColors } from '../lib/theme'
import { useSessionStore } from '../stores/session'
import { navigate, useUiStore, type VmTab } from '../stores/ui'
import { historyOf, useVmStore } from '../stores/vms'
import { ConfigFacts, useVmInfo, VmDevices } from './VmConfig'
// The console (noVNC) and terminals (xterm.js) load on first use, keeping start-up light.
const ConsoleView = lazy(() => import('./ConsoleView').then(m => ({ default: m.ConsoleView })))
const VmTerminals = lazy(() => import('./Terminals').then(m => ({ default: m.VmTerminals })))

const TABS: { id: VmTab; icon: string }[] = [
  { id: 'overview', icon: 'vms' },
  { id: 'console', icon: 'console' },
  { id: 'terminal', icon: 'terminal' },
]

export function VmDetail({ vmId }: { vmId: string }) {
  const { t } = useTranslation()
  const vm = useVmStore(s => s.byId[vmId])
  const pending = useVmStore(s => s.pending[vmId])
  const role = useSessionStore(s => s.user?.role)
  const tab = useUiStore(s => s.vmTab)

  if (!vm)
    return (
      <section className="view">
        <button type="button" className="btn btn-ghost" onClick={() => navigate('vms')}>
          <Icon name="back" /> {t('detail.back')}
        </button>
        <p className="empty">{t('detail.notFound', { vm: vmId })}</p>
      </section>
    )

  return (
    <section className="view view-detail" aria-labelledby="vm-title">
      <header className="view-header detail-header">
        <div className="detail-title">
          <button
            type="button"
            className="btn btn-icon btn-ghost"
            onClick={() => navigate('vms')}
            aria-label={t('detail.back')}
            title={t('detail.back')}
          >
            <Icon name="back" />
          </button>
          <h2 id="vm-title">{vm.name}</h2>
          <StatusBadge status={vm.status} pending={pending} />
        </div>
        <ActionButtons vmId={vmId} status={vm.status} role={role} pending={pending} variant="bar" />
      </header>
      <div className="tabs" role="tablist" aria-label={t('detail.tabs')}>
        {TABS.map(tb => (
          <button
            key={tb.id}
            type="button"
            role="tab"
            id={`tab-${tb.id}`}
            aria-selected={tab === tb.id}
            aria-controls={`panel-${tb.id}`}
            tabIndex={tab === tb.id ? 0 : -1}
            className="tab"
            onClick={() => navigate('vm', vmId, tb.id)}
            onKeyDown={e => {
              const i = TABS.findIndex(x => x.id === tab)
              const next =
                e.key === 'ArrowRight'
                  ? TABS[(i + 1) % TABS.length]
                  : e.key === 'ArrowLeft'
                    ? TABS[(i + TABS.length - 1) % TABS.length]
                    : undefined
              if (next) {
                navigate('vm', vmId, next.id)
                document.getElementById(`tab-${next.id}`)?.focus()
              }
            }}
          >
            <Icon name={tb.icon} />
            {t(`detail.${tb.id}`)}
          </button>
        ))}
      </div>
      <div className="tab-panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'overview' && <Overview vmId={vmId} />}
        <Suspense fallback={<p className="empty">{t('common.loading')}</p>}>
          {tab === 'console' && <ConsoleView vmId={vmId} />}
          {tab === 'terminal' && <VmTerminals vmId={vmId} />}
        </Suspense>
      </div>
    </section>
  )
}

function Overview({ vmId }: { vmId: string }) {
  const { t } = useTranslation()
  const vm = useVmStore(s => s.byId[vmId])
  useVmStore(s => s.version) // redraw on every sample batch
  const colors = useChartColors()
  const config = useVmInfo(vmId, vm?.status)
  const h = historyOf(vmId)
  if (!vm) return null
  const time = h ? h.time.toArray() : []
  const s = (k: 'cpu' | 'mem' | 'rx' | 'tx' | 'rd' | 'wr') => (h ? h.series[k].toArray() : [])
  const common = { time, gridColor: colors.grid, axisColor: colors.text }
  return (
    <div className="overview">
      <div className="stat-cards">
        <Stat label={t('detail.cpu')} value={formatPercent(vm.cpu)} color={colors.cpu} />
        <Stat label={t('detail.memUse')} value={formatPercent(vm.memory)} color={colors.mem} />
        <Stat label={t('detail.netRx')} value={formatRate(vm.network?.rx ?? 0)} color={colors.rx} />
        <Stat label={t('detail.netTx')} value={formatRate(vm.network?.tx ?? 0)} color={colors.tx} />
        <Stat label={t('detail.diskRead')} value={formatRate(vm.disk?.read ?? 0)} color={colors.rd} />
        <Stat label={t('detail.diskWrite')} value={formatRate(vm.disk?.write ?? 0)} color={colors.wr} />
      </div>
      <div className="overview-grid">
        <div className="charts">
          <p className="muted small">{t('detail.lastMinutes')}</p>
          <TimeChart
            {...common}
            title={t('detail.cpu')}
            range={[0, 100]}
            format={formatPercent}
            series={[{ label: t('detail.cpu'), color: colors.cpu, values: s('cpu') }]}
          />
          <TimeChart
            {...common}
            title={t('detail.memUse')}
            range={[0, 100]}
            format={formatPercent}
            series={[{ label: t('detail.memUse'), color: colors.mem, values: s('mem') }]}
          />
          <TimeChart
            {...common}
            title={t('detail.network')}
            format={formatRate}
            series={[
              { label: t('detail.netRx'), color: colors.rx, values: s('rx') },
              { label: t('detail.netTx'), color: colors.tx, values: s('tx') },
            ]}
          />
          <TimeChart
            {...common}
            title={t('detail.disk')}
            format={formatRate}
            series={[
              { label: t('detail.diskRead'), color: colors.rd, values: s('rd') },
              { label: t('detail.diskWrite'), color: colors.wr, values: s('wr') },
            ]}
          />
        </div>
        <aside className="facts card" aria-labelledby="facts-title">
          <h3 id="facts-title">{t('detail.facts')}</h3>
          <dl>
            <dt>{t('detail.state')}</dt>
            <dd>{t(`status.${vm.status}`)}</dd>
            <dt>{t('detail.uuid')}</dt>
            <dd className="mono selectable">{vm.uuid}</dd>
            <dt>{t('detail.vcpus')}</dt>
            <dd>{vm.vcpus}</dd>
            <dt>{t('detail.memory')}</dt>
            <dd>{formatKiB(vm.memoryKiB)}</dd>
            {config.info && <ConfigFacts info={config.info} onAutostart={config.setAutostart} />}
          </dl>
        </aside>
      </div>
      <VmDevices state={config} />
    </div>
  )
}

function Stat({ label, value, color }: { label: string; value: string; color: string }) {
  return (
    <div className="stat card">
      <span className="stat-label">
        <span className="swatch" style={{ background: color }} aria-hidden="true" />
        {label}
      </span>
      <span className="stat-value">{value}</span>
    </div>
  )
}
