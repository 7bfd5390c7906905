/**
 * The closed list of error codes the server sends in `error` messages and in
 * HTTP error bodies. Clients may switch on these; they never change meaning.
 * docs/protocol.md documents each one.
 */
export const ERROR_CODES = {
  UNAUTHORIZED: 'Not authenticated, or the token is missing, invalid, expired or revoked.',
  FORBIDDEN: "The user's role or VM grants do not allow this message.",
  INVALID_MESSAGE:
    'The message is not JSON, or a field is missing or has the wrong type or range (the message names the field).',
  UNKNOWN_TYPE: 'The message type is not part of the protocol.',
  RATE_LIMITED: 'Too many messages, connections or login attempts; slow down and retry later.',
  SESSION_LIMIT: 'Too many VNC or terminal sessions are open on this socket.',
  SESSION_NOT_FOUND: 'No VNC or terminal session matches the vmId/sessionId given.',
  INTERNAL_ERROR: 'The server failed unexpectedly; the details are in the server log.',
  HYPERVISOR_UNAVAILABLE: 'The server has no connection to libvirt right now.',
  VM_NOT_FOUND: 'No VM with that name or UUID exists.',
  VM_NOT_RUNNING: 'The action needs a running (or paused) VM.',
  VM_ALREADY_RUNNING: 'The VM is already running.',
  VM_NOT_PAUSED: 'resume needs a paused VM.',
  VM_START_FAILED: 'libvirt refused to start the VM (details has its message).',
  VM_STOP_FAILED: 'libvirt refused to stop the VM (details has its message).',
  VM_RESTART_FAILED: 'libvirt refused to reboot the VM (details has its message).',
  VM_PAUSE_FAILED: 'libvirt refused to pause the VM (details has its message).',
  VM_RESUME_FAILED: 'libvirt refused to resume the VM (details has its message).',
  VM_RESET_FAILED: 'libvirt refused to reset the VM (details has its message).',
  VM_AUTOSTART_FAILED:
    'libvirt refused to change whether the VM starts with the host (a transient VM cannot; details has its message).',
  VNC_UNAVAILABLE: 'The VM is not running or has no VNC graphics.',
  VNC_CONNECT_FAILED: "The connection or RFB handshake with the VM's VNC server failed (the message says why).",
  TERMINAL_AUTH_FAILED: 'The SSH server rejected the credentials.',
  TERMINAL_CONNECT_FAILED:
    'The terminal could not be opened: connection refused, timed out, or no address known for the VM.',
  HOST_KEY_MISMATCH: "The VM's SSH host key differs from the one pinned on first use.",
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[]

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/** `VM_<ACTION>_FAILED` for a vm-control action. */
export function controlFailureCode(action: 'start' | 'stop' | 'restart' | 'pause' | 'resume' | 'reset'): ErrorCode {
  return `VM_${action.toUpperCase()}_FAILED` as ErrorCode
}
