/**
 * The application menu as data (only electron's types are imported), with the
 * usual roles so copy/paste, zoom, full screen and the macOS app menu work.
 */
import type { MenuItemConstructorOptions } from 'electron'
import type { AppInfo } from '../../preload/api.js'

export interface MenuActions {
  about(): void
  toggleSharing(): void
  openDataFolder(): void
  openDocs(): void
}

export function aboutText(info: AppInfo): string {
  return [
    `${info.name} ${info.version}`,
    '',
    `Electron ${info.electron}`,
    `Chromium ${info.chrome}`,
    `Node.js ${info.node}`,
    `${info.platform} ${info.arch}`,
  ].join('\n')
}

export function buildMenuTemplate(
  platform: NodeJS.Platform,
  appName: string,
  actions: MenuActions,
  opts: { sharingEnabled: boolean; devTools: boolean },
): MenuItemConstructorOptions[] {
  const isMac = platform === 'darwin'
  const about: MenuItemConstructorOptions = { label: `About ${appName}`, click: () => actions.about() }
  const sharing: MenuItemConstructorOptions = {
    label: 'Serve This Machine to Other VoidVM Clients…',
    type: 'checkbox',
    checked: opts.sharingEnabled,
    click: () => actions.toggleSharing(),
  }
  const template: MenuItemConstructorOptions[] = []
  if (isMac) {
    template.push({
      label: appName,
      submenu: [
        about,
        { type: 'separator' },
        sharing,
        { type: 'separator' },
        { role: 'services' },
        { type: 'separator' },
        { role: 'hide' },
        { role: 'hideOthers' },
        { role: 'unhide' },
        { type: 'separator' },
        { role: 'quit' },
      ],
    })
  }
  template.push({
    label: 'File',
    submenu: [
      ...(isMac ? [] : [sharing, { type: 'separator' } as MenuItemConstructorOptions]),
      { label: 'Open Data Folder', click: () => actions.openDataFolder() },
      { type: 'separator' },
      isMac ? { role: 'close' } : { role: 'quit' },
    ],
  })
  template.push({
    label: 'Edit',
    submenu: [
      { role: 'undo' },
      { role: 'redo' },
      { type: 'separator' },
      { role: 'cut' },
      { role: 'copy' },
      { role: 'paste' },
      ...(isMac ? [{ role: 'pasteAndMatchStyle' } as MenuItemConstructorOptions] : []),
      { role: 'delete' },
      { role: 'selectAll' },
    ],
  })
  template.push({
    label: 'View',
    submenu: [
      { role: 'reload' },
      { role: 'forceReload' },
      ...(opts.devTools ? [{ role: 'toggleDevTools' } as MenuItemConstructorOptions] : []),
      { type: 'separator' },
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  })
  template.push({
    role: 'window',
    submenu: isMac
      ? [{ role: 'minimize' }, { role: 'zoom' }, { type: 'separator' }, { role: 'front' }]
      : [{ role: 'minimize' }, { role: 'close' }],
  })
  template.push({
    role: 'help',
    submenu: [{ label: 'VoidVM Documentation', click: () => actions.openDocs() }, ...(isMac ? [] : [about])],
  })
  return template
}
