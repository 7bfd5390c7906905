/**
 * Electron main process: one window with the renderer (served from the
 * privileged voidvm:// scheme), the embedded VoidVM server on loopback, the
 * typed IPC behind window.voidvm, and the security policy of docs/security.md.
 * Everything that needs no Electron runtime lives in ./app and is unit-tested.
 */
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  net,
  protocol,
  safeStorage,
  screen,
  session,
  shell,
  type IpcMainInvokeEvent,
  type WebContents,
} from 'electron'
import { readFile } from 'node:fs/promises'
import { X509Certificate } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AppInfo, SharingState } from '../preload/api.js'
import { probeCertificate } from './app/cert-probe.js'
import { IPC, createIpcRouter, type IpcChannel, type IpcHandlers } from './app/ipc.js'
import { LocalServer } from './app/local-server.js'
import { buildMenuTemplate, aboutText } from './app/menu.js'
import { ProfileStore, type SecretCipher } from './app/profile-store.js'
import {
  APP_ENTRY_URL,
  APP_ORIGIN,
  APP_SCHEME,
  appResponseHeaders,
  certificateDecisionCode,
  checkExternalUrl,
  decideCertificate,
  isAppUrl,
  resolveAppAsset,
} from './app/security.js'
import { serverDeps } from './app/server-adapter.js'
import { serverHttp } from './app/server-http.js'
import { SettingsStore, type SharingSettings } from './app/settings.js'
import { SHARING_DECLINED, sharingConsentText, sharingNeedsConsent } from './app/sharing-consent.js'
import { restoreWindowState, MIN_HEIGHT, MIN_WIDTH, type WindowState } from './app/window-state.js'

const here = dirname(fileURLToPath(import.meta.url))
const RENDERER_DIR = join(here, '../renderer')
const PRELOAD = join(here, '../preload/index.cjs')
const DOCS_URL = 'https://voidvm.dev/docs'

// Tests and portable setups may point userData elsewhere; must happen before
// the single-instance lock, which is per userData folder.
if (process.env.VOIDVM_USER_DATA) app.setPath('userData', process.env.VOIDVM_USER_DATA)

// The renderer's origin: standard + secure so it gets a real origin, fetch
// and a secure context, exactly like https but never from the network.
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
])
// Every renderer is sandboxed, whatever a window's options say.
app.enableSandbox()

let mainWindow: BrowserWindow | null = null
let settings: SettingsStore
let profiles: ProfileStore
let localServer: LocalServer

function log(msg: string): void {
  console.log(`[voidvm] ${msg}`)
}

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return
    if (mainWindow.isMinimized()) mainWindow.restore()
    mainWindow.focus()
  })
  void app.whenReady().then(main, (err: unknown) => fatal(err))
}

function fatal(err: unknown): void {
  const msg = err instanceof Error ? err.message : String(err)
  console.error(`[voidvm] ${msg}`)
  dialog.showErrorBox('VoidVM could not start', msg)
  app.exit(1)
}

/** safeStorage as the profile store's cipher; Linux's plain-text fallback counts as unavailable. */
const safeStorageCipher: SecretCipher = {
  isAvailable: () =>
    safeStorage.isEncryptionAvailable() &&
    (process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text'),
  encrypt: plain => safeStorage.encryptString(plain),
  decrypt: data => safeStorage.decryptString(data),
}

function appInfo(): AppInfo {
  return {
    name: 'VoidVM',
    version: app.getVersion(),
    electron: process.versions.electron ?? '',
    chrome: process.versions.chrome ?? '',
    node: process.versions.node,
    platform: process.platform,
    arch: process.arch,
  }
}

// --- security: navigation, new windows, webviews, permissions, certificates ---

function openExternalChecked(url: string): Promise<void> {
  const check = checkExternalUrl(url)
  if (!check.ok) return Promise.reject(new Error(`not opened: ${check.reason}`))
  return shell.openExternal(check.url)
}

app.on('web-contents-created', (_e, contents: WebContents) => {
  const guardNavigation = (event: { preventDefault(): void }, url: string) => {
    if (isAppUrl(url)) return
    event.preventDefault()
    log(`blocked navigation to ${url.slice(0, 200)}`)
  }
  contents.on('will-navigate', guardNavigation)
  contents.on('will-redirect', guardNavigation)
  contents.on('will-attach-webview', event => event.preventDefault())
  // Links that open a new window go to the OS browser after the URL check; no new Electron window is ever created.
  contents.setWindowOpenHandler(({ url }) => {
    openExternalChecked(url).catch((err: Error) => log(err.message))
    return { action: 'deny' }
  })
})

/** Fullscreen (console) and writing to the clipboard (copy in terminals) for the app page only; everything else is denied. */
const ALLOWED_PERMISSIONS = new Set(['fullscreen', 'clipboard-sanitized-write'])

function installSessionPolicy(): void {
  const ses = session.defaultSession
  ses.setPermissionRequestHandler((wc, permission, callback, details) => {
    const ok = ALLOWED_PERMISSIONS.has(permission) && isAppUrl(details.requestingUrl ?? wc.getURL())
    if (!ok) log(`denied permission '${permission}'`)
    callback(ok)
  })
  ses.setPermissionCheckHandler((_wc, permission, requestingOrigin) => {
    return ALLOWED_PERMISSIONS.has(permission) && requestingOrigin === APP_ORIGIN
  })
  ses.setDevicePermissionHandler(() => false)
  ses.on('will-download', event => event.preventDefault())
  installCertificatePolicy()
}

/** TOFU: see decideCertificate(). Re-installed after a pin changes, which also drops Chromium's cached verdicts. */
function installCertificatePolicy(): void {
  session.defaultSession.setCertificateVerifyProc((req, callback) => {
    if (req.errorCode === 0) {
      callback(certificateDecisionCode('default'))
      return
    }
    let fingerprint = ''
    try {
      fingerprint = new X509Certificate(req.certificate.data).fingerprint256
    } catch {
      callback(certificateDecisionCode('reject'))
      return
    }
    profiles.pinsForHost(req.hostname).then(
      pins =>
        callback(
          certificateDecisionCode(decideCertificate({ hostname: req.hostname, fingerprint, caTrusted: false }, pins)),
        ),
      () => callback(certificateDecisionCode('reject')),
    )
  })
}

/** Serves the built renderer on voidvm://app/ with the strict CSP on every response. */
function installAppProtocol(): void {
  protocol.handle(APP_SCHEME, async request => {
    const r = resolveAppAsset(RENDERER_DIR, request.url, request.method)
    if ('error' in r) return new Response(null, { status: r.error })
    try {
      const body = await readFile(r.file)
      return new Response(request.method === 'HEAD' ? null : body, {
        status: 200,
        headers: appResponseHeaders(r.mimeType),
      })
    } catch {
      return new Response('not found (is the renderer built? run npm run build)', { status: 404 })
    }
  })
}

// --- IPC ---

function toSharingSettings(
  prev: SharingSettings,
  patch: Partial<SharingSettings> & { enabled: boolean },
): SharingSettings {
  return {
    enabled: patch.enabled,
    host: patch.host ?? prev.host,
    port: patch.port ?? prev.port,
    ...((patch.tlsCertPath ?? prev.tlsCertPath) ? { tlsCertPath: patch.tlsCertPath ?? prev.tlsCertPath } : {}),
    ...((patch.tlsKeyPath ?? prev.tlsKeyPath) ? { tlsKeyPath: patch.tlsKeyPath ?? prev.tlsKeyPath } : {}),
  }
}

async function setSharing(
  patch: Partial<SharingSettings> & { enabled: boolean },
  from: 'menu' | 'renderer' = 'menu',
): Promise<SharingState> {
  const next = toSharingSettings(settings.get().sharing, patch)
  // The menu is the user acting in the main process already; a page's request is confirmed here.
  if (from === 'renderer' && sharingNeedsConsent(settings.get().sharing, next)) {
    const text = sharingConsentText(next)
    const opts = {
      type: 'warning' as const,
      title: 'Serve this machine',
      ...text,
      buttons: ['Cancel', 'Share this machine'],
      defaultId: 0,
      cancelId: 0,
      noLink: true,
    }
    const r = mainWindow ? await dialog.showMessageBox(mainWindow, opts) : await dialog.showMessageBox(opts)
    if (r.response !== 1) throw new Error(SHARING_DECLINED)
  }
  await settings.update(s => ({ ...s, sharing: next }))
  const state = await localServer.applySharing(next)
  refreshMenu()
  return state
}

function installIpc(): void {
  const handlers: IpcHandlers = {
    [IPC.localServer]: () => localServer.handOver(),
    [IPC.appInfo]: () => appInfo(),
    [IPC.profilesList]: () => profiles.list(),
    [IPC.profilesSave]: input => profiles.save(input),
    [IPC.profilesRemove]: id => profiles.remove(id),
    [IPC.profilesToken]: id => profiles.getToken(id),
    [IPC.profilesTrust]: async (id, fingerprint) => {
      const p = await profiles.trustCertificate(id, fingerprint)
      installCertificatePolicy()
      return p
    },
    [IPC.certificateProbe]: url => probeCertificate(url),
    [IPC.sharingGet]: () => localServer.getSharing(),
    [IPC.sharingSet]: input => setSharing(input, 'renderer'),
    [IPC.openExternal]: url => openExternalChecked(url),
    [IPC.serverHttp]: request => serverHttp((u, init) => net.fetch(u, init), request),
  }
  const dispatch = createIpcRouter(handlers)
  for (const channel of Object.values(IPC) as IpcChannel[]) {
    ipcMain.handle(channel, (event: IpcMainInvokeEvent, ...args: unknown[]) =>
      dispatch(
        { frameUrl: event.senderFrame?.url, isMainFrame: event.senderFrame === event.sender.mainFrame },
        channel,
        args,
      ),
    )
  }
}

// --- menu, about, sharing dialog ---

function showAbout(): void {
  const info = appInfo()
  void dialog.showMessageBox({
    type: 'info',
    title: 'About VoidVM',
    message: 'VoidVM',
    detail: aboutText(info),
    buttons: ['OK'],
  })
}

async function toggleSharingFromMenu(): Promise<void> {
  const current = settings.get().sharing
  if (current.enabled) {
    await setSharing({ enabled: false })
    return
  }
  const parent = mainWindow ?? undefined
  const pick = async (title: string): Promise<string | undefined> => {
    const opts = {
      title,
      properties: ['openFile' as const],
      filters: [{ name: 'PEM', extensions: ['pem', 'crt', 'cer', 'key'] }],
    }
    const r = parent ? await dialog.showOpenDialog(parent, opts) : await dialog.showOpenDialog(opts)
    return r.canceled ? undefined : r.filePaths[0]
  }
  const cert = await pick('TLS certificate (PEM) for serving this machine')
  if (!cert) return refreshMenu()
  const key = await pick('Private key (PEM) of that certificate')
  if (!key) return refreshMenu()
  const state = await setSharing({ enabled: true, tlsCertPath: cert, tlsKeyPath: key })
  const detail = state.error
    ? `Not serving: ${state.error}`
    : `Other VoidVM clients can connect to:\n${state.urls.join('\n') || `https://<this machine>:${state.port}`}\n\nCertificate fingerprint (SHA-256):\n${state.fingerprint ?? ''}\n\nThey log in with a user of this app's server, made with:\nvoidvm-server user add NAME --role operator --data-dir "${join(app.getPath('userData'), 'server')}"\n(without --data-dir the user would go to voidvm-server's own folder, which this app does not read).`
  const opts = {
    type: state.error ? ('error' as const) : ('info' as const),
    title: 'Serve this machine',
    message: state.error ? 'Sharing failed' : 'Serving this machine',
    detail,
  }
  if (parent) await dialog.showMessageBox(parent, opts)
  else await dialog.showMessageBox(opts)
}

function refreshMenu(): void {
  const template = buildMenuTemplate(
    process.platform,
    'VoidVM',
    {
      about: showAbout,
      toggleSharing: () =>
        void toggleSharingFromMenu().catch((err: Error) => dialog.showErrorBox('Sharing', err.message)),
      openDataFolder: () => void shell.openPath(app.getPath('userData')),
      openDocs: () => void openExternalChecked(DOCS_URL).catch(() => undefined),
    },
    { sharingEnabled: settings.get().sharing.enabled, devTools: !app.isPackaged },
  )
  Menu.setApplicationMenu(Menu.buildFromTemplate(template))
}

// --- window ---

function createWindow(): BrowserWindow {
  const saved = restoreWindowState(
    settings.get().window,
    screen.getAllDisplays().map(d => d.workArea),
  )
  const win = new BrowserWindow({
    ...(saved.x !== undefined && saved.y !== undefined ? { x: saved.x, y: saved.y } : {}),
    width: saved.width,
    height: saved.height,
    minWidth: MIN_WIDTH,
    minHeight: MIN_HEIGHT,
    title: 'VoidVM',
    show: false,
    backgroundColor: '#0f1115',
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
    },
  })
  if (saved.maximized) win.maximize()
  win.once('ready-to-show', () => win.show())
  let saveTimer: NodeJS.Timeout | undefined
  const remember = () => {
    clearTimeout(saveTimer)
    saveTimer = setTimeout(() => {
      if (win.isDestroyed()) return
      const b = win.getNormalBounds()
      const state: WindowState = { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() }
      void settings.update(s => ({ ...s, window: state })).catch(() => undefined)
    }, 400)
  }
  win.on('resize', remember)
  win.on('move', remember)
  win.on('maximize', remember)
  win.on('unmaximize', remember)
  win.on('close', () => {
    clearTimeout(saveTimer)
    const b = win.getNormalBounds()
    void settings
      .update(s => ({
        ...s,
        window: { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() },
      }))
      .catch(() => undefined)
  })
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null
  })
  void win.loadURL(APP_ENTRY_URL)
  return win
}

// --- lifecycle ---

async function main(): Promise<void> {
  const userData = app.getPath('userData')
  settings = new SettingsStore(join(userData, 'settings.json'))
  const { settings: s, problem } = await settings.load()
  if (problem) log(problem)
  profiles = new ProfileStore(join(userData, 'profiles.json'), safeStorageCipher)

  const envPort = process.env.VOIDVM_PORT !== undefined ? Number(process.env.VOIDVM_PORT) : undefined
  const libvirtUri = process.env.VOIDVM_LIBVIRT_URI ?? s.libvirtUri
  localServer = new LocalServer(
    { ...serverDeps, log },
    {
      dataDir: join(userData, 'server'),
      port: envPort !== undefined && Number.isInteger(envPort) ? envPort : s.localPort,
      ...(libvirtUri ? { libvirtUri } : {}),
      allowOrigins: [APP_ORIGIN],
    },
  )

  installSessionPolicy()
  installAppProtocol()
  installIpc()
  app.setAboutPanelOptions({
    applicationName: 'VoidVM',
    applicationVersion: app.getVersion(),
    version: `Electron ${process.versions.electron ?? ''}`,
    website: 'https://voidvm.dev',
  })
  refreshMenu()

  if (!app.isPackaged && process.env.ELECTRON_RENDERER_URL) {
    // A dev server is a remote URL to Chromium; the window keeps loading the built renderer over voidvm://.
    log(
      `not loading ${process.env.ELECTRON_RENDERER_URL}: the window uses out/renderer, which npm run dev rebuilds on every change (Ctrl+R reloads)`,
    )
  }
  const started = await localServer.start()
  log(`embedded server on ${started.url}`)
  if (s.sharing.enabled) {
    const state = await localServer.applySharing(s.sharing)
    log(
      state.error
        ? `sharing is on but not running: ${state.error}`
        : `serving this machine on ${state.urls.join(', ')}`,
    )
  }

  mainWindow = createWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow()
  })
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

// Quitting waits for the server to close every session and its listeners.
let shutdown: 'no' | 'running' | 'done' = 'no'
app.on('before-quit', event => {
  if (shutdown === 'done') return
  event.preventDefault()
  if (shutdown === 'running') return
  shutdown = 'running'
  const stop = localServer ? localServer.close() : Promise.resolve()
  const timeout = new Promise<void>(resolve => setTimeout(resolve, 5000).unref())
  void Promise.race([stop, timeout])
    .catch((err: unknown) => log(`closing the server failed: ${String(err)}`))
    .finally(() => {
      shutdown = 'done'
      app.quit()
    })
})
