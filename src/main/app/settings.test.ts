import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_LOCAL_PORT, SettingsStore } from './settings.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voidvm-settings-'))
})
afterEach(() => rm(dir, { recursive: true }))

describe('settings', () => {
  it('starts from defaults: loopback port 3000, sharing off', async () => {
    const s = new SettingsStore(join(dir, 'settings.json'))
    const { settings, problem } = await s.load()
    expect(problem).toBeUndefined()
    expect(settings.localPort).toBe(DEFAULT_LOCAL_PORT)
    expect(settings.sharing).toEqual({ enabled: false, host: '0.0.0.0', port: 3443 })
  })

  it('persists updates (window bounds, sharing) across restarts', async () => {
    const file = join(dir, 'settings.json')
    const s = new SettingsStore(file)
    await s.load()
    await s.update(x => ({ ...x, window: { x: 10, y: 20, width: 1000, height: 700, maximized: true } }))
    await s.update(x => ({
      ...x,
      sharing: { ...x.sharing, enabled: true, tlsCertPath: '/c.pem', tlsKeyPath: '/k.pem' },
    }))
    const again = new SettingsStore(file)
    const { settings } = await again.load()
    expect(settings.window).toEqual({ x: 10, y: 20, width: 1000, height: 700, maximized: true })
    expect(settings.sharing).toMatchObject({ enabled: true, tlsCertPath: '/c.pem', tlsKeyPath: '/k.pem' })
  })

  it('refuses invalid updates and keeps the file as it was', async () => {
    const file = join(dir, 'settings.json')
    const s = new SettingsStore(file)
    await s.load()
    await s.update(x => ({ ...x, localPort: 4000 }))
    await expect(s.update(x => ({ ...x, localPort: 99999 }))).rejects.toThrow()
    expect(JSON.parse(await readFile(file, 'utf8')).localPort).toBe(4000)
    expect(s.get().localPort).toBe(4000)
  })

  it('reports a broken file and falls back to defaults instead of not starting', async () => {
    const file = join(dir, 'settings.json')
    await writeFile(file, '{"localPort": "three thousand"}')
    const r = await new SettingsStore(file).load()
    expect(r.problem).toMatch(/localPort/)
    expect(r.settings.localPort).toBe(DEFAULT_LOCAL_PORT)
    await writeFile(file, '{nope')
    expect((await new SettingsStore(file).load()).problem).toMatch(/not valid JSON/)
  })
})
