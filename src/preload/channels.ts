/**
 * IPC channel names shared by the preload and the main process. Kept free of
 * imports so the sandboxed preload bundle stays tiny.
 */
export const IPC = {
  localServer: 'voidvm:local-server',
  appInfo: 'voidvm:app-info',
  profilesList: 'voidvm:profiles:list',
  profilesSave: 'voidvm:profiles:save',
  profilesRemove: 'voidvm:profiles:remove',
  profilesToken: 'voidvm:profiles:token',
  profilesTrust: 'voidvm:profiles:trust-certificate',
  certificateProbe: 'voidvm:certificate:probe',
  sharingGet: 'voidvm:sharing:get',
  sharingSet: 'voidvm:sharing:set',
  openExternal: 'voidvm:open-external',
  serverHttp: 'voidvm:server-http',
} as const

export type IpcChannel = (typeof IPC)[keyof typeof IPC]
