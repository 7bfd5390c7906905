/** The feed of system events, newest first, localised from their codes. */
import { useEffect } from 'react'
import { useTranslation } from 'react-i18next'
import { describeActor, describeEvent } from '../i18n'
import { formatEventTime } from '../lib/format'
import { clearEvents, markRead, useEventStore } from '../stores/events'
import { useSessionStore } from '../stores/session'
import { navigate } from '../stores/ui'

export function EventsView() {
  const { t, i18n } = useTranslation()
  const events = useEventStore(s => s.events)
  const me = useSessionStore(s => s.user)
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
          {events.map(e => {
            // Only events that came through VoidVM have an actor; libvirt's own have none.
            const actor = describeActor(e, me)
            return (
              <li key={e.key} className={`event event-${e.level}`} data-event={e.event}>
                <time dateTime={e.timestamp}>{formatEventTime(e.timestamp, i18n.language)}</time>
                <span className={`level level-${e.level}`}>{t(`events.level.${e.level}`)}</span>
                <span className="event-msg">{describeEvent(e)}</span>
                {e.vmId && (
                  <button type="button" className="link" onClick={() => navigate('vm', e.vmId, 'overview')}>
                    {e.vmId}
                  </button>
                )}
                {actor !== undefined && <span className="muted event-actor">{t('events.by', { user: actor })}</span>}
              </li>
            )
          })}
        </ol>
      )}
    </section>
  )
}
