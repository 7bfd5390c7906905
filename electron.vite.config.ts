import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import react from '@vitejs/plugin-react'
import pkg from './package.json' with { type: 'json' }

const define = { __VOIDVM_VERSION__: JSON.stringify(pkg.version) }

// Three builds: the main process (plus the Electron-free headless server
// entry), the sandboxed preload (CommonJS, only `electron` left external) and
// the React renderer.
export default defineConfig({
  main: {
    define,
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: resolve('src/main/index.ts'),
          headless: resolve('src/main/headless.ts'),
        },
      },
    },
  },
  preload: {
    define,
    build: {
      outDir: 'out/preload',
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    define,
    root: 'src/renderer',
    build: {
      outDir: 'out/renderer',
      rollupOptions: { input: { index: resolve('src/renderer/index.html') } },
    },
    plugins: [react()],
  },
})
