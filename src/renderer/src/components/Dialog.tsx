/**
 * A modal on the native <dialog>: the browser traps focus, Escape closes it,
 * and focus returns to the opener afterwards.
 */
import { useEffect, useId, useRef, type ReactNode } from 'react'

export interface DialogProps {
  open: boolean
  title: string
  onClose: () => void
  children: ReactNode
  tone?: 'default' | 'danger'
  className?: string
}

export function Dialog({ open, title, onClose, children, tone = 'default', className }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  useEffect(() => {
    const d = ref.current
    if (!d) return
    if (open && !d.open) d.showModal()
    if (!open && d.open) d.close()
  }, [open])
  return (
    <dialog
      ref={ref}
      className={`dialog dialog-${tone} ${className ?? ''}`}
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={e => {
        e.preventDefault()
        onClose()
      }}
    >
      {open && (
        <>
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          {children}
        </>
      )}
    </dialog>
  )
}
