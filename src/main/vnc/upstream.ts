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
  /** Largest read from the VNC server, in bytes (default: READ_CHUNK.json). */
  readChunkBytes?: number
}

export interface Upstream {
  socket: net.Socket
  serverInit: ServerInit
  /** The RFB minor version agreed (3, 7 or 8). */
  version: 3 | 7 | 8
  /** Bytes that arrived after ServerInit (normally none); the socket is paused. */
  leftover: Buffer
  /**
   * Routes the VNC server's bytes from now on. Each chunk lies in a reusable
   * read buffer: the sink calls `release` once nothing refers to the bytes
   * any more (a write that took them has completed). Absent on a plain
   * socket, whose 'data' events carry fresh buffers.
   */
  setSink?(sink: ChunkSink): void
}

/** Receives one read from the VNC server; `release` returns its memory for the next read. */
export type ChunkSink = (chunk: Buffer, release: () => void) => void

/**
 * Bytes read from the VNC server per system call. Reads are relayed as they
 * come, so this is also the largest message a viewer gets. Measured with
 * bench/vnc.ts (paired runs on one 2-core host): the binary fast path gained
 * most from fewer, larger system calls — 256 KiB reads took about 0.6–0.85×
 * websockify's CPU per MB against 1.0–1.5× at 32 KiB, and throughput rose from
 * a median 0.93× websockify's to 1.25× (512 KiB was no better). The JSON
 * tunnel is bound by the viewer's JSON.parse and base64 decoding: 80 KiB
 * (messages of ~107 KiB) beat 64 KiB by about 10 %; from 96 KiB on it lost
 * about 40 %, as each message's base64 text then exceeds V8's largest
 * regular heap object (128 KiB) on both ends.
 */
export const READ_CHUNK = { websocket: 256 * 1024, json: 80 * 1024 } as const
/** Bytes of free read buffers kept per session (in flight beyond that are left to the GC). */
const POOL_KEEP_BYTES = 1536 * 1024

/**
 * Read buffers recycled once the write that relayed them completes. Node
 * otherwise allocates a new buffer for every read; at hundreds of MB/s that
 * allocation and the garbage collection behind it cost more CPU than the
 * relay itself (bench/vnc.ts).
 */
class ReadRouter {
  private readonly free: Buffer[] = []
  /** Reads copied while nobody takes them (between the handshake and the session; the socket is paused then). */
  private readonly held: Buffer[] = []
  private sink?: ChunkSink

  constructor(private readonly size: number) {}

  /** net.connect's `onread`: each read lands in a pooled buffer and goes to the current sink. */
  readonly onread = {
    buffer: (): Buffer => this.free.pop() ?? Buffer.allocUnsafeSlow(this.size),
    callback: (n: number, buf: Uint8Array): boolean => {
      const b = buf as Buffer
      const chunk = b.subarray(0, n)
      if (this.sink) {
        // Once only: a buffer in the free list twice would take two reads at once.
        let given = false
        this.sink(chunk, () => {
          if (given) return
          given = true
          this.give(b)
        })
      } else {
        this.held.push(Buffer.from(chunk))
        this.give(b)
      }
      return true
    },
  }

  /** Sends reads to `sink` from now on (held ones first), or holds them while it is undefined. */
  route(sink: ChunkSink | undefined): void {
    this.sink = sink
    if (sink) for (const b of this.held.splice(0)) sink(b, noop)
  }

  private give(b: Buffer): void {
    if ((this.free.length + 1) * this.size <= POOL_KEEP_BYTES) this.free.push(b)
  }
}

const noop = (): void => {}

/** Accumulates socket bytes and hands out exact-length reads. */
class Reader {
  private buf: Buffer = Buffer.alloc(0)
  private waiter?: () => void
  private failure?: Error

  constructor(private readonly socket: net.Socket) {
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
  }

  /** A read from the socket; the bytes are copied, so their buffer may be reused at once. */
  readonly onData: ChunkSink = (d, release) => {
    this.buf = Buffer.concat([this.buf, d])
    release()
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
    this.socket.off('error', this.onError)
    this.socket.off('close', this.onClose)
    return this.buf
  }
}

const VERSION_RE = /^RFB (\d{3})\.(\d{3})\n$/

async function handshake(
  socket: net.Socket,
  opts: UpstreamOptions,
  route: (sink: ChunkSink) => void,
): Promise<Omit<Upstream, 'setSink'>> {
  const r = new Reader(socket)
  route(r.onData)
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
  const reads = new ReadRouter(opts.readChunkBytes ?? READ_CHUNK.json)
  const onread = reads.onread
  let socket: net.Socket
  try {
    socket =
      endpoint.kind === 'tcp'
        ? net.connect({ port: endpoint.port, host: endpoint.host, onread })
        : net.connect({ path: endpoint.path, onread })
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
    handshake(socket, opts, s => reads.route(s)).then(
      up => {
        clearTimeout(timer)
        reads.route(undefined)
        resolve({ ...up, setSink: s => reads.route(s) })
      },
      (e: unknown) => {
        clearTimeout(timer)
        socket.destroy()
        reject(describeConnectError(endpoint, e))
      },
    )
  })
}
