import type {
  ClientMessageData,
  ClientMessageType,
  ErrorData,
  ServerPushes,
  ServerResponses,
} from '../../../shared/protocol'
import type { ErrorCode } from '../../../shared/errors'

/** The reply type of a client message: `<type>-response`. */
export type ResponseOf<T extends ClientMessageType> = `${T}-response` extends keyof ServerResponses
  ? ServerResponses[`${T}-response`]
  : never

export type { ClientMessageData, ClientMessageType, ServerPushes }

/** Error codes the client itself produces, beside the server's closed list. */
export type ClientErrorCode = ErrorCode | 'DISCONNECTED' | 'TIMEOUT'

/** A request that failed: the server's `error` reply, or a client-side reason. */
export class RequestError extends Error {
  readonly code: ClientErrorCode
  readonly vmId: string | undefined
  readonly details: string | undefined
  readonly field: string | undefined

  constructor(
    code: ClientErrorCode,
    message: string,
    extra: Partial<Pick<ErrorData, 'vmId' | 'details' | 'field'>> = {},
  ) {
    super(message)
    this.name = 'RequestError'
    this.code = code
    this.vmId = extra.vmId
    this.details = extra.details
    this.field = extra.field
  }
}

/** The connection's lifecycle, as the UI shows it. */
export type ConnectionState = 'idle' | 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'refused' | 'closed'

/** Why a server refused or could not be reached. */
export type RefusalReason =
  'bad-credentials' | 'unauthorized' | 'forbidden' | 'certificate' | 'unreachable' | 'rate-limited' | 'server-error'

/** The minimal WebSocket surface the client uses (the browser's WebSocket satisfies it). */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
}

export type SocketFactory = (url: string) => SocketLike
