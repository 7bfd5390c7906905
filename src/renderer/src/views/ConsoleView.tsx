/**
 * The VNC console: noVNC on the server's binary fast path (vnc-connect with
 * transport "websocket" gives a single-use /ws/vnc ticket). It reconnects by
 * itself when the connection drops while the VM runs (reboots, QEMU restarts),
 * and shows a plain "off" state when the VM is not running, a permanent "no
 * VNC display" state for a running VM without graphics, and a disabled state
 * for a role that may not open consoles (it never asks the server).
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type RFB from '@novnc/novnc'
import { Dialog } from '../components/Dialog'
import { Icon } from '../components/Icon'
import { wsUrl } from '../api/client'
import { RequestError } from '../api/types'
import { describeError } from '../i18n'
import { afterConnectError, consoleGate, screenshotFileName, type ConsolePhase } from '../lib/consoleState'
import { canTypeInConsole } from '../lib/permissions'
import { getClient, reportError, useSessionStore } from '../stores/session'
import { useVmStore } from '../stores/vms'
import { backoffDelay } from '../api/backoff'

type Phase = ConsolePhase

// X11 keysyms for the combos menu.
const KS = {
  Control_L: 0xffe3,
  Alt_L: 0xffe9,
  Shift_L: 0xffe1,
  Super_L: 0xffeb,
  Delete: 0xffff,
  BackSpace: 0xff08,
  Tab: 0xff09,
  Escape: 0xff1b,
  Print: 0xff61,
  F1: 0xffbe,
} as const

interface Combo {
  label: string
  keys: [number, string][]
}

const COMBOS: Combo[] = [
  {
    label: 'Ctrl+Alt+Backspace',
    keys: [
      [KS.Control_L, 'ControlLeft'],
      [KS.Alt_L, 'AltLeft'],
      [KS.BackSpace, 'Backspace'],
    ],
  },
  ...[1, 2, 3, 7].map(n => ({
    label: `Ctrl+Alt+F${n}`,
    keys: [
      [KS.Control_L, 'ControlLeft'],
      [KS.Alt_L, 'AltLeft'],
      [KS.F1 + n - 1, `F${n}`],
    ] as [number, string][],
  })),
  {
    label: 'Alt+Tab',
    keys: [
      [KS.Alt_L, 'AltLeft'],
      [KS.Tab, 'Tab'],
    ],
  },
  {
    label: 'Alt+F4',
    keys: [
      [KS.Alt_L, 'AltLeft'],
      [KS.F1 + 3, 'F4'],
    ],
  },
  { label: 'Super', keys: [[KS.Super_L, 'MetaLeft']] },
  { label: 'Esc', keys: [[KS.Escape, 'Escape']] },
  { label: 'PrintScreen', keys: [[KS.Print, 'PrintScreen']] },
]

let rfbModule: Promise<typeof import('@novnc/novnc')> | null = null
function loadRfb() {
  // noVNC uses top-level await; load it only when a console opens.
  rfbModule ??= import('@novnc/novnc')
  return rfbModule
}

export function ConsoleView({ vmId }: { vmId: string }) {
  const { t } = useTranslation()
  const status = useVmStore(s => s.byId[vmId]?.status ?? 'unknown')
  const role = useSessionStore(s => s.user?.role)
  const connState = useSessionStore(s => s.conn.state)
  const canType = canTypeInConsole(role)
  const screen = useRef<HTMLDivElement>(null)
  const frame = useRef<HTMLDivElement>(null)
  const rfb = useRef<RFB | null>(null)
  const sessionId = useRef<string | null>(null)
  const attempt = useRef(0)
  // The phase belongs to one connection attempt; a new attempt starts as "connecting".
  const [phaseOf, setPhaseOf] = useState<{ gen: string; phase: Phase }>({ gen: '', phase: 'connecting' })
  const [error, setError] = useState<string>('')
  const [fit, setFit] = useState(true)
  const [full, setFull] = useState(false)
  const [keysOpen, setKeysOpen] = useState(false)
  const [pasteOpen, setPasteOpen] = useState(false)
  const [pasteText, setPasteText] = useState('')
  const [generation, setGeneration] = useState(0)
  const gate = consoleGate(role, status, connState === 'open')
  const shouldConnect = gate === null
  // A phase belongs to one attempt: a new generation, or the VM coming up again, starts afresh.
  const gen = `${vmId}|${generation}|${shouldConnect}`
  const phase: Phase = gate ?? (phaseOf.gen === gen ? phaseOf.phase : generation > 0 ? 'reconnecting' : 'connecting')

  // A VM without a VNC display is asked again only when its state changes (e.g. restarted).
  // Adjusted while rendering, as React recommends for state that follows a prop.
  const [seenStatus, setSeenStatus] = useState(status)
  if (seenStatus !== status) {
    setSeenStatus(status)
    if (phase === 'no-display') setGeneration(g => g + 1)
  }

  // Connect while allowed and the VM is up; a new generation forces a reconnect.
  useEffect(() => {
    if (!shouldConnect) return
    const setPhase = (p: Phase) => setPhaseOf({ gen, phase: p })
    let cancelled = false
    let retry: ReturnType<typeof setTimeout> | null = null
    let instance: RFB | null = null
    const client = getClient()
    if (!client || !screen.current) return
    ;(async () => {
      try {
        const [{ default: RFBClass }, reply] = await Promise.all([
          loadRfb(),
          client.request('vnc-connect', { vmId, transport: 'websocket' }),
        ])
        if (cancelled || !screen.current) {
          void client.request('vnc-disconnect', { vmId, sessionId: reply.sessionId }).catch(() => undefined)
          return
        }
        if (!reply.url) throw new RequestError('VNC_CONNECT_FAILED', 'The server offered no WebSocket console URL.')
        sessionId.current = reply.sessionId
        screen.current.replaceChildren()
        instance = new RFBClass(screen.current, wsUrl(client.baseUrl, reply.url), { shared: true })
        rfb.current = instance
        instance.scaleViewport = fit
        instance.clipViewport = !fit
        instance.viewOnly = !canType
        instance.background = 'transparent'
        instance.focusOnClick = true
        instance.addEventListener('connect', () => {
          attempt.current = 0
          setPhase('connected')
        })
        instance.addEventListener('disconnect', () => {
          rfb.current = null
          sessionId.current = null
          if (cancelled) return
          // Reconnect while the VM should be up; the status effect takes over if it went off.
          const delay = backoffDelay(attempt.current++, { minMs: 800, maxMs: 10_000, jitter: 0.2 })
          setPhase('reconnecting')
          retry = setTimeout(() => setGeneration(g => g + 1), delay)
        })
      } catch (err) {
        if (cancelled) return
        const e = err instanceof RequestError ? err : new RequestError('VNC_CONNECT_FAILED', String(err))
        const next = afterConnectError(e.code, attempt.current + 1)
        setError(next.showError ? describeError(e.code, e.message) + (e.details ? ` (${e.details})` : '') : '')
        setPhase(next.phase)
        if (next.retry) {
          const delay = backoffDelay(attempt.current++, { minMs: 1500, maxMs: 10_000, jitter: 0.2 })
          retry = setTimeout(() => setGeneration(g => g + 1), delay)
        } else attempt.current = 0
      }
    })()
    return () => {
      cancelled = true
      if (retry) clearTimeout(retry)
      const sid = sessionId.current
      instance?.disconnect()
      rfb.current = null
      sessionId.current = null
      if (sid) void client.request('vnc-disconnect', { vmId, sessionId: sid }).catch(() => undefined)
    }
    // fit and canType are applied live below, not by reconnecting.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [vmId, shouldConnect, generation])

  useEffect(() => {
    const r = rfb.current
    if (!r) return
    r.scaleViewport = fit
    r.clipViewport = !fit
  }, [fit, phase])

  useEffect(() => {
    if (rfb.current) rfb.current.viewOnly = !canType
  }, [canType, phase])

  useEffect(() => {
    const on = () => setFull(document.fullscreenElement === frame.current)
    document.addEventListener('fullscreenchange', on)
    return () => document.removeEventListener('fullscreenchange', on)
  }, [])

  const toggleFull = useCallback(() => {
    if (document.fullscreenElement) void document.exitFullscreen()
    else void frame.current?.requestFullscreen?.().catch(() => undefined)
  }, [])

  const sendCombo = (c: Combo) => {
    const r = rfb.current
    setKeysOpen(false)
    if (!r) return
    for (const [ks, code] of c.keys) r.sendKey(ks, code, true)
    for (const [ks, code] of [...c.keys].reverse()) r.sendKey(ks, code, false)
    r.focus()
  }

  const paste = async () => {
    const c = getClient()
    const text = pasteText
    setPasteOpen(false)
    if (!c || !text) return
    try {
      await c.request('vnc-input', {
        vmId,
        inputType: 'text',
        text,
        ...(sessionId.current ? { sessionId: sessionId.current } : {}),
      })
      setPasteText('')
    } catch (err) {
      reportError(err, vmId)
    }
    rfb.current?.focus()
  }

  /** Saves the remote screen, unscaled, as a PNG download named for the VM and the time. */
  const screenshot = () => {
    rfb.current?.toBlob(blob => {
      if (!blob) return
      const url = URL.createObjectURL(blob)
      const a = document.createElement('a')
      a.href = url
      a.download = screenshotFileName(vmId, new Date())
      a.click()
      setTimeout(() => URL.revokeObjectURL(url), 10_000)
    }, 'image/png')
  }

  const live = phase === 'connected'
  // Nothing to scale or enlarge: the tab will not show a screen in this state.
  const noScreen = phase === 'not-allowed' || phase === 'no-display'
  const message =
    phase === 'connected'
      ? t('console.connected')
      : phase === 'connecting'
        ? t('console.connecting')
        : phase === 'reconnecting'
          ? t('console.reconnecting')
          : phase === 'failed'
            ? t('console.failed', { message: error })
            : phase === 'no-display'
              ? t('console.noDisplay')
              : phase === 'not-allowed'
                ? t('console.notAllowed', { role: t(`role.${role ?? 'viewer'}`) })
                : phase === 'paused-off'
                  ? t('console.paused')
                  : t('console.off')
  return (
    <div className={`console${full ? ' console-full' : ''}`} ref={frame}>
      <div className="console-toolbar" role="toolbar" aria-label={t('console.title', { vm: vmId })}>
        <span
          className={`console-state state-${phase}`}
          role="status"
          aria-live="polite"
          data-testid="console-state"
          data-phase={phase}
        >
          {message}
        </span>
        <div className="segmented" role="radiogroup" aria-label={t('console.scaleMode')}>
          <button
            type="button"
            role="radio"
            aria-checked={fit}
            className={fit ? 'on' : ''}
            disabled={noScreen}
            onClick={() => setFit(true)}
          >
            {t('console.scaleFit')}
          </button>
          <button
            type="button"
            role="radio"
            aria-checked={!fit}
            className={!fit ? 'on' : ''}
            disabled={noScreen}
            onClick={() => setFit(false)}
          >
            {t('console.scaleOne')}
          </button>
        </div>
        <button
          type="button"
          className="btn"
          disabled={!live || !canType}
          onClick={() => rfb.current?.sendCtrlAltDel()}
        >
          <Icon name="keyboard" /> {t('console.ctrlAltDel')}
        </button>
        <div className="menu-anchor">
          <button
            type="button"
            className="btn"
            disabled={!live || !canType}
            aria-haspopup="menu"
            aria-expanded={keysOpen}
            onClick={() => setKeysOpen(o => !o)}
          >
            {t('console.keys')} ▾
          </button>
          {keysOpen && (
            <div
              className="menu"
              role="menu"
              aria-label={t('console.keys')}
              onKeyDown={e => e.key === 'Escape' && setKeysOpen(false)}
            >
              {COMBOS.map(c => (
                <button
                  key={c.label}
                  type="button"
                  role="menuitem"
                  className="btn menu-item"
                  onClick={() => sendCombo(c)}
                >
                  {c.label}
                </button>
              ))}
            </div>
          )}
        </div>
        <button type="button" className="btn" disabled={!live || !canType} onClick={() => setPasteOpen(true)}>
          <Icon name="paste" /> {t('console.paste')}
        </button>
        <button type="button" className="btn" disabled={!live} onClick={screenshot} title={t('console.screenshotHint')}>
          <Icon name="camera" /> {t('console.screenshot')}
        </button>
        {(phase === 'failed' || phase === 'reconnecting') && (
          <button type="button" className="btn" onClick={() => setGeneration(g => g + 1)}>
            {t('console.retry')}
          </button>
        )}
        <button type="button" className="btn" onClick={toggleFull} aria-pressed={full} disabled={noScreen && !full}>
          <Icon name="fullscreen" /> {full ? t('console.exitFullscreen') : t('console.fullscreen')}
        </button>
      </div>
      <div
        className={`console-screen${fit ? ' fit' : ' one'}`}
        aria-label={t('console.canvas', { vm: vmId })}
        role="region"
      >
        <div ref={screen} className="rfb-target" data-testid="vnc-screen" />
        {!live && (
          <div className="console-overlay">
            {phase === 'connecting' || phase === 'reconnecting' ? (
              <span className="spinner big" aria-hidden="true" />
            ) : (
              <Icon name="console" size={40} />
            )}
            <p>{phase === 'reconnecting' ? t('console.connecting') : message}</p>
          </div>
        )}
      </div>
      <Dialog open={pasteOpen} title={t('console.pasteTitle', { vm: vmId })} onClose={() => setPasteOpen(false)}>
        <form
          method="dialog"
          className="form"
          onSubmit={e => {
            e.preventDefault()
            void paste()
          }}
        >
          <p className="muted">{t('console.pasteHint')}</p>
          <label>
            {t('console.pasteText')}
            <textarea
              value={pasteText}
              onChange={e => setPasteText(e.target.value)}
              rows={5}
              autoFocus
              className="mono"
            />
          </label>
          <div className="dialog-actions">
            <button type="button" className="btn" onClick={() => setPasteOpen(false)}>
              {t('confirm.cancel')}
            </button>
            <button type="submit" className="btn btn-primary" disabled={!pasteText}>
              {t('console.send')}
            </button>
          </div>
        </form>
      </Dialog>
    </div>
  )
}
