/** What a terminal session drives: an SSH shell channel or a serial console stream. */
export interface CloseInfo {
  /** Stable, machine-readable reason (see REASONS in session.ts). */
  reason: string
  exitCode?: number
  signal?: string
}

export interface TerminalBackend {
  readonly type: 'ssh' | 'serial'
  /** Starts delivering data (it is held until the connect reply has been sent). */
  onData(cb: (chunk: Buffer) => void): void
  /** Called exactly once, when the remote side or `close` ends the session. */
  onClose(cb: (info: CloseInfo) => void): void
  write(input: string): void
  resize(cols: number, rows: number): void
  /** Flow control: stop reading (the remote side is throttled by SSH windows / the console stream). */
  pause(): void
  resume(): void
  close(reason: string): void
}
