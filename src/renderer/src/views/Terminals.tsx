/** Terminal tabs: per VM (in the VM's Terminal tab) and across VMs (the Terminals view). */
import { useEffect, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'
import { Dialog } from '../components/Dialog'
import { Icon } from '../components/Icon'
import { canOpenTerminal } from '../lib/permissions'
import { useSessionStore } from '../stores/session'
import {
  closeTerminal,
  openTerminal,
  reconnectTerminal,
  resizeTerminal,
  setActiveTerminal,
  useTermStore,
  type Credentials,
  type TermTab,
} from '../stores/terminals'
import { useVmStore } from '../stores/vms'
import { copySelection, getTerminal, pasteClipboard } from './xtermRegistry'

/** Shows one tab's xterm; resizes it (and the remote pty) with the container. */
function TerminalPane({ tab }: { tab: TermTab }) {
  const { t } = useTranslation()
  const box = useRef<HTMLDivElement>(null)
  const role = useSessionStore(s => s.user?.role)
  const [creds, setCreds] = useState(false)

  useEffect(() => {
    const el = box.current
    if (!el) return
    const e = getTerminal(tab.key)
    el.appendChild(e.host)
    let last = ''
    const fit = () => {
      if (!el.clientWidth || !el.clientHeight) return
      try {
        e.fit.fit()
      } catch {
        return
      }
      const sig = `${e.term.cols}x${e.term.rows}`
      if (sig !== last) {
        last = sig
        // The size in effect, for anyone checking (tests, the curious).
        el.dataset.cols = String(e.term.cols)
        el.dataset.rows = String(e.term.rows)
        resizeTerminal(tab.key, e.term.cols, e.term.rows)
      }
    }
    const ro = new ResizeObserver(() => fit())
    ro.observe(el)
    fit()
    e.term.focus()
    return () => {
      ro.disconnect()
      if (e.host.parentElement === el) el.removeChild(e.host)
    }
  }, [tab.key])

  // When the session (re)opens, send the current size so the remote pty matches.
  useEffect(() => {
    if (tab.state !== 'open') return
    const e = getTerminal(tab.key)
    resizeTerminal(tab.key, e.term.cols, e.term.rows)
  }, [tab.state, tab.key])

  const size = () => {
    const e = getTerminal(tab.key)
    return { cols: e.term.cols, rows: e.term.rows }
  }

  return (
    <div className="term-pane" data-testid="terminal-pane" data-state={tab.state}>
      <div className="term-toolbar">
        <span className={`term-state state-${tab.state}`} role="status">
          {tab.state === 'connecting'
            ? t('term.connecting')
            : tab.state === 'closed'
              ? t('term.closed', { reason: tab.closedReason ?? '' })
              : tab.state === 'error'
                ? tab.errorCode === 'HOST_KEY_MISMATCH'
                  ? t('error.HOST_KEY_MISMATCH')
                  : (tab.errorMessage ?? '')
                : tab.title}
        </span>
        {tab.hostKey && tab.state === 'open' && (
          <span className={`hostkey ${tab.hostKeyStatus === 'new' ? 'hostkey-new' : ''}`} data-testid="hostkey">
            <Icon name="key" />
            {tab.hostKeyStatus === 'new'
              ? t('term.hostKeyNew', { vm: tab.vmId, fp: tab.hostKey })
              : t('term.hostKeyKnown', { fp: tab.hostKey })}
          </span>
        )}
        <span className="spacer" />
        <button type="button" className="btn btn-sm" onClick={() => void copySelection(tab.key)}>
          <Icon name="copy" /> {t('term.copy')}
        </button>
        <button
          type="button"
          className="btn btn-sm"
          onClick={() => void pasteClipboard(tab.key)}
          disabled={tab.state !== 'open'}
        >
          <Icon name="paste" /> {t('term.paste')}
        </button>
        {(tab.state === 'closed' || tab.state === 'error') && tab.errorCode !== 'HOST_KEY_MISMATCH' && (
          <button
            type="button"
            className="btn btn-sm btn-primary"
            disabled={!canOpenTerminal(role)}
            onClick={() =>
              tab.kind === 'ssh' && tab.errorCode === 'TERMINAL_AUTH_FAILED'
                ? setCreds(true)
                : reconnectTerminal(tab.key, undefined, size())
            }
          >
            {t('term.reconnect')}
          </button>
        )}
      </div>
      {tab.errorCode === 'HOST_KEY_MISMATCH' && (
        <div className="alert alert-danger" role="alert" data-testid="hostkey-mismatch">
          <Icon name="warning" size={28} />
          <div>
            <strong>{t('term.mismatchTitle', { vm: tab.vmId })}</strong>
            <p>{t('term.mismatchBody')}</p>
            {tab.errorMessage && <p className="mono small">{tab.errorMessage}</p>}
          </div>
        </div>
      )}
      <div
        className={`term-box${tab.errorCode === 'HOST_KEY_MISMATCH' ? ' term-box-dead' : ''}`}
        ref={box}
        role="region"
        aria-label={t('term.terminal', { title: tab.title })}
      />
      <SshDialog
        open={creds}
        vmId={tab.vmId}
        onClose={() => setCreds(false)}
        onSubmit={c => {
          setCreds(false)
          reconnectTerminal(tab.key, c, size())
        }}
      />
    </div>
  )
}

function SshDialog({
  open,
  vmId,
  onClose,
  onSubmit,
}: {
  open: boolean
  vmId: string
  onClose: () => void
  onSubmit: (c: Credentials) => void
}) {
  const { t } = useTranslation()
  const [username, setUsername] = useState('root')
  const [password, setPassword] = useState('')
  const [method, setMethod] = useState<'password' | 'key'>('password')
  const [key, setKey] = useState('')
  const [passphrase, setPassphrase] = useState('')
  return (
    <Dialog open={open} title={t('term.sshTitle', { vm: vmId })} onClose={onClose}>
      <form
        className="form"
        onSubmit={e => {
          e.preventDefault()
          const c: Credentials =
            method === 'password'
              ? { username, password }
              : { username, privateKey: key, ...(passphrase ? { passphrase } : {}) }
          setPassword('')
          setPassphrase('')
          onSubmit(c)
        }}
      >
        <label>
          {t('term.username')}
          <input
            value={username}
            onChange={e => setUsername(e.target.value)}
            autoComplete="username"
            required
            autoFocus
          />
        </label>
        <fieldset className="segmented-field">
          <legend>{t('term.authMethod')}</legend>
          <label className="inline">
            <input type="radio" name="auth" checked={method === 'password'} onChange={() => setMethod('password')} />{' '}
            {t('term.usePassword')}
          </label>
          <label className="inline">
            <input type="radio" name="auth" checked={method === 'key'} onChange={() => setMethod('key')} />{' '}
            {t('term.useKey')}
          </label>
        </fieldset>
        {method === 'password' ? (
          <label>
            {t('term.password')}
            <input
              type="password"
              value={password}
              onChange={e => setPassword(e.target.value)}
              autoComplete="current-password"
            />
          </label>
        ) : (
          <>
            <label>
              {t('term.privateKey')}
              <textarea className="mono" rows={5} value={key} onChange={e => setKey(e.target.value)} required />
            </label>
            <label>
              {t('term.passphrase')}
              <input type="password" value={passphrase} onChange={e => setPassphrase(e.target.value)} />
            </label>
          </>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            {t('term.cancel')}
          </button>
          <button type="submit" className="btn btn-primary">
            {t('term.connect')}
          </button>
        </div>
      </form>
    </Dialog>
  )
}

function TabStrip({ tabs, active }: { tabs: TermTab[]; active: string | null }) {
  const { t } = useTranslation()
  return (
    <div className="term-tabs" role="tablist" aria-label={t('term.tabs')}>
      {tabs.map(tb => (
        <div key={tb.key} className={`term-tab${tb.key === active ? ' active' : ''} state-${tb.state}`}>
          <button
            type="button"
            role="tab"
            aria-selected={tb.key === active}
            onClick={() => setActiveTerminal(tb.key)}
            className="term-tab-label"
          >
            <span className="dot" aria-hidden="true" />
            {tb.title}
          </button>
          <button
            type="button"
            className="term-tab-close"
            aria-label={t('term.close', { title: tb.title })}
            onClick={() => closeTerminal(tb.key)}
          >
            <Icon name="close" size={12} />
          </button>
        </div>
      ))}
    </div>
  )
}

/** A VM's terminal tabs and the buttons that open new ones. */
export function VmTerminals({ vmId }: { vmId: string }) {
  const { t } = useTranslation()
  const allTabs = useTermStore(s => s.tabs)
  const active = useTermStore(s => s.active)
  const role = useSessionStore(s => s.user?.role)
  const status = useVmStore(s => s.byId[vmId]?.status)
  const [sshOpen, setSshOpen] = useState(false)
  const tabs = allTabs.filter(tb => tb.vmId === vmId)
  const shown = tabs.find(tb => tb.key === active) ?? tabs.at(-1)
  const allowed = canOpenTerminal(role)
  const running = status === 'running'
  const reason = !allowed
    ? t('term.notAllowed', { role: t(`role.${role ?? 'viewer'}`) })
    : !running
      ? t('term.vmOff')
      : undefined
  return (
    <div className="terminals">
      <div className="term-header">
        <TabStrip tabs={tabs} active={shown?.key ?? null} />
        <span className="spacer" />
        <button
          type="button"
          className="btn"
          disabled={!allowed || !running}
          title={reason}
          onClick={() => setSshOpen(true)}
        >
          <Icon name="plus" /> {t('term.newSsh')}
        </button>
        <button
          type="button"
          className="btn"
          disabled={!allowed || !running}
          title={reason}
          onClick={() => openTerminal(vmId, 'serial', undefined, { cols: 100, rows: 30 })}
        >
          <Icon name="plus" /> {t('term.newSerial')}
        </button>
      </div>
      {reason && <p className="notice">{reason}</p>}
      {shown ? <TerminalPane key={shown.key} tab={shown} /> : <p className="empty">{t('term.none')}</p>}
      <SshDialog
        open={sshOpen}
        vmId={vmId}
        onClose={() => setSshOpen(false)}
        onSubmit={c => {
          setSshOpen(false)
          openTerminal(vmId, 'ssh', c, { cols: 100, rows: 30 })
        }}
      />
    </div>
  )
}

/** Every terminal tab, across VMs. */
export function TerminalsView() {
  const { t } = useTranslation()
  const tabs = useTermStore(s => s.tabs)
  const active = useTermStore(s => s.active)
  const shown = tabs.find(tb => tb.key === active) ?? tabs.at(-1)
  return (
    <section className="view view-terminals" aria-labelledby="terms-title">
      <header className="view-header">
        <h2 id="terms-title">{t('nav.terminals')}</h2>
      </header>
      <div className="terminals">
        <div className="term-header">
          <TabStrip tabs={tabs} active={shown?.key ?? null} />
        </div>
        {shown ? <TerminalPane key={shown.key} tab={shown} /> : <p className="empty">{t('term.noneAll')}</p>}
      </div>
    </section>
  )
}
