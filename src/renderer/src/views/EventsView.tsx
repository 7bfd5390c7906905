/** The feed of system events, newest first, localised from their codes. */
import { useEffect } from 'react'
import { useTranslation } from 'react-i18next'
import { describeEvent } from '../i18n'
import { formatTime } from '../lib/format'
import { clearEvents, markRead, useEventStore } from '../stores/events'
import { useSessionStore } from '../stores/session'
import { navigate } from '../stores/ui'

export function EventsView() {
  const { t, i18n } = useTranslation()
  const events = useEventStore(s => s.events)
  const me = useSessionStore(s => s.user)
  // The server names the acting user by id; ours we can name, others are shortened.
  const who = (id: string) => (me && id === me.userId ? me.username : id.length > 12 ? id.slice(0, 8) : id)
  useEffect(() => {
    markRead()
  }, [events])
  return (
    <section className="view view-events" aria-labelledby="events-title">
      <header className="view-header">
        <h2 id="events-title">{t('events.title')}</h2>
        <button type="button" className="btn" onClick={clearEvents} disabled={events.length === 0}>
          {t('events.clear')}
        </button>
      </header>
      {events.length === 0 ? (
        <p className="empty">{t('events.empty')}</p>
      ) : (
        <ol className="event-feed" aria-live="polite">
          {events.map(e => (
            <li key={e.key} className={`event event-${e.level}`} data-event={e.event}>
              <time dateTime={e.timestamp}>{formatTime(e.timestamp, i18n.language)}</time>
              <span className={`level level-${e.level}`}>{t(`events.level.${e.level}`)}</span>
              <span className="event-msg">{describeEvent(e)}</span>
              {e.vmId && (
                <button type="button" className="link" onClick={() => navigate('vm', e.vmId, 'overview')}>
                  {e.vmId}
                </button>
              )}
              {e.userId && <span className="muted">{t('events.by', { user: who(e.userId) })}</span>}
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
