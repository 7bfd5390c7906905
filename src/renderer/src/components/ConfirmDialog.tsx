import { useTranslation } from 'react-i18next'
import { cancelConfirm, confirmAction, useConfirmStore } from '../stores/confirm'
import { Dialog } from './Dialog'

export function ConfirmDialog() {
  const { t } = useTranslation()
  const req = useConfirmStore(s => s.request)
  const label = req ? t(`action.${req.action}`) : ''
  return (
    <Dialog
      open={!!req}
      tone="danger"
      title={req ? t('confirm.title', { action: label, vm: req.vmId }) : ''}
      onClose={cancelConfirm}
    >
      {req && (
        <>
          <p>{t(`confirm.${req.action}`)}</p>
          <div className="dialog-actions">
            <button type="button" className="btn" onClick={cancelConfirm} autoFocus>
              {t('confirm.cancel')}
            </button>
            <button type="button" className="btn btn-danger" onClick={confirmAction}>
              {label}
            </button>
          </div>
        </>
      )}
    </Dialog>
  )
}
