/**
 * Public API of the libvirt remote-protocol client.
 *
 *   const lv = await LibvirtClient.connect('qemu:///system')
 *   const doms = await lv.listAllDomains()
 *   const info = await lv.domainGetInfo(doms[0])       // or a name / UUID string
 *   await lv.registerDomainEvents()
 *   lv.on('lifecycle', e => …)                          // e.event: LifecycleEvent.*
 *   const con = await lv.openConsole('vm1')             // Duplex of raw bytes
 *   await lv.close()
 *
 * Methods taking a domain accept a `Domain` handle or a name/UUID string.
 * Errors: LibvirtError (daemon: .code/.domain/.message; code 42 =
 * VIR_ERR_NO_DOMAIN), LibvirtConnectionError (transport), LibvirtTimeoutError
 * (no reply in time), LibvirtNotConnectedError (ReconnectingLibvirt down).
 *
 * Domain states (DomainState / VIR_DOMAIN_*): 0 NOSTATE, 1 RUNNING, 2 BLOCKED,
 * 3 PAUSED, 4 SHUTDOWN (shutting down), 5 SHUTOFF, 6 CRASHED, 7 PMSUSPENDED.
 * Lifecycle events (LifecycleEvent / VIR_DOMAIN_EVENT_*): 0 DEFINED,
 * 1 UNDEFINED, 2 STARTED, 3 SUSPENDED, 4 RESUMED, 5 STOPPED, 6 SHUTDOWN,
 * 7 PMSUSPENDED, 8 CRASHED.
 */
export { LibvirtClient, uuidToBytes, bytesToUuid, type LibvirtClientEvents } from './client.js'
export { ReconnectingLibvirt, type ReconnectOptions, type ReconnectingEvents } from './reconnecting.js'
export { LibvirtStream, LibvirtStream as LibvirtConsole } from './console.js'
export {
  LibvirtError,
  LibvirtConnectionError,
  LibvirtTimeoutError,
  LibvirtProtocolError,
  LibvirtNotConnectedError,
  isDomainNotFound,
  isConnectionLost,
} from './errors.js'
export * from './constants.js'
export type * from './types.js'
export {
  parseUri,
  redactUri,
  defaultSocketPath,
  sshFingerprint,
  type SshTransportOptions,
  type ParsedUri,
} from './transport.js'
