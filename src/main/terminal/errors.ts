/**
 * Terminal failures carry one of the protocol's error codes, so the bridge can
 * hand them to the client unchanged (as ApiError) and tests can switch on them.
 */
import { ApiError } from '../server/bridge.js'

export type TerminalErrorCode =
  | 'VM_NOT_FOUND'
  | 'TERMINAL_AUTH_FAILED'
  | 'TERMINAL_CONNECT_FAILED'
  | 'HOST_KEY_MISMATCH'
  | 'SESSION_NOT_FOUND'
  | 'FORBIDDEN'
  | 'INVALID_MESSAGE'

/** Why a connect failed, for TERMINAL_CONNECT_FAILED (also in `details`). */
export type ConnectFailure =
  'refused' | 'timed-out' | 'no-address' | 'unreachable' | 'closed' | 'vm-not-running' | 'console-busy'

export class TerminalError extends ApiError {
  constructor(
    code: TerminalErrorCode,
    message: string,
    extra: { vmId?: string; details?: string; field?: string } = {},
  ) {
    super(code, message, extra)
    this.name = 'TerminalError'
  }
}

export function connectFailed(reason: ConnectFailure, message: string, vmId?: string): TerminalError {
  return new TerminalError('TERMINAL_CONNECT_FAILED', message, { details: reason, ...(vmId ? { vmId } : {}) })
}
