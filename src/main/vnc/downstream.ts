/**
 * The proxy's RFB server side toward the viewer (pure state machine, no I/O):
 * offers version 3.8 (3.3 and 3.7 viewers are served too), security None,
 * SecurityResult OK, and after the viewer's ClientInit replays the ServerInit
 * received from QEMU. Everything after that belongs to the relay.
 */
import { reasonMessage } from './rfb.js'

type State = 'version' | 'security' | 'client-init' | 'ready' | 'failed'

export interface DownstreamStep {
  /** Bytes to send to the viewer, in order. */
  reply: Buffer[]
  /** Bytes past the handshake (the first client messages), once ready. */
  rest: Buffer
  /** Set when the viewer broke the protocol: send `reply`, then end the session. */
  error?: string
}

export class RfbServerHandshake {
  private state: State = 'version'
  private buf: Buffer = Buffer.alloc(0)
  private minor = 8

  constructor(private readonly serverInit: Buffer) {}

  /** The first bytes the server sends. */
  greeting(): Buffer {
    return Buffer.from('RFB 003.008\n', 'latin1')
  }

  get ready(): boolean {
    return this.state === 'ready'
  }

  /** Feeds viewer bytes. */
  push(chunk: Buffer): DownstreamStep {
    if (this.state === 'ready') return { reply: [], rest: chunk }
    if (this.state === 'failed') return { reply: [], rest: Buffer.alloc(0), error: 'handshake already failed' }
    this.buf = Buffer.concat([this.buf, chunk])
    const reply: Buffer[] = []
    for (;;) {
      if (this.state === 'version') {
        if (this.buf.length < 12) break
        const v = /^RFB 003\.(\d{3})\n$/.exec(this.buf.subarray(0, 12).toString('latin1'))
        this.buf = this.buf.subarray(12)
        if (!v) return this.fail(reply, 'the viewer sent no valid RFB version')
        const minor = Number(v[1])
        if (minor < 3) return this.fail(reply, `unsupported viewer RFB version 3.${minor}`)
        this.minor = minor >= 8 ? 8 : minor === 7 ? 7 : 3
        if (this.minor === 3) {
          reply.push(u32(1)) // 3.3: the server picks None, no SecurityResult follows
          this.state = 'client-init'
        } else {
          reply.push(Buffer.from([1, 1]))
          this.state = 'security'
        }
      } else if (this.state === 'security') {
        if (this.buf.length < 1) break
        const t = this.buf[0]!
        this.buf = this.buf.subarray(1)
        if (t !== 1) {
          if (this.minor === 8) reply.push(u32(1), reasonMessage('only security type None is offered'))
          return this.fail(reply, `the viewer chose security type ${t}, only None is offered`)
        }
        if (this.minor === 8) reply.push(u32(0)) // SecurityResult OK (3.7 sends none for None)
        this.state = 'client-init'
      } else if (this.state === 'client-init') {
        if (this.buf.length < 1) break
        this.buf = this.buf.subarray(1) // the shared flag: upstream is always shared
        reply.push(this.serverInit)
        this.state = 'ready'
        const rest = this.buf
        this.buf = Buffer.alloc(0)
        return { reply, rest }
      } else break
    }
    return { reply, rest: Buffer.alloc(0) }
  }

  private fail(reply: Buffer[], error: string): DownstreamStep {
    this.state = 'failed'
    return { reply, rest: Buffer.alloc(0), error }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}
