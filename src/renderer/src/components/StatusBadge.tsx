import { memo } from 'react'
import { useTranslation } from 'react-i18next'
import type { VmStatusValue } from '../../../shared/protocol'
import type { PendingAction } from '../stores/vms'

export const StatusBadge = memo(function StatusBadge({
  status,
  pending,
}: {
  status: VmStatusValue
  pending?: PendingAction | undefined
}) {
  const { t } = useTranslation()
  return (
    <span
      className={`badge badge-${status}${pending ? ' badge-pending' : ''}`}
      data-status={status}
      data-testid="vm-status"
    >
      {pending ? <span className="spinner" aria-hidden="true" /> : <span className="dot" aria-hidden="true" />}
      {t(`status.${status}`)}
      {pending && (
        <span className="visually-hidden"> {t('action.inProgress', { action: t(`action.${pending.action}`) })}</span>
      )}
    </span>
  )
})
