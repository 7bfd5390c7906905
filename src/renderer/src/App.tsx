/**
 * The app shell: connection screen until a session is open, then the sidebar
 * (views, connection state, user, theme and language) around the current view.
 */
import { lazy, Suspense, useEffect, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'
import { DEFAULT_BACKOFF } from './api/backoff'
import { ConfirmDialog } from './components/ConfirmDialog'
import { Dialog } from './components/Dialog'
import { Icon } from './components/Icon'
import { Toasts } from './components/Toasts'
import { i18n, LANGS } from './i18n'
import { useApplyTheme } from './lib/theme'
import { useEventStore } from './stores/events'
import { endSession, getClient, rememberedLogin, rememberLogin, startSession, useSessionStore } from './stores/session'
import { useTermStore } from './stores/terminals'
import {
  navigate,
  setLang,
  setShortcutsOpen,
  setTheme,
  useUiStore,
  type Lang,
  type ThemePref,
  type View,
} from './stores/ui'
import { ConnectView, Logo } from './views/ConnectView'
import { EventsView } from './views/EventsView'
import { HostView } from './views/HostView'
const TerminalsView = lazy(() => import('./views/Terminals').then(m => ({ default: m.TerminalsView })))
import { VmDetail } from './views/VmDetail'
import { VmList } from './views/VmList'

const NAV: { view: View; icon: string; key: string; shortcut: string }[] = [
  { view: 'vms', icon: 'vms', key: 'nav.vms', shortcut: '1' },
  { view: 'host', icon: 'host', key: 'nav.host', shortcut: '2' },
  { view: 'events', icon: 'events', key: 'nav.events', shortcut: '3' },
  { view: 'terminals', icon: 'terminal', key: 'nav.terminals', shortcut: '4' },
]

function useLanguage() {
  const lang = useUiStore(s => s.lang)
  useEffect(() => {
    void i18n.changeLanguage(lang)
    document.documentElement.lang = lang
  }, [lang])
}

export function App() {
  useApplyTheme()
  useLanguage()
  const server = useSessionStore(s => s.server)
  const conn = useSessionStore(s => s.conn)
  const [booted, setBooted] = useState(false)

  // Start-up: Electron opens the embedded server; a browser resumes a remembered login.
  useEffect(() => {
    let cancelled = false
    ;(async () => {
      const api = window.voidvm
      if (api) {
        const local = await api.getLocalServer().catch(() => null)
        if (local && !cancelled) startSession({ url: local.url, name: i18n.t('login.local'), local: true }, local.token)
      } else {
        const r = rememberedLogin()
        if (r && !cancelled) startSession({ url: r.url, name: new URL(r.url).host }, r.token)
      }
      if (!cancelled) setBooted(true)
    })()
    return () => {
      cancelled = true
    }
  }, [])

  // A refused token (expired, revoked) sends the user back to the login.
  useEffect(() => {
    if (conn.state === 'refused' && conn.reason === 'unauthorized') rememberLogin(null)
  }, [conn.state, conn.reason])

  if (!booted) return <div className="boot" aria-busy="true" />
  if (!server || (conn.state === 'refused' && conn.reason === 'unauthorized'))
    return (
      <>
        <ConnectView refusal={conn.state === 'refused' ? conn.reason : undefined} />
        <Toasts />
      </>
    )
  return <Shell />
}

function Shell() {
  const { t } = useTranslation()
  const view = useUiStore(s => s.view)
  const vmId = useUiStore(s => s.vmId)
  const unread = useEventStore(s => s.unread)
  const termCount = useTermStore(s => s.tabs.length)
  const main = useRef<HTMLElement>(null)

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null
      const typing =
        !!target &&
        (target.tagName === 'INPUT' ||
          target.tagName === 'TEXTAREA' ||
          target.tagName === 'SELECT' ||
          target.isContentEditable ||
          !!target.closest('.xterm, .rfb-target'))
      if (e.altKey && !e.ctrlKey && !e.metaKey) {
        const n = NAV.find(x => x.shortcut === e.key)
        if (n) {
          e.preventDefault()
          navigate(n.view)
          return
        }
      }
      if (typing || document.querySelector('dialog[open]')) return
      const ui = useUiStore.getState()
      if (e.key === '?') {
        e.preventDefault()
        setShortcutsOpen(true)
      } else if (e.key === 'Escape' && ui.view === 'vm') navigate('vms')
      else if (ui.view === 'vm' && ui.vmId && !e.altKey && !e.ctrlKey && !e.metaKey) {
        const tab = ({ o: 'overview', c: 'console', t: 'terminal' } as const)[e.key as 'o' | 'c' | 't']
        if (tab) {
          e.preventDefault()
          navigate('vm', ui.vmId, tab)
        }
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  // Move focus to the new view's heading so screen readers announce it.
  useEffect(() => {
    const h = main.current?.querySelector<HTMLElement>('h2')
    if (!h) return
    h.tabIndex = -1
    h.focus({ preventScroll: true })
  }, [view, vmId])

  return (
    <div className="app-shell">
      <a href="#main" className="skip-link">
        {t('nav.skip')}
      </a>
      <aside className="sidebar">
        <header className="brand">
          <Logo size={28} />
          <h1>VoidVM</h1>
        </header>
        <nav aria-label={t('nav.main')}>
          <ul>
            {NAV.map(n => (
              <li key={n.view}>
                <button
                  type="button"
                  className={`nav-item${view === n.view || (n.view === 'vms' && view === 'vm') ? ' active' : ''}`}
                  aria-current={view === n.view ? 'page' : undefined}
                  onClick={() => navigate(n.view)}
                  aria-keyshortcuts={`Alt+${n.shortcut}`}
                >
                  <Icon name={n.icon} />
                  <span>{t(n.key)}</span>
                  {n.view === 'events' && unread > 0 && <span className="count">{unread > 99 ? '99+' : unread}</span>}
                  {n.view === 'terminals' && termCount > 0 && <span className="count neutral">{termCount}</span>}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-foot">
          <ConnectionBadge />
          <UserBox />
          <Preferences />
        </div>
      </aside>
      <main id="main" className="content" ref={main} tabIndex={-1}>
        <ConnectionBanner />
        {view === 'vms' && <VmList />}
        {view === 'vm' && vmId && <VmDetail vmId={vmId} />}
        {view === 'host' && <HostView />}
        {view === 'events' && <EventsView />}
        {view === 'terminals' && (
          <Suspense fallback={<p className="empty">{t('common.loading')}</p>}>
            <TerminalsView />
          </Suspense>
        )}
      </main>
      <ConfirmDialog />
      <ShortcutsDialog />
      <Toasts />
    </div>
  )
}

function ConnectionBadge() {
  const { t } = useTranslation()
  const conn = useSessionStore(s => s.conn)
  const server = useSessionStore(s => s.server)
  return (
    <div
      className={`conn conn-${conn.state}`}
      role="status"
      aria-label={t('conn.connectionStatus')}
      data-testid="connection-state"
      data-state={conn.state}
    >
      <span className="dot" aria-hidden="true" />
      <div>
        <strong>{t(`conn.state.${conn.state}`)}</strong>
        <span className="muted small mono">{server?.name}</span>
      </div>
    </div>
  )
}

function ConnectionBanner() {
  const { t } = useTranslation()
  const conn = useSessionStore(s => s.conn)
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (conn.state !== 'reconnecting') return
    // Refresh at once (the clock may be stale since the last outage), then every second.
    const first = setTimeout(() => setNow(Date.now()), 0)
    const id = setInterval(() => setNow(Date.now()), 1000)
    return () => {
      clearTimeout(first)
      clearInterval(id)
    }
  }, [conn.state, conn.retryAt])
  if (conn.state !== 'reconnecting' && conn.state !== 'refused') return null
  const maxWait = Math.ceil((DEFAULT_BACKOFF.maxMs * (1 + DEFAULT_BACKOFF.jitter)) / 1000)
  const seconds = conn.retryAt ? Math.min(maxWait, Math.max(0, Math.ceil((conn.retryAt - now) / 1000))) : 0
  return (
    <div className={`banner banner-${conn.state === 'refused' ? 'danger' : 'warning'}`} role="alert">
      <Icon name="warning" />
      <span>
        <strong>{t(`conn.state.${conn.state}`)}</strong> {conn.reason ? t(`conn.reason.${conn.reason}`) : ''}{' '}
        {conn.state === 'reconnecting' && conn.retryAt ? t('conn.retryIn', { seconds, attempt: conn.attempt }) : ''}
      </span>
      {conn.state === 'reconnecting' && (
        <button type="button" className="btn btn-sm" onClick={() => getClient()?.retryNow()}>
          {t('conn.retryNow')}
        </button>
      )}
    </div>
  )
}

function UserBox() {
  const { t } = useTranslation()
  const user = useSessionStore(s => s.user)
  const server = useSessionStore(s => s.server)
  if (!user) return null
  return (
    <div className="user">
      <span className="avatar" aria-hidden="true">
        {user.username.slice(0, 1).toUpperCase()}
      </span>
      <div className="user-text">
        <strong data-testid="username">{user.username}</strong>
        <span className={`role role-${user.role}`} data-testid="role">
          {t(`role.${user.role}`)}
        </span>
      </div>
      {!server?.local && (
        <button
          type="button"
          className="btn btn-icon btn-ghost"
          aria-label={t('conn.signOut')}
          title={t('conn.signOut')}
          onClick={() => {
            rememberLogin(null)
            endSession()
          }}
        >
          <Icon name="logout" />
        </button>
      )}
    </div>
  )
}

function Preferences() {
  const { t } = useTranslation()
  const theme = useUiStore(s => s.theme)
  const lang = useUiStore(s => s.lang)
  return (
    <div className="prefs">
      <label>
        <span className="visually-hidden">{t('settings.language')}</span>
        <select value={lang} onChange={e => setLang(e.target.value as Lang)} aria-label={t('settings.language')}>
          {LANGS.map(l => (
            <option key={l.code} value={l.code}>
              {l.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="visually-hidden">{t('settings.theme')}</span>
        <select value={theme} onChange={e => setTheme(e.target.value as ThemePref)} aria-label={t('settings.theme')}>
          <option value="system">{t('settings.themeSystem')}</option>
          <option value="light">{t('settings.themeLight')}</option>
          <option value="dark">{t('settings.themeDark')}</option>
        </select>
      </label>
      <button
        type="button"
        className="btn btn-icon btn-ghost"
        aria-label={t('settings.shortcuts')}
        title={`${t('settings.shortcuts')} (?)`}
        onClick={() => setShortcutsOpen(true)}
      >
        ?
      </button>
    </div>
  )
}

function ShortcutsDialog() {
  const { t } = useTranslation()
  const open = useUiStore(s => s.shortcutsOpen)
  const rows: [string, string][] = [
    ['Alt+1', t('shortcuts.gotoVms')],
    ['Alt+2', t('shortcuts.gotoHost')],
    ['Alt+3', t('shortcuts.gotoEvents')],
    ['Alt+4', t('shortcuts.gotoTerminals')],
    ['/', t('shortcuts.filter')],
    ['↑ ↓ / j k', t('shortcuts.move')],
    ['Enter', t('shortcuts.open')],
    ['o / c / t', t('shortcuts.vmTabs')],
    ['Esc', t('shortcuts.escape')],
    ['?', t('shortcuts.help')],
  ]
  return (
    <Dialog open={open} title={t('shortcuts.title')} onClose={() => setShortcutsOpen(false)}>
      <table className="shortcuts">
        <tbody>
          {rows.map(([k, d]) => (
            <tr key={k}>
              <td>
                <kbd>{k}</kbd>
              </td>
              <td>{d}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="dialog-actions">
        <button type="button" className="btn btn-primary" onClick={() => setShortcutsOpen(false)} autoFocus>
          {t('shortcuts.close')}
        </button>
      </div>
    </Dialog>
  )
}
