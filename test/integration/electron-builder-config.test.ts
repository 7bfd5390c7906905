/**
 * electron-builder.yml is loaded and validated by electron-builder's own code
 * (getConfig + validateConfiguration with its JSON schema), then checked for
 * what the installers must be: targets per OS, names with version and arch,
 * hardened runtime and notarisation on macOS, real icons.
 */
import { readFile, writeFile, mkdtemp, rm, copyFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const root = resolve(import.meta.dirname, '../..')

interface TargetEntry {
  target: string
  arch?: string[]
}
interface BuilderConfig {
  appId?: string
  productName?: string
  artifactName?: string
  files?: (string | { filter?: string[] })[]
  linux?: { target?: TargetEntry[]; icon?: string }
  mac?: { target?: TargetEntry[]; icon?: string; hardenedRuntime?: boolean; notarize?: boolean; entitlements?: string }
  win?: { target?: TargetEntry[]; icon?: string }
  dmg?: { artifactName?: string }
  nsis?: { artifactName?: string }
  electronFuses?: Record<string, boolean>
  npmRebuild?: boolean
}
const configLib = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(dir: string, path: string | null, cfg: null): Promise<BuilderConfig>
  validateConfiguration(c: BuilderConfig, logger: unknown): Promise<void>
}
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown }

async function loadAndValidate(dir: string): Promise<BuilderConfig> {
  const cfg = await configLib.getConfig(dir, 'electron-builder.yml', null)
  await configLib.validateConfiguration(cfg, new DebugLogger(false))
  return cfg
}

const targets = (t?: TargetEntry[]) => (t ?? []).map(x => x.target)

describe('electron-builder.yml', () => {
  it('passes electron-builder’s own schema validation', async () => {
    const cfg = await loadAndValidate(root)
    expect(cfg.appId).toBe('dev.voidvm.app')
    expect(cfg.productName).toBe('VoidVM')
  })

  it('is really checked: a misspelt option is rejected by the same validation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-ebcfg-'))
    try {
      await copyFile(join(root, 'package.json'), join(dir, 'package.json'))
      const text = await readFile(join(root, 'electron-builder.yml'), 'utf8')
      await writeFile(join(dir, 'electron-builder.yml'), text.replace('hardenedRuntime: true', 'hardenedRuntim: true'))
      await expect(loadAndValidate(dir)).rejects.toThrow(/Invalid configuration object[\s\S]*configuration\.mac/)
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  it('builds AppImage, deb, rpm; dmg for x64 and arm64; NSIS', async () => {
    const cfg = await loadAndValidate(root)
    expect(targets(cfg.linux?.target)).toEqual(['AppImage', 'deb', 'rpm'])
    expect(cfg.mac?.target).toEqual([{ target: 'dmg', arch: ['x64', 'arm64'] }])
    expect(targets(cfg.win?.target)).toEqual(['nsis'])
  })

  it('names artifacts with version and arch', async () => {
    const cfg = await loadAndValidate(root)
    for (const name of [cfg.artifactName, cfg.dmg?.artifactName, cfg.nsis?.artifactName]) {
      expect(name).toContain('${version}')
      expect(name).toContain('${arch}')
    }
  })

  it('signs macOS builds with the hardened runtime and notarises, credentials only from the environment', async () => {
    const cfg = await loadAndValidate(root)
    expect(cfg.mac?.hardenedRuntime).toBe(true)
    expect(cfg.mac?.notarize).toBe(true)
    const entitlements = await readFile(join(root, cfg.mac!.entitlements!), 'utf8')
    expect(entitlements).toContain('com.apple.security.cs.allow-jit')
    expect(entitlements).not.toContain('disable-library-validation')
    const text = await readFile(join(root, 'electron-builder.yml'), 'utf8')
    expect(text).not.toMatch(/^\s*(appleId|appleIdPassword|teamId|password|cscKeyPassword)\s*:/im)
  })

  it('ships only the built app and flips the security fuses', async () => {
    const cfg = await loadAndValidate(root)
    // getConfig folds the list into one file set; read it back either way.
    const patterns = (cfg.files ?? []).flatMap(f => (typeof f === 'string' ? [f] : (f.filter ?? [])))
    expect(patterns).toContain('out/**')
    expect(patterns.some(f => f.startsWith('src'))).toBe(false)
    // Never rebuild the shared node_modules for Electron in place (the native modules are optional).
    expect(cfg.npmRebuild).toBe(false)
    expect(cfg.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      onlyLoadAppFromAsar: true,
    })
  })

  it('has real icons for every OS', async () => {
    const cfg = await loadAndValidate(root)
    const png = await readFile(join(root, 'resources/icon.png'))
    expect(png.subarray(1, 4).toString()).toBe('PNG')
    expect(png.readUInt32BE(16)).toBe(1024)
    for (const s of [16, 32, 48, 128, 256, 512]) {
      const p = await readFile(join(root, cfg.linux!.icon!, `${s}x${s}.png`))
      expect(p.readUInt32BE(16), `${s}x${s}.png width`).toBe(s)
    }
    const ico = await readFile(join(root, cfg.win!.icon!))
    expect(ico.readUInt16LE(0)).toBe(0)
    expect(ico.readUInt16LE(2)).toBe(1) // type 1 = icon
    expect(ico.readUInt16LE(4)).toBeGreaterThanOrEqual(5) // several sizes, 256 included
    const icns = await readFile(join(root, cfg.mac!.icon!))
    expect(icns.subarray(0, 4).toString()).toBe('icns')
    expect(icns.readUInt32BE(4)).toBe(icns.length)
    expect(icns.includes(Buffer.from('ic10'))).toBe(true) // 1024 px (512@2x)
  })
})

describe('.github/workflows/release.yml', () => {
  const yaml = require('js-yaml') as { load(text: string): unknown }
  interface Job {
    if?: string
    needs?: string[] | string
    'runs-on': string
    strategy?: { matrix?: { os?: string[] } }
    steps: { run?: string; uses?: string }[]
  }
  const load = async () =>
    yaml.load(await readFile(join(root, '.github/workflows/release.yml'), 'utf8')) as {
      on: { push: { tags: string[] } }
      jobs: Record<string, Job>
    }

  it('tests on Linux, macOS and Windows and builds installers for all three on tags only', async () => {
    const wf = await load()
    expect(wf.on.push.tags).toContain('v*')
    const testOses = [wf.jobs['test-linux']!['runs-on'], ...(wf.jobs['test-desktop-os']!.strategy!.matrix!.os ?? [])]
    expect(testOses.join(' ')).toMatch(/ubuntu/)
    expect(testOses.join(' ')).toMatch(/macos/)
    expect(testOses.join(' ')).toMatch(/windows/)
    const inst = wf.jobs.installers!
    expect(inst.if).toContain("startsWith(github.ref, 'refs/tags/v')")
    expect(inst.strategy!.matrix!.os!.map(o => o.split('-')[0]).sort()).toEqual(['macos', 'ubuntu', 'windows'])
    expect(inst.steps.some(s => s.run === 'npm run dist')).toBe(true)
    expect(wf.jobs['test-linux']!.steps.some(s => s.run?.includes('npm test'))).toBe(true)
  })
})
