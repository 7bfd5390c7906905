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
  /**
   * SHA-256 fingerprint (AB:CD:…) of the server's certificate, pinned when the
   * user trusted a certificate no public CA vouches for (trust on first use).
   */
  certificateFingerprint?: string
}

export interface LocalServerInfo {
  /** http://127.0.0.1:PORT of the embedded server. */
  url: string
  /** A fresh token for the local admin (no password needed); ask again after reconnecting. */
  token: string
  /** ws://127.0.0.1:PORT/ws */
  wsUrl?: string
  /** The local admin's user name. */
  username?: string
  /** ISO 8601 expiry of `token`. */
  expiresAt?: string
}

/** Versions shown in About and in diagnostics. */
export interface AppInfo {
  name: string
  version: string
  electron: string
  chrome: string
  node: string
  platform: string
  arch: string
}

/** A remote server's TLS certificate, read before the user decides to trust it. */
export interface CertificateInfo {
  host: string
  port: number
  /** SHA-256 fingerprint, AB:CD:… (32 bytes). Show it to the user. */
  fingerprint: string
  subject: string
  issuer: string
  validFrom: string
  validTo: string
  /** A public CA vouches for it and the name matches: no pin is needed. */
  caTrusted: boolean
  /** Why it is not CA-trusted (e.g. DEPTH_ZERO_SELF_SIGNED_CERT), if so. */
  verifyError?: string
}

/**
 * One of the two plain HTTP calls a client makes to a VoidVM server:
 * `GET /api/health` or `POST /api/auth/login` (body: JSON text). `url` is the
 * full endpoint URL; ws(s):// is read as http(s)://.
 */
export interface ServerHttpRequest {
  url: string
  method: 'GET' | 'POST'
  body?: string
}

export interface ServerHttpResponse {
  status: number
  contentType: string
  /** The response body as text (JSON for both endpoints). */
  body: string
}

/** "Serve this machine to other VoidVM clients". */
export interface SharingState {
  enabled: boolean
  host: string
  port: number
  tlsCertPath?: string
  tlsKeyPath?: string
  /** https:// addresses other clients can use, while sharing runs. */
  urls: string[]
  /** SHA-256 fingerprint of the served certificate, for clients to compare. */
  fingerprint?: string
  /** Why sharing is not running although enabled (bad cert, port taken …). */
  error?: string
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
    certificateFingerprint?: string
  }): Promise<ServerProfile>
  removeProfile(id: string): Promise<void>
  getProfileToken(id: string): Promise<string | null>
  /** Opens an https:, http: or mailto: link in the OS browser; other schemes are refused. */
  openExternal(url: string): Promise<void>
  getAppInfo(): Promise<AppInfo>
  /** Reads a remote server's certificate (nothing else is sent) so the user can compare its fingerprint. */
  probeCertificate(url: string): Promise<CertificateInfo>
  /** Pins the fingerprint the user accepted to the profile; connections to that host then accept exactly that certificate. */
  trustCertificate(profileId: string, fingerprint: string): Promise<ServerProfile>
  /**
   * Health and login requests to a server, made by the main process: the app
   * page is cross-origin to every server and servers send no CORS headers.
   * Wrap it as the fetch of the HTTP client (see its FetchLike parameter).
   */
  serverHttp(request: ServerHttpRequest): Promise<ServerHttpResponse>
  getSharing(): Promise<SharingState>
  setSharing(settings: {
    enabled: boolean
    host?: string
    port?: number
    tlsCertPath?: string
    tlsKeyPath?: string
  }): Promise<SharingState>
}

declare global {
  interface Window {
    voidvm?: VoidVmApi
  }
}
