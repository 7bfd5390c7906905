/**
 * Which actions a role may take and which ones make sense in a VM's state.
 * The server enforces the same rules; the UI disables what would be refused.
 */
import type { Role, VmAction, VmStatusValue } from '../../../shared/protocol'

/** UI actions: the protocol's actions plus their `force` variants. */
export const UI_ACTIONS = ['start', 'shutdown', 'forceoff', 'reboot', 'reset', 'pause', 'resume'] as const
export type UiAction = (typeof UI_ACTIONS)[number]

export const ACTION_REQUEST: Record<UiAction, { action: VmAction; force?: boolean }> = {
  start: { action: 'start' },
  shutdown: { action: 'stop' },
  forceoff: { action: 'stop', force: true },
  reboot: { action: 'restart' },
  reset: { action: 'reset' },
  pause: { action: 'pause' },
  resume: { action: 'resume' },
}

/** Actions that can lose the guest's unsaved work or interrupt it: always confirmed. */
export const DESTRUCTIVE: ReadonlySet<UiAction> = new Set(['shutdown', 'forceoff', 'reboot', 'reset'])

/** The status an action is waiting for; a pending action ends when the VM reaches one. */
export const ACTION_TARGET: Record<UiAction, readonly VmStatusValue[]> = {
  start: ['running'],
  shutdown: ['stopped', 'crashed'],
  forceoff: ['stopped', 'crashed'],
  reboot: ['running'],
  reset: ['running'],
  pause: ['paused'],
  resume: ['running'],
}

export function canControl(role: Role | undefined): boolean {
  return role === 'admin' || role === 'operator'
}

/** Terminals give a shell inside the guest: same bar as control. */
export const canOpenTerminal = canControl
/**
 * The server's `console` permission (vnc-connect and vnc-input) belongs to
 * operators and admins; it refuses vnc-connect to viewers with FORBIDDEN, so
 * a viewer gets no console at all rather than a watch-only one.
 */
export const canOpenConsole = canControl
/** Whoever may open the console may also type into it (same server permission). */
export const canTypeInConsole = canOpenConsole

export function actionAvailable(action: UiAction, status: VmStatusValue): boolean {
  switch (action) {
    case 'start':
      return status === 'stopped' || status === 'crashed' || status === 'suspended'
    case 'shutdown':
    case 'reboot':
    case 'reset':
    case 'pause':
      return status === 'running'
    case 'forceoff':
      return status === 'running' || status === 'paused' || status === 'stopping' || status === 'crashed'
    case 'resume':
      return status === 'paused'
  }
}
