/**
 * Desktop settings in userData/settings.json: the embedded server's port and
 * libvirt URI, "serve this machine" (sharing) and the window's bounds.
 */
import { z } from 'zod'
import { readJsonFile, writeJsonFileAtomic } from './json-file.js'
import { windowState } from './window-state.js'

export const DEFAULT_LOCAL_PORT = 3000
export const DEFAULT_SHARING_PORT = 3443

export const sharingSettings = z.object({
  enabled: z.boolean().default(false),
  /** Address to bind for other clients; 0.0.0.0 / :: = every interface. */
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(1).max(65535).default(DEFAULT_SHARING_PORT),
  tlsCertPath: z.string().min(1).optional(),
  tlsKeyPath: z.string().min(1).optional(),
})
export type SharingSettings = z.infer<typeof sharingSettings>

export const appSettings = z.object({
  version: z.literal(1).default(1),
  /** Loopback port of the embedded server; taken → ephemeral. 0 = always ephemeral. */
  localPort: z.number().int().min(0).max(65535).default(DEFAULT_LOCAL_PORT),
  libvirtUri: z.string().min(1).optional(),
  sharing: sharingSettings.default({ enabled: false, host: '0.0.0.0', port: DEFAULT_SHARING_PORT }),
  window: windowState.optional(),
})
export type AppSettings = z.infer<typeof appSettings>

export class SettingsStore {
  private current: AppSettings | null = null
  private chain: Promise<unknown> = Promise.resolve()

  constructor(readonly file: string) {}

  /** Reads the file; a broken file is reported and replaced by defaults rather than blocking the app. */
  async load(): Promise<{ settings: AppSettings; problem?: string }> {
    let raw: unknown
    let problem: string | undefined
    try {
      raw = await readJsonFile(this.file)
    } catch (err) {
      problem = (err as Error).message
    }
    const parsed = appSettings.safeParse(raw ?? {})
    if (!parsed.success) {
      problem ??= `${this.file}: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}; using defaults`
    }
    this.current = parsed.success ? parsed.data : appSettings.parse({})
    return problem ? { settings: this.current, problem } : { settings: this.current }
  }

  get(): AppSettings {
    if (!this.current) throw new Error('settings not loaded')
    return this.current
  }

  update(patch: (s: AppSettings) => AppSettings): Promise<AppSettings> {
    const run = this.chain.then(async () => {
      const next = appSettings.parse(patch(structuredClone(this.get())))
      await writeJsonFileAtomic(this.file, next)
      this.current = next
      return next
    })
    this.chain = run.catch(() => undefined)
    return run
  }
}
