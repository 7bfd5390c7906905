/**
 * Sandboxed preload: exposes a small typed API over contextBridge. Only
 * `electron` may be required here; everything else is bundled.
 */
import { contextBridge, ipcRenderer } from 'electron'
import type { VoidVmApi } from './api.js'
import { VERSION } from '../shared/version.js'

const api: VoidVmApi = {
  version: VERSION,
  getLocalServer: () => ipcRenderer.invoke('voidvm:local-server'),
  listProfiles: () => ipcRenderer.invoke('voidvm:profiles:list'),
  saveProfile: profile => ipcRenderer.invoke('voidvm:profiles:save', profile),
  removeProfile: id => ipcRenderer.invoke('voidvm:profiles:remove', id),
  getProfileToken: id => ipcRenderer.invoke('voidvm:profiles:token', id),
  openExternal: url => ipcRenderer.invoke('voidvm:open-external', url),
}

contextBridge.exposeInMainWorld('voidvm', api)
