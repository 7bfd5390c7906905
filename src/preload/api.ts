/**
 * The typed API the preload exposes as `window.voidvm`. The renderer imports
 * only these types; in a plain browser the API is absent.
 */
export interface ServerProfile {
  id: string
  name: string
  url: string
  username?: string
  /** True when a token is stored (encrypted) for this profile. */
  hasToken: boolean
}

export interface LocalServerInfo {
  url: string
  token: string
}

export interface VoidVmApi {
  readonly version: string
  getLocalServer(): Promise<LocalServerInfo | null>
  listProfiles(): Promise<ServerProfile[]>
  saveProfile(profile: {
    id?: string
    name: string
    url: string
    username?: string
    token?: string
  }): Promise<ServerProfile>
  removeProfile(id: string): Promise<void>
  getProfileToken(id: string): Promise<string | null>
  openExternal(url: string): Promise<void>
}

declare global {
  interface Window {
    voidvm?: VoidVmApi
  }
}
