import { useTranslation } from 'react-i18next'
import { dismissToast, useEventStore } from '../stores/events'
import { Icon } from './Icon'

export function Toasts() {
  const { t } = useTranslation()
  const toasts = useEventStore(s => s.toasts)
  return (
    <div className="toasts" role="region" aria-label={t('toast.region')} aria-live="polite">
      {toasts.map(ts => (
        <div
          key={ts.key}
          className={`toast toast-${ts.level}`}
          role={ts.level === 'error' ? 'alert' : 'status'}
          data-code={ts.code}
        >
          <div className="toast-body">
            <strong>{ts.title}</strong>
            {ts.body && <span>{ts.body}</span>}
          </div>
          <button
            type="button"
            className="btn btn-icon btn-ghost"
            aria-label={t('toast.dismiss')}
            onClick={() => dismissToast(ts.key)}
          >
            <Icon name="close" size={12} />
          </button>
        </div>
      ))}
    </div>
  )
}
