/**
 * Connections: in Electron, the embedded local server (no login) and saved
 * remote servers (token kept encrypted by the preload); in a browser, a login
 * to the origin the app was served from (token in memory unless "remember me").
 */
import { useEffect, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { CertificateInfo, ServerProfile } from '../../../preload/api'
import type { LoginResponse } from '../../../shared/protocol'
import { LoginError, normaliseServerUrl, signIn } from '../api/http'
import type { RefusalReason } from '../api/types'
import { Icon } from '../components/Icon'
import { rememberLogin, startSession } from '../stores/session'

export function ConnectView({ refusal }: { refusal?: RefusalReason | undefined }) {
  const { t } = useTranslation()
  const api = typeof window !== 'undefined' ? window.voidvm : undefined
  const [local, setLocal] = useState<{ url: string; token: string } | null>(null)
  const [profiles, setProfiles] = useState<ServerProfile[]>([])
  const [url, setUrl] = useState(api ? '' : location.origin)
  const [name, setName] = useState('')
  const [username, setUsername] = useState('')
  const [password, setPassword] = useState('')
  const [remember, setRemember] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(refusal ? t(`conn.reason.${refusal}`) : null)
  // The saved profile the form was filled from (its id and pin are reused for the same host).
  const [editing, setEditing] = useState<ServerProfile | null>(null)
  // An untrusted certificate waiting for the user's decision, with the login it interrupted.
  const [pending, setPending] = useState<{ cert: CertificateInfo; changed: boolean; base: string } | null>(null)

  useEffect(() => {
    if (!api) return
    void api
      .getLocalServer()
      .then(setLocal)
      .catch(() => setLocal(null))
    void api
      .listProfiles()
      .then(setProfiles)
      .catch(() => setProfiles([]))
  }, [api])

  const hostOf = (u: string): string => {
    try {
      return new URL(u).host.toLowerCase()
    } catch {
      return ''
    }
  }
  const profileFor = (base: string): ServerProfile | null =>
    editing && hostOf(editing.url) === hostOf(base) ? editing : null

  /** Signed in: keep the token in the profile (encrypted by the main process) or, in a browser, as asked. */
  const finish = async (base: string, r: LoginResponse) => {
    setPassword('')
    if (api) {
      const prev = profileFor(base)
      const fields = { ...(prev ? { id: prev.id } : {}), name: name || new URL(base).host, url: base, username }
      let p: ServerProfile
      try {
        p = await api.saveProfile({ ...fields, token: r.token })
      } catch {
        // No OS key store for the token: keep the profile without it (sign in again next time).
        p = await api.saveProfile(fields)
      }
      startSession({ url: base, name: p.name, profileId: p.id }, r.token)
    } else {
      rememberLogin(remember ? { url: base, token: r.token, expiresAt: r.expiresAt, username } : null)
      startSession({ url: base, name: new URL(base).host }, r.token)
    }
  }

  const attempt = async (base: string) => {
    setBusy(true)
    try {
      const out = await signIn(base, username, password, api, profileFor(base)?.certificateFingerprint)
      if (out.kind === 'untrusted-certificate') setPending({ cert: out.certificate, changed: out.changed, base })
      else await finish(base, out.login)
    } catch (err) {
      setError(err instanceof LoginError ? t(`conn.reason.${err.reason}`, { message: err.message }) : String(err))
    } finally {
      setBusy(false)
    }
  }

  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    setError(null)
    setPending(null)
    let base: string
    try {
      base = normaliseServerUrl(url)
    } catch {
      setError(t('login.invalidUrl'))
      return
    }
    if (!username || !password) {
      setError(t('login.required'))
      return
    }
    await attempt(base)
  }

  /** The user compared the fingerprint and trusts it: pin it to this server's profile, then sign in again. */
  const trust = async () => {
    if (!api || !pending) return
    const { base, cert } = pending
    setPending(null)
    setBusy(true)
    try {
      const prev = profileFor(base)
      const saved = await api.saveProfile({
        ...(prev ? { id: prev.id } : {}),
        name: name || new URL(base).host,
        url: base,
        username,
      })
      const pinned = await api.trustCertificate(saved.id, cert.fingerprint)
      setEditing(pinned)
      setProfiles(ps => [...ps.filter(x => x.id !== pinned.id), pinned])
      const out = await signIn(base, username, password, api, pinned.certificateFingerprint)
      if (out.kind === 'untrusted-certificate') setPending({ cert: out.certificate, changed: out.changed, base })
      else await finish(base, out.login)
    } catch (err) {
      setError(err instanceof LoginError ? t(`conn.reason.${err.reason}`, { message: err.message }) : String(err))
    } finally {
      setBusy(false)
    }
  }

  const cancelTrust = () => {
    setPending(null)
    setError(t('login.cert.cancelled'))
  }

  const openProfile = async (p: ServerProfile) => {
    const token = p.hasToken ? await api?.getProfileToken(p.id) : null
    if (token) startSession({ url: p.url, name: p.name, profileId: p.id }, token)
    else {
      setEditing(p)
      setUrl(p.url)
      setName(p.name)
      setUsername(p.username ?? '')
    }
  }

  return (
    <main className="connect" aria-labelledby="connect-title">
      <div className="connect-card card">
        <div className="brand-big">
          <Logo />
          <div>
            <h1>VoidVM</h1>
            <p className="muted">{t('login.subtitle')}</p>
          </div>
        </div>
        {api && local && (
          <section className="connect-section">
            <h2>{t('login.local')}</h2>
            <div className="profile">
              <Icon name="host" />
              <div className="profile-text">
                <strong>{t('login.local')}</strong>
                <span className="muted small">{t('login.localHint')}</span>
              </div>
              <button
                type="button"
                className="btn btn-primary"
                onClick={() => startSession({ url: local.url, name: t('login.local'), local: true }, local.token)}
              >
                {t('login.openLocal')}
              </button>
            </div>
          </section>
        )}
        {api && (
          <section className="connect-section">
            <h2>{t('login.saved')}</h2>
            {profiles.length === 0 && <p className="muted small">{t('login.noSaved')}</p>}
            {profiles.map(p => (
              <div className="profile" key={p.id}>
                <Icon name="server" />
                <div className="profile-text">
                  <strong>{p.name}</strong>
                  <span className="muted small mono">{p.url}</span>
                </div>
                <button type="button" className="btn btn-primary" onClick={() => void openProfile(p)}>
                  {t('login.connect')}
                </button>
                <button
                  type="button"
                  className="btn btn-icon btn-ghost"
                  aria-label={t('login.removeServer', { name: p.name })}
                  onClick={() =>
                    void api.removeProfile(p.id).then(() => setProfiles(ps => ps.filter(x => x.id !== p.id)))
                  }
                >
                  <Icon name="close" />
                </button>
              </div>
            ))}
          </section>
        )}
        <section className="connect-section">
          <h2 id="connect-title">{api ? t('login.newServer') : t('login.title')}</h2>
          <form className="form" onSubmit={e => void submit(e)} aria-describedby={error ? 'login-error' : undefined}>
            {api ? (
              <>
                <label>
                  {t('login.name')}
                  <input value={name} onChange={e => setName(e.target.value)} />
                </label>
                <label>
                  {t('login.url')}
                  <input
                    value={url}
                    onChange={e => setUrl(e.target.value)}
                    placeholder={t('login.urlHint')}
                    required
                    inputMode="url"
                  />
                </label>
              </>
            ) : (
              <p className="muted small server-line">
                {t('conn.server')}: <span className="mono">{url}</span>
              </p>
            )}
            <label>
              {t('login.username')}
              <input
                value={username}
                onChange={e => setUsername(e.target.value)}
                autoComplete="username"
                autoFocus
                required
                name="username"
              />
            </label>
            <label>
              {t('login.password')}
              <input
                type="password"
                value={password}
                onChange={e => setPassword(e.target.value)}
                autoComplete="current-password"
                required
                name="password"
              />
            </label>
            {!api && (
              <label className="inline">
                <input type="checkbox" checked={remember} onChange={e => setRemember(e.target.checked)} />{' '}
                {t('login.remember')}
              </label>
            )}
            {error && (
              <p className="alert alert-danger" role="alert" id="login-error">
                {error}
              </p>
            )}
            {pending && (
              <CertificateTrust
                cert={pending.cert}
                changed={pending.changed}
                onTrust={() => void trust()}
                onCancel={cancelTrust}
              />
            )}
            <button type="submit" className="btn btn-primary btn-block" disabled={busy || pending !== null}>
              {busy ? t('login.signingIn') : t('login.submit')}
            </button>
          </form>
        </section>
      </div>
    </main>
  )
}

/**
 * Trust on first use: a server's certificate no public CA vouches for, shown
 * for the user to compare (with what the server's admin or its "Serve this
 * machine" dialog shows) before it is pinned to the profile.
 */
export function CertificateTrust({
  cert,
  changed,
  onTrust,
  onCancel,
}: {
  cert: CertificateInfo
  changed: boolean
  onTrust: () => void
  onCancel: () => void
}) {
  const { t } = useTranslation()
  const host = cert.port === 443 ? cert.host : `${cert.host}:${cert.port}`
  return (
    <section
      className={changed ? 'alert alert-danger cert-trust' : 'alert cert-trust'}
      // A column (alerts are rows) with a visible frame also when it is not the red warning.
      style={{
        flexDirection: 'column',
        gap: 8,
        ...(changed ? {} : { border: '1px solid var(--border)', background: 'var(--bg-elev)' }),
      }}
      role="alertdialog"
      aria-labelledby="cert-title"
      aria-describedby="cert-intro"
      data-testid="certificate-trust"
    >
      <h3 id="cert-title" style={{ margin: 0, fontSize: '1rem' }}>
        {t('login.cert.title')}
      </h3>
      <p id="cert-intro" style={{ margin: 0 }}>
        {changed ? t('login.cert.changed', { host }) : t('login.cert.intro', { host })}
      </p>
      <dl
        className="cert-facts"
        style={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '4px 12px', margin: 0 }}
      >
        <dt>{t('login.cert.fingerprint')}</dt>
        <dd className="mono" data-testid="certificate-fingerprint" style={{ wordBreak: 'break-all', margin: 0 }}>
          {cert.fingerprint}
        </dd>
        <dt>{t('login.cert.subject')}</dt>
        <dd className="mono" style={{ margin: 0 }}>
          {cert.subject}
        </dd>
        <dt>{t('login.cert.issuer')}</dt>
        <dd className="mono" style={{ margin: 0 }}>
          {cert.issuer}
        </dd>
        <dt>{t('login.cert.validity')}</dt>
        <dd style={{ margin: 0 }}>
          {t('login.cert.validRange', { from: cert.validFrom.slice(0, 10), to: cert.validTo.slice(0, 10) })}
        </dd>
      </dl>
      <div className="row-actions">
        <button type="button" className="btn btn-primary" onClick={onTrust}>
          {t('login.cert.trust')}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          {t('login.cert.cancel')}
        </button>
      </div>
    </section>
  )
}

export function Logo({ size = 36 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" className="logo">
      <defs>
        <linearGradient id="vv-g" x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#6d8bff" />
          <stop offset="1" stopColor="#a56dff" />
        </linearGradient>
      </defs>
      <rect x="1" y="1" width="30" height="30" rx="8" fill="url(#vv-g)" />
      <path
        d="M8 10l8 13 8-13"
        fill="none"
        stroke="#fff"
        strokeWidth="3"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
      <circle cx="16" cy="10" r="2" fill="#fff" />
    </svg>
  )
}
