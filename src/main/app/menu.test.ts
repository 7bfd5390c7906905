import type { MenuItemConstructorOptions } from 'electron'
import { describe, expect, it } from 'vitest'
import { aboutText, buildMenuTemplate } from './menu.js'

const noop = { about() {}, toggleSharing() {}, openDataFolder() {}, openDocs() {} }

function roles(items: MenuItemConstructorOptions[]): string[] {
  return items.flatMap(i => [...(i.role ? [i.role] : []), ...(Array.isArray(i.submenu) ? roles(i.submenu) : [])])
}

describe('application menu', () => {
  it('has the usual roles on every OS', () => {
    for (const platform of ['linux', 'win32', 'darwin'] as const) {
      const r = roles(buildMenuTemplate(platform, 'VoidVM', noop, { sharingEnabled: false, devTools: false }))
      for (const role of [
        'copy',
        'paste',
        'cut',
        'selectAll',
        'undo',
        'redo',
        'reload',
        'togglefullscreen',
        'minimize',
      ]) {
        expect(r, `${platform} ${role}`).toContain(role)
      }
      expect(r).not.toContain('toggleDevTools')
    }
    const mac = roles(buildMenuTemplate('darwin', 'VoidVM', noop, { sharingEnabled: false, devTools: true }))
    expect(mac).toEqual(expect.arrayContaining(['hide', 'hideOthers', 'quit', 'front', 'toggleDevTools']))
  })

  it('shows the sharing state and runs the actions', () => {
    let about = 0
    const t = buildMenuTemplate(
      'linux',
      'VoidVM',
      { ...noop, about: () => about++ },
      { sharingEnabled: true, devTools: false },
    )
    const all = t.flatMap(i => (Array.isArray(i.submenu) ? i.submenu : []))
    const sharing = all.find(i => i.label?.startsWith('Serve This Machine'))
    expect(sharing).toMatchObject({ type: 'checkbox', checked: true })
    const aboutItem = all.find(i => i.label === 'About VoidVM')
    ;(aboutItem?.click as () => void)()
    expect(about).toBe(1)
  })

  it('lists versions in About', () => {
    const text = aboutText({
      name: 'VoidVM',
      version: '0.1.0',
      electron: '45.5.0',
      chrome: '140.0',
      node: '22.20.0',
      platform: 'linux',
      arch: 'x64',
    })
    expect(text).toContain('VoidVM 0.1.0')
    expect(text).toContain('Electron 45.5.0')
    expect(text).toContain('Chromium 140.0')
    expect(text).toContain('Node.js 22.20.0')
  })
})
