/**
 * SSH sessions on ssh2: password, private key (+ passphrase), and
 * keyboard-interactive prompts answered from the password; an
 * `xterm-256color` PTY of the requested size; host keys checked against the
 * pin store before any credential is sent.
 */
import ssh2 from 'ssh2'
import type { ClientChannel, ConnectConfig, KeyboardInteractiveCallback, Prompt } from 'ssh2'
import type { CloseInfo, TerminalBackend } from './backend.js'
import { connectFailed, TerminalError } from './errors.js'

const { Client, utils } = ssh2

export type SshCredentials =
  { username: string; password: string } | { username: string; privateKey: string; passphrase?: string }

export interface SshOpenOptions {
  host: string
  port: number
  credentials: SshCredentials
  cols: number
  rows: number
  /**
   * Checks the presented host key (raw blob). Resolve with the fingerprint to
   * accept it; reject (e.g. HOST_KEY_MISMATCH) to refuse the connection.
   */
  verifyHostKey(keyBlob: Buffer): Promise<string>
  /** Handshake + authentication deadline. */
  readyTimeoutMs?: number
}

export interface SshOpened {
  backend: TerminalBackend
  /** SHA256:… fingerprint of the server's host key. */
  hostKey: string
}

export const TERM = 'xterm-256color'

/** Validates a private key up front so a bad key or passphrase gets a precise error, never echoing the key. */
function checkPrivateKey(key: string, passphrase: string | undefined): void {
  const parsed = utils.parseKey(key, passphrase)
  if (!(parsed instanceof Error)) return
  if (/passphrase|decrypt|bad decrypt/i.test(parsed.message))
    throw new TerminalError(
      'TERMINAL_AUTH_FAILED',
      passphrase
        ? 'the private key could not be decrypted: wrong passphrase'
        : 'the private key is encrypted: send its passphrase',
    )
  throw new TerminalError(
    'INVALID_MESSAGE',
    'data.credentials.privateKey is not a private key ssh2 can read (OpenSSH or PEM format expected)',
    { field: 'data.credentials.privateKey' },
  )
}

export function openSsh(opts: SshOpenOptions): Promise<SshOpened> {
  const creds = opts.credentials
  const password = 'password' in creds ? creds.password : undefined
  if ('privateKey' in creds) checkPrivateKey(creds.privateKey, creds.passphrase)

  return new Promise<SshOpened>((resolve, reject) => {
    const client = new Client()
    let settled = false
    let hostKey: string | undefined
    let hostKeyError: unknown
    let kbdRounds = 0

    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      client.removeAllListeners('ready')
      client.end()
      // The socket may linger after end(); destroy it so nothing leaks.
      setImmediate(() => client.destroy())
      reject(err)
    }

    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (settled) return
      const where = `${opts.host}:${opts.port}`
      if (hostKeyError) return fail(hostKeyError)
      if (err.level === 'client-authentication')
        return fail(
          new TerminalError(
            'TERMINAL_AUTH_FAILED',
            `the SSH server at ${where} rejected the credentials for "${creds.username}"`,
          ),
        )
      if (err.code === 'ECONNREFUSED')
        return fail(connectFailed('refused', `connection refused by ${where}: is sshd running there?`))
      if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT')
        return fail(connectFailed('timed-out', `timed out connecting to ${where}`))
      if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH')
        return fail(connectFailed('unreachable', `${where} is unreachable (${err.code})`))
      if (err.level === 'client-dns') return fail(connectFailed('unreachable', `cannot resolve ${opts.host}`))
      fail(connectFailed('closed', `SSH connection to ${where} failed: ${err.message}`))
    })
    client.on('close', () =>
      fail(connectFailed('closed', `the SSH server at ${opts.host}:${opts.port} closed the connection`)),
    )

    client.on(
      'keyboard-interactive',
      (_n: string, _i: string, _l: string, prompts: Prompt[], finish: KeyboardInteractiveCallback) => {
        // Answer one round of password prompts; a second round means the
        // password was refused, and answering again would only loop.
        kbdRounds++
        finish(kbdRounds === 1 && password !== undefined ? prompts.map(() => password) : [])
      },
    )

    client.on('ready', () => {
      client.shell({ term: TERM, cols: opts.cols, rows: opts.rows, width: 0, height: 0 }, (err, channel) => {
        if (err) return fail(connectFailed('closed', `the SSH server refused a shell: ${err.message}`))
        if (settled) return void channel.close()
        settled = true
        client.removeAllListeners('error')
        client.removeAllListeners('close')
        resolve({ backend: new SshBackend(client, channel), hostKey: hostKey ?? '' })
      })
    })

    const config: ConnectConfig = {
      host: opts.host,
      port: opts.port,
      username: creds.username,
      readyTimeout: opts.readyTimeoutMs ?? 15_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      tryKeyboard: password !== undefined,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        opts.verifyHostKey(key).then(
          fp => {
            hostKey = fp
            verify(true)
          },
          e => {
            hostKeyError = e
            verify(false)
          },
        )
      },
    }
    if (password !== undefined) config.password = password
    if ('privateKey' in creds) {
      config.privateKey = creds.privateKey
      if (creds.passphrase !== undefined) config.passphrase = creds.passphrase
    }
    try {
      client.connect(config)
    } catch (e) {
      fail(connectFailed('closed', `cannot start the SSH connection: ${(e as Error).message}`))
    }
  })
}

class SshBackend implements TerminalBackend {
  readonly type = 'ssh' as const
  private closed = false
  private exit: { exitCode?: number; signal?: string } = {}
  private closeCbs: Array<(i: CloseInfo) => void> = []
  private requestedReason: string | undefined

  constructor(
    private readonly client: InstanceType<typeof Client>,
    private readonly channel: ClientChannel,
  ) {
    // Hold data until onData is attached (after the connect reply is sent).
    channel.pause()
    channel.stderr.pause()
    channel.on('exit', (code: number | null, signal?: string) => {
      if (typeof code === 'number') this.exit.exitCode = code
      if (signal) this.exit.signal = signal
    })
    channel.on('close', () => this.finish(this.requestedReason ?? (this.exitKnown() ? 'exit' : 'connection-lost')))
    client.on('close', () => this.finish(this.requestedReason ?? 'connection-lost'))
    client.on('error', () => {
      // Keepalive timeouts and socket resets arrive here; 'close' follows.
    })
  }

  private exitKnown(): boolean {
    return this.exit.exitCode !== undefined || this.exit.signal !== undefined
  }

  private finish(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.client.end()
    setImmediate(() => this.client.destroy())
    const info: CloseInfo = { reason, ...this.exit }
    for (const cb of this.closeCbs) cb(info)
  }

  onData(cb: (chunk: Buffer) => void): void {
    this.channel.on('data', cb)
    this.channel.stderr.on('data', cb)
    this.resume()
  }

  onClose(cb: (info: CloseInfo) => void): void {
    this.closeCbs.push(cb)
  }

  write(input: string): void {
    if (!this.closed) this.channel.write(input, 'utf8')
  }

  resize(cols: number, rows: number): void {
    if (!this.closed) this.channel.setWindow(rows, cols, 0, 0)
  }

  pause(): void {
    this.channel.pause()
    this.channel.stderr.pause()
  }

  resume(): void {
    this.channel.resume()
    this.channel.stderr.resume()
  }

  close(reason: string): void {
    this.requestedReason ??= reason
    this.finish(reason)
  }
}
