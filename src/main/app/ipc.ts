/**
 * IPC between the preload and the main process: channel names, zod schemas of
 * every argument list, and a router that checks the sender and the arguments
 * before any handler runs. Plain module (no electron import), tested under Node.
 */
import { z } from 'zod'
import { isAppUrl, FINGERPRINT_RE, normalizeFingerprint } from './security.js'
import { IPC, type IpcChannel } from '../../preload/channels.js'

export { IPC, type IpcChannel }

const profileId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a profile id is 1–64 letters, digits, "-" or "_"')

/** A remote server's address: http(s) or ws(s), no credentials, no fragment. */
export const serverUrl = z
  .string()
  .max(2048)
  .refine(s => {
    try {
      const u = new URL(s)
      return ['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && !!u.hostname && !u.username && !u.password
    } catch {
      return false
    }
  }, 'must be an absolute http(s):// or ws(s):// URL with a host and no user:password part')

const fingerprint = z
  .string()
  .transform(normalizeFingerprint)
  .refine(s => FINGERPRINT_RE.test(s), 'must be a SHA-256 fingerprint (32 hex bytes, e.g. AB:CD:…)')

export const profileInput = z.strictObject({
  id: profileId.optional(),
  name: z.string().trim().min(1, 'the name must not be empty').max(100),
  url: serverUrl,
  username: z.string().min(1).max(64).optional(),
  token: z.string().min(1).max(8192).optional(),
  certificateFingerprint: fingerprint.optional(),
})
export type ProfileInput = z.infer<typeof profileInput>

export const sharingInput = z.strictObject({
  enabled: z.boolean(),
  host: z.string().min(1).max(255).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  tlsCertPath: z.string().min(1).max(4096).optional(),
  tlsKeyPath: z.string().min(1).max(4096).optional(),
})
export type SharingInput = z.infer<typeof sharingInput>

export const serverHttpInput = z.strictObject({
  url: z.string().min(1).max(2048),
  method: z.enum(['GET', 'POST']),
  body: z
    .string()
    .max(64 * 1024)
    .optional(),
})

/** The argument tuple of every channel. Unknown extra arguments are an error. */
export const IPC_ARGS = {
  [IPC.localServer]: z.tuple([]),
  [IPC.appInfo]: z.tuple([]),
  [IPC.profilesList]: z.tuple([]),
  [IPC.profilesSave]: z.tuple([profileInput]),
  [IPC.profilesRemove]: z.tuple([profileId]),
  [IPC.profilesToken]: z.tuple([profileId]),
  [IPC.profilesTrust]: z.tuple([profileId, fingerprint]),
  [IPC.certificateProbe]: z.tuple([serverUrl]),
  [IPC.sharingGet]: z.tuple([]),
  [IPC.sharingSet]: z.tuple([sharingInput]),
  [IPC.openExternal]: z.tuple([z.string().max(2048)]),
  [IPC.serverHttp]: z.tuple([serverHttpInput]),
} satisfies Record<IpcChannel, z.ZodType>

export type IpcArgs<C extends IpcChannel> = z.output<(typeof IPC_ARGS)[C]>

/** The parts of an IpcMainInvokeEvent the router looks at. */
export interface IpcSender {
  /** URL of the frame that sent the message (event.senderFrame.url). */
  frameUrl: string | undefined
  /** The frame is its window's main frame (no iframes may call in). */
  isMainFrame: boolean
}

export class IpcRejected extends Error {
  constructor(
    readonly channel: string,
    message: string,
  ) {
    super(`${channel}: ${message}`)
    this.name = 'IpcRejected'
  }
}

/** Only the app's own top-level page may use the API. */
export function validateSender(sender: IpcSender): string | null {
  if (!sender.isMainFrame) return 'calls from sub-frames are refused'
  if (!sender.frameUrl || !isAppUrl(sender.frameUrl)) return 'the sender is not the VoidVM app page'
  return null
}

function formatIssues(err: z.ZodError): string {
  return err.issues
    .map(i => {
      const path = i.path.length ? `argument ${i.path.map(String).join('.')}` : 'arguments'
      return `${path}: ${i.message}`
    })
    .join('; ')
}

/** Parses a channel's raw argument list; throws IpcRejected naming the bad field. */
export function parseIpcArgs<C extends IpcChannel>(channel: C, args: unknown[]): IpcArgs<C> {
  const schema = IPC_ARGS[channel] as unknown as z.ZodType<IpcArgs<C>>
  const r = schema.safeParse(args)
  if (!r.success) throw new IpcRejected(channel, formatIssues(r.error))
  return r.data
}

export type IpcHandlers = {
  [C in IpcChannel]: (...args: IpcArgs<C>) => unknown
}

/**
 * Returns `dispatch(sender, channel, args)`: checks the sender, validates the
 * arguments, then runs the handler. main/index.ts registers it for every
 * channel with ipcMain.handle; the preload has no other way in.
 */
export function createIpcRouter(handlers: IpcHandlers) {
  return async function dispatch(sender: IpcSender, channel: string, args: unknown[]): Promise<unknown> {
    if (!Object.hasOwn(IPC_ARGS, channel)) throw new IpcRejected(channel, 'unknown channel')
    const ch = channel as IpcChannel
    const bad = validateSender(sender)
    if (bad) throw new IpcRejected(ch, bad)
    const parsed = parseIpcArgs(ch, args)
    const handler = handlers[ch] as (...a: unknown[]) => unknown
    return await handler(...(parsed as unknown[]))
  }
}
