// `npm run dev`: the desktop app with rebuild-on-save. The window always loads the
// renderer from out/renderer over voidvm:// (never a dev-server URL: see
// docs/security.md), so the renderer is rebuilt there on every change (reload the
// window with Ctrl+R to see it), while electron-vite rebuilds main and preload and
// restarts the app. Without the Electron binary it says so, like `npm start`.
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { build, type InlineConfig } from 'vite'
import config from '../electron.vite.config.js'
import { electronBinary, MISSING_ELECTRON } from './electron-binary.mjs'

const bin = electronBinary()
if (!bin) {
  console.error(MISSING_ELECTRON)
  process.exit(1)
}

const renderer = config.renderer as InlineConfig
let first: () => void = () => {}
const firstBuild = new Promise<void>(r => (first = r))
const watcher = await build({
  ...renderer,
  configFile: false,
  root: resolve(renderer.root ?? 'src/renderer'),
  build: { ...renderer.build, outDir: resolve('out/renderer'), emptyOutDir: true, watch: {} },
  plugins: [...(renderer.plugins ?? []), { name: 'voidvm-dev-first-build', closeBundle: () => first() }],
})
await firstBuild
console.log('renderer built into out/renderer; it is rebuilt on every change (Ctrl+R reloads the window)')

// ELECTRON_EXEC_PATH: electron-vite launches the same binary found above.
const app = spawn('npx', ['electron-vite', 'dev', '--watch'], {
  stdio: 'inherit',
  env: { ...process.env, ELECTRON_EXEC_PATH: bin },
})
const stop = () => {
  app.kill('SIGTERM')
  if ('close' in watcher) void watcher.close()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
app.on('exit', code => {
  if ('close' in watcher) void watcher.close()
  process.exit(code ?? 0)
})
