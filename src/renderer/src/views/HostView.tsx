/**
 * The host page: what the hypervisor is (host-info: name, versions, CPU,
 * memory, acceleration, VM counts) above the live monitor — per-core CPU
 * bars, memory, disk and network charts, interval selector.
 */
import { useEffect, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { HostInfoData } from '../../../shared/protocol'
import { RequestError } from '../api/types'
import { describeServerError } from '../i18n'
import { TimeChart } from '../components/TimeChart'
import { formatKiB, formatPercent, formatRate } from '../lib/format'
import { useChartColors } from '../lib/theme'
import { hostHistory, useHostStore } from '../stores/host'
import { changeHostInterval, getClient, useSessionStore } from '../stores/session'
import { useVmStore } from '../stores/vms'

const INTERVALS = [1000, 2000, 5000, 10_000, 30_000]

/** host-info, read again whenever the socket (re)connects. */
function useHostInfo(): { info?: HostInfoData; error?: string } {
  const connected = useSessionStore(s => s.conn.state === 'open')
  const [state, setState] = useState<{ info?: HostInfoData; error?: string }>({})
  useEffect(() => {
    const c = getClient()
    if (!connected || !c) return
    let alive = true
    c.request('host-info', {}).then(
      info => alive && setState({ info }),
      (e: unknown) => {
        if (!alive) return
        const d = e instanceof RequestError ? describeServerError(e.code, e.message) : undefined
        setState(s => ({ ...s, error: d ? [d.title, d.body].filter(Boolean).join(' ') : String(e) }))
      },
    )
    return () => {
      alive = false
    }
  }, [connected])
  return state
}

/** The hypervisor's identity; the VM counts come live from the list the UI already has. */
function HostFacts() {
  const { t } = useTranslation()
  const { info, error } = useHostInfo()
  // The map itself (a stable reference between changes), not a fresh array per render.
  const byId = useVmStore(s => s.byId)
  if (!info)
    return error ? (
      <p className="alert alert-danger" role="alert">
        {t('host.infoFailed', { message: error })}
      </p>
    ) : null
  const vms = Object.values(byId)
  const running = vms.filter(v => v.status === 'running' || v.status === 'paused').length
  const cpuName = [info.cpu.vendor, info.cpu.model].filter(Boolean).join(' ')
  return (
    <aside className="facts card host-facts" aria-labelledby="host-facts-title">
      <h3 id="host-facts-title">{t('host.about')}</h3>
      <dl>
        <dt>{t('host.hostname')}</dt>
        <dd className="mono selectable" data-testid="host-hostname">
          {info.hostname}
        </dd>
        <dt>{t('host.hypervisor')}</dt>
        <dd data-testid="host-hypervisor">
          {[info.hypervisor.type, info.hypervisor.version].filter(Boolean).join(' ')} ·{' '}
          {info.kvm ? t('host.kvm') : t('host.emulated')}
        </dd>
        <dt>{t('host.libvirt')}</dt>
        <dd>{info.libvirtVersion}</dd>
        <dt>{t('host.processor')}</dt>
        <dd>
          {[info.cpu.arch, cpuName].filter(Boolean).join(' · ')} ·{' '}
          {t('host.topology', {
            cpus: info.cpu.cpus,
            sockets: info.cpu.sockets,
            cores: info.cpu.cores,
            threads: info.cpu.threads,
            mhz: info.cpu.mhz,
          })}
        </dd>
        <dt>{t('host.memory')}</dt>
        <dd>{formatKiB(info.memoryKiB)}</dd>
        <dt>{t('host.vms')}</dt>
        <dd data-testid="host-vms">{t('host.vmCount', { running, total: vms.length })}</dd>
        <dt>{t('host.connection')}</dt>
        <dd className="mono selectable">{info.uri}</dd>
      </dl>
    </aside>
  )
}

export function HostView() {
  const { t } = useTranslation()
  const latest = useHostStore(s => s.latest)
  const intervalMs = useHostStore(s => s.intervalMs)
  useHostStore(s => s.version)
  const colors = useChartColors()
  const h = hostHistory()
  const time = h.time.toArray()
  const s = (k: 'cpu' | 'mem' | 'rd' | 'wr' | 'rx' | 'tx') => h.series[k].toArray()
  const windowSec = Math.max(60, Math.round((intervalMs / 1000) * 300))
  const common = { time, gridColor: colors.grid, axisColor: colors.text, windowSec, height: 160 }
  return (
    <section className="view view-host" aria-labelledby="host-title">
      <header className="view-header">
        <h2 id="host-title">{t('host.title')}</h2>
        <label className="inline-field">
          {t('host.interval')}
          <select value={intervalMs} onChange={e => void changeHostInterval(Number(e.target.value))}>
            {INTERVALS.map(ms => (
              <option key={ms} value={ms}>
                {t('host.everySec', { n: ms / 1000 })}
              </option>
            ))}
          </select>
        </label>
      </header>
      <HostFacts />
      {!latest ? (
        <p className="empty">{t('host.waiting')}</p>
      ) : (
        <div className="host-grid">
          <div className="card host-cpu">
            <h3>
              {t('host.cpu')} <span className="big-num">{formatPercent(latest.cpu.usage)}</span>
            </h3>
            <p className="muted small">{t('host.perCore')}</p>
            <div className="cores" data-testid="core-bars">
              {latest.cpu.cores.map((c, i) => (
                <div
                  key={i}
                  className="core"
                  role="meter"
                  aria-label={t('host.core', { n: i })}
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={Math.round(c)}
                  title={`${t('host.core', { n: i })}: ${formatPercent(c)}`}
                >
                  <div className="core-bar">
                    <div className="core-fill" style={{ height: `${Math.min(100, Math.max(0, c))}%` }} />
                  </div>
                  <span className="core-label">{formatPercent(c)}</span>
                  <span className="core-label">{t('host.core', { n: i })}</span>
                </div>
              ))}
            </div>
            <TimeChart
              {...common}
              title={t('host.cpu')}
              range={[0, 100]}
              format={formatPercent}
              series={[{ label: t('host.cpu'), color: colors.cpu, values: s('cpu') }]}
            />
          </div>
          <div className="card">
            <h3>
              {t('host.memory')} <span className="big-num">{formatPercent(latest.memory.usage)}</span>
            </h3>
            <div
              className="meter-line"
              role="meter"
              aria-label={t('host.memory')}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(latest.memory.usage)}
            >
              <div style={{ width: `${latest.memory.usage}%`, background: colors.mem }} />
            </div>
            <p className="muted small">
              {t('host.memUsed', { used: formatKiB(latest.memory.used), total: formatKiB(latest.memory.total) })}
            </p>
            <TimeChart
              {...common}
              title={t('host.memory')}
              range={[0, 100]}
              format={formatPercent}
              series={[{ label: t('host.memory'), color: colors.mem, values: s('mem') }]}
            />
          </div>
          <div className="card">
            <h3>{t('host.disk')}</h3>
            <p className="muted small">
              {t('host.read')} {formatRate(latest.disk.read)} · {t('host.write')} {formatRate(latest.disk.write)}
            </p>
            <TimeChart
              {...common}
              title={t('host.disk')}
              format={formatRate}
              series={[
                { label: t('host.read'), color: colors.rd, values: s('rd') },
                { label: t('host.write'), color: colors.wr, values: s('wr') },
              ]}
            />
          </div>
          <div className="card">
            <h3>{t('host.network')}</h3>
            <p className="muted small">
              {t('host.rx')} {formatRate(latest.network.rx)} · {t('host.tx')} {formatRate(latest.network.tx)}
            </p>
            <TimeChart
              {...common}
              title={t('host.network')}
              format={formatRate}
              series={[
                { label: t('host.rx'), color: colors.rx, values: s('rx') },
                { label: t('host.tx'), color: colors.tx, values: s('tx') },
              ]}
            />
          </div>
        </div>
      )}
    </section>
  )
}
