/**
 * Error classes of the libvirt client. `LibvirtError` is what the daemon
 * reported (its remote_error); the others are raised by this client itself
 * (transport, protocol, timeouts, closed connections).
 */
import { ErrorCode } from './constants.js'

/** An error the daemon returned: libvirt's virErrorNumber, virErrorDomain and message. */
export class LibvirtError extends Error {
  override readonly name: string = 'LibvirtError'
  constructor(
    /** virErrorNumber, e.g. 42 = VIR_ERR_NO_DOMAIN (see `ErrorCode`). */
    readonly code: number,
    /** virErrorDomain: which part of libvirt raised it (10 = QEMU, 12 = TEST …). */
    readonly domain: number,
    message: string,
    /** virErrorLevel: 1 warning, 2 error. */
    readonly level = 2,
    /** The remote procedure that failed, when known. */
    readonly procedure?: number,
  ) {
    super(message)
  }

  /** True for "domain not found" (VIR_ERR_NO_DOMAIN). */
  get notFound(): boolean {
    return this.code === ErrorCode.NO_DOMAIN
  }
}

/** The transport failed or was never established (socket missing, refused, SSH failure, EOF). */
export class LibvirtConnectionError extends Error {
  override readonly name: string = 'LibvirtConnectionError'
  constructor(
    message: string,
    /** errno-style code when the OS gave one (ENOENT, ECONNREFUSED, EACCES …), else a short tag. */
    readonly reason: string = 'closed',
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** A call got no reply within its timeout. The connection stays usable. */
export class LibvirtTimeoutError extends Error {
  override readonly name: string = 'LibvirtTimeoutError'
  constructor(
    readonly procedure: number,
    readonly timeoutMs: number,
  ) {
    super(`libvirt call ${procedure} got no reply within ${timeoutMs} ms`)
  }
}

/** The daemon sent something this client cannot parse (malformed or oversized packet). */
export class LibvirtProtocolError extends Error {
  override readonly name: string = 'LibvirtProtocolError'
}

/** ReconnectingLibvirt has no open connection right now. */
export class LibvirtNotConnectedError extends Error {
  override readonly name: string = 'LibvirtNotConnectedError'
  constructor(message = 'not connected to libvirt') {
    super(message)
  }
}

/** True when `err` is libvirt's "domain not found" (VIR_ERR_NO_DOMAIN, code 42). */
export function isDomainNotFound(err: unknown): err is LibvirtError {
  return err instanceof LibvirtError && err.code === ErrorCode.NO_DOMAIN
}

/** True when the error means the connection is gone (not a per-call failure). */
export function isConnectionLost(err: unknown): boolean {
  return err instanceof LibvirtConnectionError || err instanceof LibvirtNotConnectedError
}
