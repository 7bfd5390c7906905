/**
 * The proxy's RFB client side toward QEMU: connects to the VM's VNC endpoint
 * and completes the handshake on the server (version 3.3/3.7/3.8, security
 * None or VNC Authentication, shared ClientInit, ServerInit), so viewers
 * never see the VNC password.
 */
import net from 'node:net'
import { vncAuthResponse } from './des.js'
import { parseServerInit, readReason, type ServerInit } from './rfb.js'

export type VncEndpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string }

export class VncHandshakeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'VncHandshakeError'
  }
}

export interface UpstreamOptions {
  /** The VNC password from the secure live XML, when set. Never logged. */
  password?: string
  /** Whole handshake deadline (ms). */
  timeoutMs?: number
}

export interface Upstream {
  socket: net.Socket
  serverInit: ServerInit
  /** The RFB minor version agreed (3, 7 or 8). */
  version: 3 | 7 | 8
  /** Bytes that arrived after ServerInit (normally none); the socket is paused. */
  leftover: Buffer
}

/** Accumulates socket bytes and hands out exact-length reads. */
class Reader {
  private buf: Buffer = Buffer.alloc(0)
  private waiter?: () => void
  private failure?: Error

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData)
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
  }

  private readonly onData = (d: Buffer): void => {
    this.buf = Buffer.concat([this.buf, d])
    this.waiter?.()
  }
  private readonly onError = (e: Error): void => {
    this.failure ??= e
    this.waiter?.()
  }
  private readonly onClose = (): void => {
    this.failure ??= new VncHandshakeError('the VNC server closed the connection during the handshake')
    this.waiter?.()
  }

  /** Resolves once `pred(buffer)` returns a value, consuming the bytes it reports used. */
  async take<T>(pred: (b: Buffer) => { value: T; used: number } | undefined): Promise<T> {
    for (;;) {
      const r = pred(this.buf)
      if (r) {
        this.buf = this.buf.subarray(r.used)
        return r.value
      }
      if (this.failure) throw this.failure
      await new Promise<void>(ok => (this.waiter = ok))
      this.waiter = undefined
    }
  }

  bytes(n: number): Promise<Buffer> {
    return this.take(b => (b.length >= n ? { value: Buffer.from(b.subarray(0, n)), used: n } : undefined))
  }

  detach(): Buffer {
    this.socket.pause()
    this.socket.off('data', this.onData)
    this.socket.off('error', this.onError)
    this.socket.off('close', this.onClose)
    return this.buf
  }
}

const VERSION_RE = /^RFB (\d{3})\.(\d{3})\n$/

async function handshake(socket: net.Socket, opts: UpstreamOptions): Promise<Upstream> {
  const r = new Reader(socket)
  try {
    const banner = (await r.bytes(12)).toString('latin1')
    const m = VERSION_RE.exec(banner)
    if (!m) throw new VncHandshakeError('the VNC server did not send an RFB version')
    const major = Number(m[1])
    const minor = Number(m[2])
    if (major !== 3 || minor < 3) throw new VncHandshakeError(`unsupported RFB version ${major}.${minor}`)
    // 3.4–3.6 are treated as 3.3 (RFC 6143 §7.1.1); 3.889 and later as 3.8.
    const version: 3 | 7 | 8 = minor >= 8 ? 8 : minor === 7 ? 7 : 3
    socket.write(`RFB 003.00${version}\n`)

    let secType: number
    if (version === 3) {
      secType = (await r.bytes(4)).readUInt32BE(0)
      if (secType === 0) throw new VncHandshakeError(`the VNC server refused: ${await readReasonFrom(r)}`)
      if (secType !== 1 && secType !== 2) throw new VncHandshakeError(`unsupported security type ${secType}`)
    } else {
      const n = (await r.bytes(1))[0]!
      if (n === 0) throw new VncHandshakeError(`the VNC server refused: ${await readReasonFrom(r)}`)
      const types = [...(await r.bytes(n))]
      if (types.includes(1) && opts.password === undefined) secType = 1
      else if (types.includes(2)) secType = 2
      else if (types.includes(1)) secType = 1
      else throw new VncHandshakeError(`no supported security type offered (got ${types.join(', ')})`)
      socket.write(Buffer.from([secType]))
    }

    if (secType === 2) {
      if (opts.password === undefined)
        throw new VncHandshakeError('the VNC server requires a password and the VM has none configured')
      const challenge = await r.bytes(16)
      socket.write(vncAuthResponse(opts.password, challenge))
    }
    if (secType === 2 || version === 8) {
      const result = (await r.bytes(4)).readUInt32BE(0)
      if (result !== 0) {
        const why = version === 8 ? await readReasonFrom(r) : 'authentication failed'
        throw new VncHandshakeError(`VNC authentication failed: ${why}`)
      }
    }

    socket.write(Buffer.from([1])) // ClientInit, shared: viewers do not kick each other off
    const serverInit = await r.take(b => {
      const p = parseServerInit(b)
      return p && { value: p.init, used: p.used }
    })
    return { socket, serverInit, version, leftover: r.detach() }
  } catch (e) {
    r.detach()
    throw e
  }
}

function readReasonFrom(r: Reader): Promise<string> {
  return r.take(b => {
    const x = readReason(b, 0)
    return x && { value: x.reason, used: x.used }
  })
}

function where(endpoint: VncEndpoint): string {
  return endpoint.kind === 'unix'
    ? `the VNC socket ${endpoint.path}`
    : `the VNC server at ${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
}

/** A socket-level failure said in words a user can act on; handshake errors pass through. */
export function describeConnectError(endpoint: VncEndpoint, e: unknown): VncHandshakeError {
  if (e instanceof VncHandshakeError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  const at = where(endpoint)
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new VncHandshakeError(`${at} does not exist (QEMU may have removed it, or the VM is not running)`)
    case 'ECONNREFUSED':
      return new VncHandshakeError(
        endpoint.kind === 'unix'
          ? `${at} is not a listening socket (nothing accepts connections on it)`
          : `${at} refused the connection (nothing is listening)`,
      )
    case 'EACCES':
    case 'EPERM':
      return new VncHandshakeError(`permission denied opening ${at}`)
    case 'ECONNRESET':
    case 'EPIPE':
      return new VncHandshakeError(`${at} dropped the connection during the handshake`)
    default: {
      const msg = e instanceof Error ? e.message : String(e)
      return new VncHandshakeError(`could not connect to ${at}: ${msg}`)
    }
  }
}

/** Connects and completes the RFB handshake; rejects with a VncHandshakeError saying why. */
export function connectUpstream(endpoint: VncEndpoint, opts: UpstreamOptions = {}): Promise<Upstream> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  let socket: net.Socket
  try {
    socket = endpoint.kind === 'tcp' ? net.connect(endpoint.port, endpoint.host) : net.connect(endpoint.path)
  } catch (e) {
    // net.connect throws synchronously on arguments it rejects outright (e.g. a NUL in the path).
    return Promise.reject(describeConnectError(endpoint, e))
  }
  socket.setNoDelay(true)
  return new Promise<Upstream>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new VncHandshakeError(`the VNC handshake with ${where(endpoint)} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    handshake(socket, opts).then(
      up => {
        clearTimeout(timer)
        resolve(up)
      },
      (e: unknown) => {
        clearTimeout(timer)
        socket.destroy()
        reject(describeConnectError(endpoint, e))
      },
    )
  })
}
