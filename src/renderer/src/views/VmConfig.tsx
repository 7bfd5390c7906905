/**
 * A VM's configuration from `vm-info`: extra facts (architecture, machine,
 * autostart, persistence, displays) and its disks and network interfaces
 * with the guest's addresses. Read again whenever the VM's state changes,
 * and every few seconds while a running guest's address is still unknown.
 */
import { useCallback, useEffect, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { VmInfoData, VmStatusValue } from '../../../shared/protocol'
import { RequestError } from '../api/types'
import { describeServerError } from '../i18n'
import { formatBytes } from '../lib/format'
import { canControl } from '../lib/permissions'
import { getClient, reportError, useSessionStore } from '../stores/session'

/** How often a running guest with an address-less interface is looked at again, ms. */
const ADDRESS_POLL_MS = 10_000

export interface VmInfoState {
  info?: VmInfoData
  error?: string
  /** Changes whether the VM starts with the host (vm-autostart); failures become toasts. */
  setAutostart(enabled: boolean): Promise<void>
}

export function useVmInfo(vmId: string, status: VmStatusValue | undefined): VmInfoState {
  const [state, setState] = useState<Omit<VmInfoState, 'setAutostart'>>({})
  const connected = useSessionStore(s => s.conn.state === 'open')
  useEffect(() => {
    if (!connected) return
    let alive = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const load = async (): Promise<void> => {
      const c = getClient()
      if (!c) return
      try {
        const info = await c.request('vm-info', { vmId })
        if (!alive) return
        setState({ info })
        // A guest's address shows once it has used the network: look again for a while.
        if (info.status === 'running' && info.nics.some(n => n.addresses.length === 0))
          timer = setTimeout(() => void load(), ADDRESS_POLL_MS)
      } catch (e) {
        if (!alive) return
        let msg = e instanceof Error ? e.message : String(e)
        if (e instanceof RequestError) {
          const d = describeServerError(e.code, e.message)
          msg = [d.title, d.body].filter(Boolean).join(' ')
        }
        setState(s => ({ info: s.info, error: msg }))
      }
    }
    void load()
    return () => {
      alive = false
      clearTimeout(timer)
    }
  }, [vmId, status, connected])
  const setAutostart = useCallback(
    async (enabled: boolean) => {
      const c = getClient()
      if (!c) return
      try {
        const r = await c.request('vm-autostart', { vmId, enabled })
        // The reply is libvirt's setting afterwards: show that, whatever was asked.
        setState(s => (s.info && s.info.name === r.vmId ? { ...s, info: { ...s.info, autostart: r.autostart } } : s))
      } catch (e) {
        reportError(e, vmId)
      }
    },
    [vmId],
  )
  return { ...state, setAutostart }
}

/** Facts only vm-info knows, as <dt>/<dd> pairs for the details card. */
export function ConfigFacts({
  info,
  onAutostart,
}: {
  info: VmInfoData
  onAutostart?: (enabled: boolean) => Promise<void>
}) {
  const { t } = useTranslation()
  const role = useSessionStore(s => s.user?.role)
  const [busy, setBusy] = useState(false)
  const yes = (b: boolean) => (b ? t('detail.yes') : t('detail.no'))
  // Operators and admins may change it on a persistent VM; a transient VM has nothing to start from.
  const mayChange = !!onAutostart && canControl(role) && info.persistent
  return (
    <>
      {info.title && (
        <>
          <dt>{t('detail.vmTitle')}</dt>
          <dd>{info.title}</dd>
        </>
      )}
      {info.description && (
        <>
          <dt>{t('detail.description')}</dt>
          <dd className="selectable">{info.description}</dd>
        </>
      )}
      <dt>{t('detail.arch')}</dt>
      <dd data-testid="vm-arch">{[info.os.arch, info.os.type].filter(Boolean).join(' · ')}</dd>
      {info.os.machine && (
        <>
          <dt>{t('detail.machine')}</dt>
          <dd className="mono">{info.os.machine}</dd>
        </>
      )}
      <dt>{t('detail.autostart')}</dt>
      <dd>
        {mayChange ? (
          <label className="switch" title={t('detail.autostartHint')}>
            <input
              type="checkbox"
              role="switch"
              aria-label={t('detail.autostart')}
              checked={info.autostart}
              disabled={busy}
              onChange={e => {
                setBusy(true)
                void onAutostart(e.target.checked).finally(() => setBusy(false))
              }}
            />{' '}
            {yes(info.autostart)}
          </label>
        ) : (
          yes(info.autostart)
        )}
      </dd>
      <dt>{t('detail.definition')}</dt>
      <dd>{info.persistent ? t('detail.persistent') : t('detail.transient')}</dd>
      {info.graphics.length > 0 && (
        <>
          <dt>{t('detail.display')}</dt>
          <dd className="mono">
            {info.graphics
              .map(g => `${g.type.toUpperCase()}${g.port ? ` ${g.listen ?? ''}:${g.port}` : ''}`)
              .join(', ')}
          </dd>
        </>
      )}
    </>
  )
}

/** The disks and network interfaces tables. */
export function VmDevices({ state }: { state: VmInfoState }) {
  const { t } = useTranslation()
  const { info, error } = state
  return (
    <section className="devices card" aria-labelledby="devices-title">
      <h3 id="devices-title">{t('detail.devices')}</h3>
      {error && (
        <p className="alert alert-danger" role="alert">
          {t('detail.infoFailed', { message: error })}
        </p>
      )}
      {!info && !error && <p className="muted small">{t('common.loading')}</p>}
      {info && (
        <>
          <h4>{t('detail.disks')}</h4>
          {info.disks.length === 0 ? (
            <p className="muted small">{t('detail.noDisks')}</p>
          ) : (
            <div className="table-wrap">
              <table className="dev-table" aria-label={t('detail.disks')} data-testid="vm-disks">
                <thead>
                  <tr>
                    <th>{t('detail.colTarget')}</th>
                    <th>{t('detail.colType')}</th>
                    <th>{t('detail.colSource')}</th>
                    <th>{t('detail.colSize')}</th>
                    <th>{t('detail.colUsed')}</th>
                  </tr>
                </thead>
                <tbody>
                  {info.disks.map(d => (
                    <tr key={d.target}>
                      <td className="mono">{d.target}</td>
                      <td>
                        {[d.device, d.bus, d.format].filter(Boolean).join(' · ')}
                        {d.readonly && <span className="tag">{t('detail.readonly')}</span>}
                      </td>
                      <td className="mono selectable">
                        {d.source ?? <span className="muted">{t('detail.empty')}</span>}
                      </td>
                      <td>{d.capacityBytes !== undefined ? formatBytes(d.capacityBytes) : '–'}</td>
                      <td>{d.allocationBytes !== undefined ? formatBytes(d.allocationBytes) : '–'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h4>{t('detail.nics')}</h4>
          {info.nics.length === 0 ? (
            <p className="muted small">{t('detail.noNics')}</p>
          ) : (
            <div className="table-wrap">
              <table className="dev-table" aria-label={t('detail.nics')} data-testid="vm-nics">
                <thead>
                  <tr>
                    <th>{t('detail.colMac')}</th>
                    <th>{t('detail.colNet')}</th>
                    <th>{t('detail.colModel')}</th>
                    <th>{t('detail.colAddresses')}</th>
                  </tr>
                </thead>
                <tbody>
                  {info.nics.map((n, i) => (
                    <tr key={n.mac ?? i}>
                      <td className="mono selectable">{n.mac ?? '–'}</td>
                      <td>
                        {n.type}
                        {n.source ? `: ${n.source}` : ''}
                        {n.hostDevice && <span className="muted"> ({n.hostDevice})</span>}
                      </td>
                      <td>{n.model ?? '–'}</td>
                      <td className="mono selectable">
                        {n.addresses.length ? (
                          n.addresses.join(', ')
                        ) : (
                          <span className="muted">
                            {info.status === 'running' ? t('detail.noAddressYet') : t('detail.noAddressOff')}
                          </span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  )
}
