/**
 * Numbers from libvirt's src/remote/remote_protocol.x, src/rpc/virnetprotocol.x
 * and include/libvirt/*.h. Kept as plain constants so callers can compare
 * against what the daemon sends without a lookup table.
 */

/** The remote program and its version (remote_protocol.x). */
export const REMOTE_PROGRAM = 0x20008086
export const REMOTE_PROTOCOL_VERSION = 1
/** The keepalive program (virkeepaliveprotocol.x). */
export const KEEPALIVE_PROGRAM = 0x6b656570
export const KEEPALIVE_PROTOCOL_VERSION = 1
export const KEEPALIVE_PROC_PING = 1
export const KEEPALIVE_PROC_PONG = 2

/** Largest packet the daemon accepts/sends (VIR_NET_MESSAGE_MAX, 32 MiB). */
export const MESSAGE_MAX = 33_554_432
/** Largest chunk of stream data per packet (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX). */
export const STREAM_CHUNK_MAX = 262_144

/** virNetMessageType */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const

/** virNetMessageStatus */
export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const

/** remote_procedure numbers used by this client. */
export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_TYPE: 3,
  CONNECT_GET_VERSION: 4,
  NODE_GET_INFO: 6,
  CONNECT_GET_CAPABILITIES: 7,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_GET_AUTOSTART: 15,
  DOMAIN_GET_INFO: 16,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_REBOOT: 27,
  DOMAIN_RESUME: 28,
  DOMAIN_SET_AUTOSTART: 29,
  DOMAIN_SUSPEND: 34,
  CONNECT_GET_HOSTNAME: 59,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  DOMAIN_IS_PERSISTENT: 151,
  CONNECT_GET_URI: 110,
  CONNECT_GET_LIB_VERSION: 157,
  DOMAIN_GET_BLOCK_INFO: 194,
  DOMAIN_CREATE_WITH_FLAGS: 196,
  DOMAIN_OPEN_CONSOLE: 201,
  DOMAIN_GET_STATE: 212,
  NODE_GET_CPU_STATS: 227,
  NODE_GET_MEMORY_STATS: 228,
  DOMAIN_UNDEFINE_FLAGS: 231,
  DOMAIN_DESTROY_FLAGS: 234,
  DOMAIN_RESET: 245,
  DOMAIN_SHUTDOWN_FLAGS: 258,
  CONNECT_LIST_ALL_DOMAINS: 273,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  DOMAIN_EVENT_CALLBACK_REBOOT: 319,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
  DOMAIN_DEFINE_XML_FLAGS: 350,
  DOMAIN_INTERFACE_ADDRESSES: 353,
} as const

/** VIR_DRV_FEATURE_PROGRAM_KEEPALIVE: asked with CONNECT_SUPPORTS_FEATURE before pinging. */
export const FEATURE_PROGRAM_KEEPALIVE = 10

/** remote_auth_type */
export const AuthType = { NONE: 0, SASL: 1, POLKIT: 2 } as const

/** virDomainState: what DOMAIN_GET_INFO / DOMAIN_GET_STATE report. */
export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const
export type DomainStateNumber = (typeof DomainState)[keyof typeof DomainState]
export const VIR_DOMAIN_NOSTATE = 0
export const VIR_DOMAIN_RUNNING = 1
export const VIR_DOMAIN_BLOCKED = 2
export const VIR_DOMAIN_PAUSED = 3
export const VIR_DOMAIN_SHUTDOWN = 4
export const VIR_DOMAIN_SHUTOFF = 5
export const VIR_DOMAIN_CRASHED = 6
export const VIR_DOMAIN_PMSUSPENDED = 7

/** virDomainEventID used with CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY. */
export const DomainEventId = { LIFECYCLE: 0, REBOOT: 1 } as const

/** virDomainEventType: the `event` of a lifecycle event. */
export const LifecycleEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const
export type LifecycleEventNumber = (typeof LifecycleEvent)[keyof typeof LifecycleEvent]
export const VIR_DOMAIN_EVENT_DEFINED = 0
export const VIR_DOMAIN_EVENT_UNDEFINED = 1
export const VIR_DOMAIN_EVENT_STARTED = 2
export const VIR_DOMAIN_EVENT_SUSPENDED = 3
export const VIR_DOMAIN_EVENT_RESUMED = 4
export const VIR_DOMAIN_EVENT_STOPPED = 5
export const VIR_DOMAIN_EVENT_SHUTDOWN = 6
export const VIR_DOMAIN_EVENT_PMSUSPENDED = 7
export const VIR_DOMAIN_EVENT_CRASHED = 8

/** Details of the `STOPPED` lifecycle event (virDomainEventStoppedDetailType). */
export const StoppedDetail = {
  SHUTDOWN: 0,
  DESTROYED: 1,
  CRASHED: 2,
  MIGRATED: 3,
  SAVED: 4,
  FAILED: 5,
  FROM_SNAPSHOT: 6,
} as const
/** Details of the `STARTED` lifecycle event (virDomainEventStartedDetailType). */
export const StartedDetail = { BOOTED: 0, MIGRATED: 1, RESTORED: 2, FROM_SNAPSHOT: 3, WAKEUP: 4 } as const
/** Details of the `SUSPENDED` lifecycle event (virDomainEventSuspendedDetailType). */
export const SuspendedDetail = {
  PAUSED: 0,
  MIGRATED: 1,
  IOERROR: 2,
  WATCHDOG: 3,
  RESTORED: 4,
  FROM_SNAPSHOT: 5,
  API_ERROR: 6,
  POSTCOPY: 7,
  POSTCOPY_FAILED: 8,
} as const
/** Details of the `RESUMED` lifecycle event (virDomainEventResumedDetailType). */
export const ResumedDetail = { UNPAUSED: 0, MIGRATED: 1, FROM_SNAPSHOT: 2, POSTCOPY: 3 } as const
/** Details of the `DEFINED` lifecycle event. */
export const DefinedDetail = { ADDED: 0, UPDATED: 1, RENAMED: 2, FROM_SNAPSHOT: 3 } as const
/** Details of the `SHUTDOWN` lifecycle event. */
export const ShutdownDetail = { FINISHED: 0, GUEST: 1, HOST: 2 } as const

/** virConnectGetAllDomainStats `stats` mask (virDomainStatsTypes). */
export const DomainStats = {
  STATE: 1,
  CPU_TOTAL: 2,
  BALLOON: 4,
  VCPU: 8,
  INTERFACE: 16,
  BLOCK: 32,
  PERF: 64,
  IOTHREAD: 128,
  MEMORY: 256,
  DIRTYRATE: 512,
  VM: 1024,
} as const

/** virConnectGetAllDomainStats `flags` (virConnectGetAllDomainStatsFlags). */
export const DomainStatsFlags = {
  ACTIVE: 1,
  INACTIVE: 2,
  PERSISTENT: 4,
  TRANSIENT: 8,
  RUNNING: 16,
  PAUSED: 32,
  SHUTOFF: 64,
  OTHER: 128,
  NOWAIT: 0x20000000,
  BACKING: 0x40000000,
  ENFORCE_STATS: 0x80000000,
} as const

/** virConnectListAllDomains flags. */
export const ListDomainsFlags = {
  ACTIVE: 1,
  INACTIVE: 2,
  PERSISTENT: 4,
  TRANSIENT: 8,
  RUNNING: 16,
  PAUSED: 32,
  SHUTOFF: 64,
  OTHER: 128,
} as const

/** virDomainXMLFlags */
export const DomainXmlFlags = { SECURE: 1, INACTIVE: 2, UPDATE_CPU: 4, MIGRATABLE: 8 } as const

/** virDomainInterfaceAddressesSource */
export const InterfaceAddressSource = { LEASE: 0, AGENT: 1, ARP: 2 } as const
export type InterfaceAddressSourceNumber = (typeof InterfaceAddressSource)[keyof typeof InterfaceAddressSource]

/** virIPAddrType */
export const IpAddrType = { IPV4: 0, IPV6: 1 } as const

/** virDomainShutdownFlagValues / virDomainRebootFlagValues */
export const ShutdownFlags = {
  DEFAULT: 0,
  ACPI_POWER_BTN: 1,
  GUEST_AGENT: 2,
  INITCTL: 4,
  SIGNAL: 8,
  PARAVIRT: 16,
} as const
/** virDomainDestroyFlagsValues */
export const DestroyFlags = { DEFAULT: 0, GRACEFUL: 1, REMOVE_LOGS: 2 } as const
/** virDomainUndefineFlagsValues */
export const UndefineFlags = {
  MANAGED_SAVE: 1,
  SNAPSHOTS_METADATA: 2,
  NVRAM: 4,
  KEEP_NVRAM: 8,
  CHECKPOINTS_METADATA: 16,
  TPM: 32,
  KEEP_TPM: 64,
} as const
/** virDomainConsoleFlags */
export const ConsoleFlags = { FORCE: 1, SAFE: 2 } as const

/** virTypedParameterType: the tags of remote_typed_param_value. */
export const TypedParamType = {
  INT: 1,
  UINT: 2,
  LLONG: 3,
  ULLONG: 4,
  DOUBLE: 5,
  BOOLEAN: 6,
  STRING: 7,
} as const
/** VIR_TYPED_PARAM_STRING_OKAY: without it the daemon drops string-valued parameters. */
export const TYPED_PARAM_STRING_OKAY = 4

/** A few virErrorNumber values callers branch on (include/libvirt/virterror.h). */
export const ErrorCode = {
  OK: 0,
  INTERNAL_ERROR: 1,
  NO_MEMORY: 2,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_DOMAIN: 7,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  XML_DETAIL: 35,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  AUTH_FAILED: 45,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  OPERATION_ABORTED: 78,
  AUTH_CANCELLED: 79,
  OPERATION_UNSUPPORTED: 84,
  AGENT_UNRESPONSIVE: 86,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  AUTH_UNAVAILABLE: 94,
} as const
export const VIR_ERR_NO_DOMAIN = 42
export const VIR_ERR_OPERATION_INVALID = 55

/** virErrorDomain values this client reports for its own (non-daemon) errors. */
export const ErrorDomain = { NONE: 0, RPC: 7, QEMU: 10, DOM: 20, TEST: 12, REMOTE: 13 } as const
