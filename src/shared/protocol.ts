/**
 * The VoidVM WebSocket protocol: every client message's schema (zod, so the
 * server validates with the same definitions the client is typed by) and the
 * shapes of every server message. docs/protocol.md is the prose version.
 */
import { z } from 'zod'
import type { ErrorCode } from './errors.js'

/** A VM reference: the libvirt domain name, or its UUID. */
const vmRef = z.string().min(1, 'vmId must be a VM name or UUID').max(256)
// Range checks come before .int() below: zod's int check would report the
// safe-integer bounds (±9007199254740991) for 1e308 instead of the field's own.
const sessionId = z.string().min(1).max(128)

export const VM_STATUSES = ['running', 'paused', 'stopped', 'stopping', 'crashed', 'suspended', 'unknown'] as const
export type VmStatusValue = (typeof VM_STATUSES)[number]

export const VM_ACTIONS = ['start', 'stop', 'restart', 'pause', 'resume', 'reset'] as const
export type VmAction = (typeof VM_ACTIONS)[number]

export const TOPICS = ['vm-status', 'vm-status-all', 'system-monitor'] as const
export type Topic = (typeof TOPICS)[number]

/** system-monitor interval bounds (ms); requests outside are clamped. */
export const MONITOR_INTERVAL = { min: 500, max: 60_000, default: 5_000 } as const

export const ROLES = ['admin', 'operator', 'viewer'] as const
export type Role = (typeof ROLES)[number]

// ---------------------------------------------------------------- client → server

export const authData = z.object({ token: z.string().min(1, 'token is required') })

export const subscribeData = z.object({
  topic: z.enum(TOPICS),
  vmId: vmRef.optional(),
  interval: z.number().positive().int().optional(),
})

export const unsubscribeData = z.object({
  topic: z.enum(TOPICS),
  vmId: vmRef.optional(),
})

export const vmControlData = z.object({
  vmId: vmRef,
  action: z.enum(VM_ACTIONS),
  force: z.boolean().optional(),
})

export const vmInfoData = z.object({ vmId: vmRef })

/** host-info takes no fields. */
export const hostInfoData = z.object({})

export const vmAutostartData = z.object({
  vmId: vmRef,
  /** true: the VM starts when the host does; false: it does not. */
  enabled: z.boolean({ error: 'enabled must be true or false' }),
})

export const vncConnectData = z.object({
  vmId: vmRef,
  /** "json" (default): RFB bytes travel as base64 in vnc-data; "websocket": also returns a binary WebSocket url. */
  transport: z.enum(['json', 'websocket']).optional(),
})

export const vncDataData = z.object({
  vmId: vmRef,
  sessionId: sessionId.optional(),
  data: z.base64('data must be base64'),
})

const vncTarget = { vmId: vmRef, sessionId: sessionId.optional() }
const coordinate = z.number().min(0).max(65535).int()

export const vncInputData = z.discriminatedUnion('inputType', [
  z.object({
    ...vncTarget,
    inputType: z.literal('mouse'),
    x: coordinate,
    y: coordinate,
    /**
     * RFB button mask: bit 0 left, 1 middle, 2 right, 3/4 wheel up/down, 5/6 back/forward.
     * Bit 7 marks RFB's extended pointer event, so it is never a button (0…127).
     */
    buttons: z
      .number()
      .min(0)
      .max(127, { message: 'bit 7 is reserved by RFB as the extended-pointer marker: buttons must be 0…127' })
      .int(),
  }),
  z.object({
    ...vncTarget,
    inputType: z.literal('keyboard'),
    /** A KeyboardEvent.key value ("Enter", "a", "ArrowLeft", "F5", …). */
    key: z.string().min(1).max(32),
    down: z.boolean(),
  }),
  z.object({
    ...vncTarget,
    inputType: z.literal('text'),
    /** Typed as key presses on a US layout ("paste as keystrokes"). */
    text: z.string().min(1).max(65536),
  }),
])

export const vncDisconnectData = z.object(vncTarget)

export const sshCredentials = z.union(
  [
    z.object({ username: z.string().min(1).max(256), password: z.string().max(4096) }),
    z.object({
      username: z.string().min(1).max(256),
      privateKey: z.string().min(1).max(65536),
      passphrase: z.string().max(4096).optional(),
    }),
  ],
  // Without it a wrong shape is only "Invalid input".
  { error: 'credentials must be {username, password} or {username, privateKey, passphrase?} (strings)' },
)

const termSize = { cols: z.number().min(1).max(1000).int(), rows: z.number().min(1).max(1000).int() }

export const terminalConnectData = z.object({
  vmId: vmRef,
  type: z.enum(['ssh', 'serial']),
  credentials: sshCredentials.optional(),
  port: z.number().min(1).max(65535).int().optional(),
  cols: termSize.cols.optional(),
  rows: termSize.rows.optional(),
})

const terminalTarget = { vmId: vmRef, sessionId: sessionId.optional() }

export const terminalInputData = z.object({ ...terminalTarget, input: z.string().max(1 << 20) })
export const terminalResizeData = z.object({ ...terminalTarget, ...termSize })
export const terminalDisconnectData = z.object(terminalTarget)

/** Every client message type and the schema of its `data`. */
export const CLIENT_MESSAGES = {
  auth: authData,
  subscribe: subscribeData,
  unsubscribe: unsubscribeData,
  'vm-control': vmControlData,
  'vm-info': vmInfoData,
  'vm-autostart': vmAutostartData,
  'host-info': hostInfoData,
  'vnc-connect': vncConnectData,
  'vnc-data': vncDataData,
  'vnc-input': vncInputData,
  'vnc-disconnect': vncDisconnectData,
  'terminal-connect': terminalConnectData,
  'terminal-input': terminalInputData,
  'terminal-resize': terminalResizeData,
  'terminal-disconnect': terminalDisconnectData,
} as const

export type ClientMessageType = keyof typeof CLIENT_MESSAGES
export type ClientMessageData<T extends ClientMessageType> = z.infer<(typeof CLIENT_MESSAGES)[T]>

/** The envelope every client frame must have. */
export const clientEnvelope = z.object({
  type: z.string().min(1, 'type is required'),
  data: z.unknown().optional(),
  id: z
    .union([z.string().max(256), z.number()], { error: 'id must be a string (at most 256 characters) or a number' })
    .optional(),
})

// ---------------------------------------------------------------- server → client

export interface VmStatusData {
  vmId: string
  uuid: string
  name: string
  status: VmStatusValue
  /** Percent of all the VM's vCPUs, 0–100. */
  cpu: number
  /** Percent of the guest's memory in use, 0–100. */
  memory: number
  /** Bytes per second since the last sample. */
  network: { rx: number; tx: number }
  disk: { read: number; write: number }
  vcpus: number
  memoryKiB: number
}

export interface SystemMonitorData {
  cpu: { usage: number; cores: number[] }
  /** KiB, and percent. */
  memory: { total: number; used: number; usage: number }
  /** Bytes per second. */
  disk: { read: number; write: number }
  network: { rx: number; tx: number }
}

export const SYSTEM_EVENTS = [
  'vm-created',
  'vm-deleted',
  'vm-started',
  'vm-stopped',
  'vm-paused',
  'vm-resumed',
  'vm-restarted',
  'vm-reset',
  'vm-crashed',
  'hypervisor-connected',
  'hypervisor-disconnected',
] as const
export type SystemEventName = (typeof SYSTEM_EVENTS)[number]

export interface SystemEventData {
  event: SystemEventName
  vmId?: string
  userId?: string
  /** The acting user's name at the time of the action; present whenever userId is (absent from older servers). */
  username?: string
  message: string
  level: 'info' | 'warning' | 'error'
}

export interface ErrorData {
  code: ErrorCode
  message: string
  vmId?: string
  details?: string
  /** The offending field's path, for INVALID_MESSAGE. */
  field?: string
}

export interface AuthResponseData {
  userId: string
  username: string
  role: Role
  expiresAt: string
}

export interface SubscribeResponseData {
  topic: Topic
  vmId?: string
  interval?: number
}

export interface VmControlResponseData {
  vmId: string
  action: VmAction
  status: 'success'
}

/** `host-info-response`: the hypervisor host as its libvirt daemon describes it. */
export interface HostInfoData {
  hostname: string
  /** The libvirt connection, as the server shows it (no credentials). */
  uri: string
  /** The driver and its version ("QEMU", "7.2.0"); version absent when the daemon cannot tell. */
  hypervisor: { type: string; version?: string }
  libvirtVersion: string
  cpu: {
    /** e.g. "x86_64". */
    arch: string
    /** libvirt's CPU model name and vendor, when the capabilities give them. */
    model?: string
    vendor?: string
    /** Logical CPUs, and their topology. */
    cpus: number
    mhz: number
    sockets: number
    cores: number
    threads: number
    numaNodes: number
  }
  /** Whether the daemon can run KVM-accelerated guests (else only emulated ones). */
  kvm: boolean
  memoryKiB: number
  /** The VMs this user may see: all, and those running or paused. */
  vms: { total: number; running: number }
}

/** `vm-autostart-response`: the VM's autostart setting as libvirt now has it. */
export interface VmAutostartResponseData {
  vmId: string
  autostart: boolean
}

/** One `<disk>` of a VM. Sizes come from libvirt when it can tell (bytes). */
export interface VmDiskInfo {
  /** The guest-side name: "vda", "sda", "hdc". */
  target: string
  /** "disk", "cdrom", "floppy" or "lun". */
  device: string
  bus?: string
  /** File or block device path, "pool/volume", or "protocol://host/name" for network disks; absent for an empty drive. */
  source?: string
  /** Image format ("qcow2", "raw"). */
  format?: string
  readonly: boolean
  /** Size as the guest sees it. */
  capacityBytes?: number
  /** Space the image takes on the host. */
  allocationBytes?: number
}

/** One `<interface>` of a VM, with the guest addresses VoidVM could find for its MAC. */
export interface VmNicInfo {
  mac?: string
  /** "network", "bridge", "direct", "user", "ethernet", … */
  type: string
  /** The network name, bridge or host device it is attached to. */
  source?: string
  /** The NIC model the guest sees ("virtio", "e1000"). */
  model?: string
  /** The host-side device while running ("vnet3"). */
  hostDevice?: string
  /** IPv4 first; empty when none is known (stopped VM, no lease, no traffic yet). */
  addresses: string[]
}

/** One `<graphics>` device; never its password. */
export interface VmGraphicsInfo {
  type: string
  /** The display port while running (VNC 5900+). */
  port?: number
  listen?: string
}

/** `vm-info-response`: a VM's configuration and where it can be reached. */
export interface VmInfoData {
  vmId: string
  uuid: string
  name: string
  title?: string
  description?: string
  status: VmStatusValue
  /** False for a transient VM (gone once it stops). */
  persistent: boolean
  /** Starts when the host boots. */
  autostart: boolean
  /** OS type ("hvm"), architecture ("x86_64") and machine type ("pc-q35-7.2"). */
  os: { type: string; arch?: string; machine?: string }
  vcpus: number
  /** Current and maximum memory, KiB. */
  memoryKiB: number
  maxMemoryKiB: number
  disks: VmDiskInfo[]
  nics: VmNicInfo[]
  graphics: VmGraphicsInfo[]
}

export interface VncConnectResponseData {
  vmId: string
  sessionId: string
  width: number
  height: number
  name: string
  /** With transport "websocket": a single-use path (`/ws/vnc?ticket=…`), valid 30 s. */
  url?: string
}

export interface VncDataPush {
  vmId: string
  sessionId: string
  data: string
}

export interface VncClosedData {
  vmId: string
  sessionId: string
  reason: string
}

export interface TerminalConnectResponseData {
  vmId: string
  sessionId: string
  type: 'ssh' | 'serial'
  /** SHA-256 fingerprint of the SSH host key (base64, as OpenSSH prints it). */
  hostKey?: string
}

export interface TerminalOutputData {
  vmId: string
  sessionId: string
  output: string
}

export interface TerminalClosedData {
  vmId: string
  sessionId: string
  exitCode?: number
  signal?: string
  reason: string
}

/** Pushes: server messages without an id. */
export interface ServerPushes {
  'vm-status': VmStatusData
  'system-monitor': SystemMonitorData
  'system-event': SystemEventData
  error: ErrorData
  'vnc-data': VncDataPush
  'vnc-closed': VncClosedData
  'terminal-output': TerminalOutputData
  'terminal-closed': TerminalClosedData
}

/** Replies: `<type>-response` for each client message type. */
export interface ServerResponses {
  'auth-response': AuthResponseData
  'subscribe-response': SubscribeResponseData
  'unsubscribe-response': SubscribeResponseData
  'vm-control-response': VmControlResponseData
  'vm-info-response': VmInfoData
  'vm-autostart-response': VmAutostartResponseData
  'host-info-response': HostInfoData
  'vnc-connect-response': VncConnectResponseData
  'vnc-data-response': { vmId: string; sessionId: string }
  'vnc-input-response': { vmId: string; sessionId: string }
  'vnc-disconnect-response': { vmId: string; sessionId: string }
  'terminal-connect-response': TerminalConnectResponseData
  'terminal-input-response': { vmId: string; sessionId: string }
  'terminal-resize-response': { vmId: string; sessionId: string; cols: number; rows: number }
  'terminal-disconnect-response': { vmId: string; sessionId: string }
}

export type ServerMessageType = keyof ServerPushes | keyof ServerResponses

export interface ServerMessage<T extends ServerMessageType = ServerMessageType> {
  type: T
  data: T extends keyof ServerPushes ? ServerPushes[T] : T extends keyof ServerResponses ? ServerResponses[T] : never
  id?: string | number
  timestamp: string
}

// ---------------------------------------------------------------- HTTP

export interface HealthResponse {
  status: 'ok'
  version: string
  hypervisor: { connected: boolean; uri: string }
}

export interface LoginResponse {
  token: string
  expiresAt: string
  user: { id: string; username: string; role: Role }
}

/** Paths of the HTTP and WebSocket endpoints. */
export const ENDPOINTS = {
  ws: '/ws',
  vncWs: '/ws/vnc',
  health: '/api/health',
  login: '/api/auth/login',
} as const
