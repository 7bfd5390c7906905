/** The one pending confirmation (destructive VM actions ask before running). */
import { create } from 'zustand'
import { DESTRUCTIVE, type UiAction } from '../lib/permissions'
import { runAction } from './session'

export interface ConfirmState {
  request: { vmId: string; action: UiAction } | null
}

export const useConfirmStore = create<ConfirmState>(() => ({ request: null }))

/** Runs the action, asking first when it is destructive. */
export function requestAction(vmId: string, action: UiAction): void {
  if (DESTRUCTIVE.has(action)) useConfirmStore.setState({ request: { vmId, action } })
  else void runAction(vmId, action)
}

export function confirmAction(): void {
  const r = useConfirmStore.getState().request
  useConfirmStore.setState({ request: null })
  if (r) void runAction(r.vmId, r.action)
}

export function cancelConfirm(): void {
  useConfirmStore.setState({ request: null })
}
