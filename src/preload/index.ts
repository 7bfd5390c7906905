/**
 * Sandboxed preload: exposes a small typed API over contextBridge. Only
 * `electron` may be required here; everything else is bundled. Every call is
 * a fixed-channel invoke: the page never gets ipcRenderer itself.
 */
import { contextBridge, ipcRenderer } from 'electron'
import type { VoidVmApi } from './api.js'
import { IPC } from './channels.js'
import { VERSION } from '../shared/version.js'

const api: VoidVmApi = {
  version: VERSION,
  getLocalServer: () => ipcRenderer.invoke(IPC.localServer),
  listProfiles: () => ipcRenderer.invoke(IPC.profilesList),
  saveProfile: profile => ipcRenderer.invoke(IPC.profilesSave, profile),
  removeProfile: id => ipcRenderer.invoke(IPC.profilesRemove, id),
  getProfileToken: id => ipcRenderer.invoke(IPC.profilesToken, id),
  openExternal: url => ipcRenderer.invoke(IPC.openExternal, url),
  getAppInfo: () => ipcRenderer.invoke(IPC.appInfo),
  probeCertificate: url => ipcRenderer.invoke(IPC.certificateProbe, url),
  trustCertificate: (profileId, fingerprint) => ipcRenderer.invoke(IPC.profilesTrust, profileId, fingerprint),
  serverHttp: request => ipcRenderer.invoke(IPC.serverHttp, request),
  getSharing: () => ipcRenderer.invoke(IPC.sharingGet),
  setSharing: settings => ipcRenderer.invoke(IPC.sharingSet, settings),
}

contextBridge.exposeInMainWorld('voidvm', Object.freeze(api))
