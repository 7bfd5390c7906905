/**
 * VM action buttons. "bar" shows every action (disabled when the state or the
 * role does not allow it, with the reason as a tooltip); "compact" shows the
 * likely ones for the row plus the rest in a menu.
 */
import { memo, useEffect, useRef, useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { Role, VmStatusValue } from '../../../shared/protocol'
import { actionAvailable, canControl, DESTRUCTIVE, UI_ACTIONS, type UiAction } from '../lib/permissions'
import { requestAction } from '../stores/confirm'
import type { PendingAction } from '../stores/vms'
import { Icon } from './Icon'

interface Props {
  vmId: string
  status: VmStatusValue
  role: Role | undefined
  pending: PendingAction | undefined
  variant: 'bar' | 'compact'
}

function primaryFor(status: VmStatusValue): UiAction[] {
  switch (status) {
    case 'running':
      return ['pause', 'shutdown']
    case 'paused':
      return ['resume', 'forceoff']
    case 'stopping':
      return ['forceoff']
    default:
      return ['start']
  }
}

export const ActionButtons = memo(function ActionButtons({ vmId, status, role, pending, variant }: Props) {
  const { t } = useTranslation()
  const allowed = canControl(role)
  const [menu, setMenu] = useState(false)
  const menuRef = useRef<HTMLDivElement>(null)

  useEffect(() => {
    if (!menu) return
    const close = (e: MouseEvent | KeyboardEvent) => {
      if (e instanceof KeyboardEvent ? e.key === 'Escape' : !menuRef.current?.contains(e.target as Node)) setMenu(false)
    }
    document.addEventListener('mousedown', close)
    document.addEventListener('keydown', close)
    return () => {
      document.removeEventListener('mousedown', close)
      document.removeEventListener('keydown', close)
    }
  }, [menu])

  const button = (a: UiAction, inMenu = false) => {
    const available = actionAvailable(a, status)
    const disabled = !allowed || !available || !!pending
    const reason = !allowed
      ? t('action.notAllowed', { role: t(`role.${role ?? 'viewer'}`) })
      : !available
        ? t('action.notNow', { status: t(`status.${status}`) })
        : undefined
    const label = t(`action.${a}`)
    return (
      <button
        key={a}
        type="button"
        role={inMenu ? 'menuitem' : undefined}
        className={`btn ${inMenu ? 'menu-item' : 'btn-action'}${DESTRUCTIVE.has(a) ? ' btn-danger-soft' : ''}${variant === 'compact' && !inMenu ? ' btn-icon' : ''}`}
        disabled={disabled}
        title={reason ?? label}
        aria-label={variant === 'compact' && !inMenu ? `${label} ${vmId}` : label}
        data-action={a}
        onClick={e => {
          e.stopPropagation()
          setMenu(false)
          requestAction(vmId, a)
        }}
      >
        <Icon name={a} />
        {(variant === 'bar' || inMenu) && <span>{label}</span>}
      </button>
    )
  }

  if (variant === 'bar')
    return (
      <div className="action-bar" role="toolbar" aria-label={t('list.col.actions')}>
        {UI_ACTIONS.map(a => button(a))}
      </div>
    )

  const primary = primaryFor(status)
  const rest = UI_ACTIONS.filter(a => !primary.includes(a))
  return (
    <div className="row-actions" onClick={e => e.stopPropagation()}>
      {primary.map(a => button(a))}
      <div className="menu-anchor" ref={menuRef}>
        <button
          type="button"
          className="btn btn-icon"
          aria-haspopup="menu"
          aria-expanded={menu}
          aria-label={`${t('action.more')} ${vmId}`}
          title={t('action.more')}
          onClick={() => setMenu(m => !m)}
        >
          <Icon name="more" />
        </button>
        {menu && (
          <div className="menu" role="menu" aria-label={`${t('action.more')} ${vmId}`}>
            {rest.map(a => button(a, true))}
          </div>
        )}
      </div>
    </div>
  )
})
