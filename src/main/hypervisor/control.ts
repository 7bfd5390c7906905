/**
 * vm-control decisions: which libvirt call an action makes, and which
 * refusal code it gets in the VM's current state. Pure, so every refusal is
 * unit-tested; the service asks libvirt for the fresh state before deciding.
 */
import type { ErrorCode } from '../../shared/errors.js'
import type { VmAction, VmStatusValue } from '../../shared/protocol.js'

/** The libvirt procedure an action maps to. */
export type LibvirtOp = 'create' | 'shutdown' | 'destroy' | 'reboot' | 'reset' | 'suspend' | 'resume'

export type ControlPlan = { op: LibvirtOp } | { refuse: ErrorCode; message: string }

export function planControl(vmId: string, action: VmAction, force: boolean, status: VmStatusValue): ControlPlan {
  const active = status === 'running' || status === 'paused' || status === 'stopping' || status === 'suspended'
  const notRunning = (): ControlPlan => ({
    refuse: 'VM_NOT_RUNNING',
    message: `VM ${vmId} is ${status}; ${action} needs a running VM`,
  })
  switch (action) {
    case 'start':
      if (active) return { refuse: 'VM_ALREADY_RUNNING', message: `VM ${vmId} is already ${status}` }
      return { op: 'create' }
    case 'stop':
      // A crashed VM kept by on_crash=preserve still has a process to power off.
      if (!active && !(status === 'crashed' && force)) return notRunning()
      return { op: force ? 'destroy' : 'shutdown' }
    case 'restart':
      if (!active) return notRunning()
      return { op: force ? 'reset' : 'reboot' }
    case 'reset':
      if (!active) return notRunning()
      return { op: 'reset' }
    case 'pause':
      if (status === 'paused')
        return { refuse: 'VM_NOT_RUNNING', message: `VM ${vmId} is already paused; pause needs a running VM` }
      if (status !== 'running') return notRunning()
      return { op: 'suspend' }
    case 'resume':
      if (status !== 'paused') return { refuse: 'VM_NOT_PAUSED', message: `VM ${vmId} is ${status}, not paused` }
      return { op: 'resume' }
  }
}
