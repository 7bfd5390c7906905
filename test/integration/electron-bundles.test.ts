/**
 * Checks the built Electron bundles (npm test builds them first, in pretest):
 * no webPreferences anywhere in main or preload turns off isolation or the
 * sandbox or turns on Node integration, the main window sets all three
 * explicitly, and the sandboxed preload requires nothing but electron.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '../..')
const MAIN = resolve(root, 'out/main/index.js')
const PRELOAD = resolve(root, 'out/preload/index.cjs')

/** Settings that must never take the value on the right. */
const FORBIDDEN: Record<string, boolean> = {
  nodeIntegration: true,
  nodeIntegrationInWorker: true,
  nodeIntegrationInSubFrames: true,
  contextIsolation: false,
  sandbox: false,
  webSecurity: false,
  allowRunningInsecureContent: true,
  webviewTag: true,
}

type Literal = boolean | number | string | undefined

/** Evaluates the constant forms a minifier or bundler may emit: true, !0, !1, 1, "x". */
function constValue(e: ts.Expression): Literal | 'dynamic' {
  if (e.kind === ts.SyntaxKind.TrueKeyword) return true
  if (e.kind === ts.SyntaxKind.FalseKeyword) return false
  if (ts.isNumericLiteral(e)) return Number(e.text)
  if (ts.isStringLiteral(e)) return e.text
  if (ts.isParenthesizedExpression(e)) return constValue(e.expression)
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.ExclamationToken) {
    const v = constValue(e.operand)
    return v === 'dynamic' ? v : !v
  }
  if (ts.isIdentifier(e) && e.text === 'undefined') return undefined
  return 'dynamic'
}

interface Finding {
  key: string
  value: Literal | 'dynamic'
  line: number
}

function propName(n: ts.PropertyName): string | undefined {
  return ts.isIdentifier(n) || ts.isStringLiteral(n) ? n.text : undefined
}

/** Every `key: value` of a security setting in the bundle, and the object literals holding them. */
function scan(code: string, file: string) {
  const sf = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS)
  const findings: Finding[] = []
  const objects: Map<string, Literal | 'dynamic'>[] = []
  const requires: string[] = []
  const exposed: ts.Expression[] = []
  const visit = (n: ts.Node): void => {
    if (ts.isObjectLiteralExpression(n)) {
      const props = new Map<string, Literal | 'dynamic'>()
      for (const p of n.properties) {
        if (ts.isPropertyAssignment(p)) {
          const key = propName(p.name)
          if (key && key in FORBIDDEN) {
            const value = constValue(p.initializer)
            props.set(key, value)
            findings.push({ key, value, line: sf.getLineAndCharacterOfPosition(p.getStart()).line + 1 })
          }
        } else if (ts.isShorthandPropertyAssignment(p) && p.name.text in FORBIDDEN) {
          findings.push({
            key: p.name.text,
            value: 'dynamic',
            line: sf.getLineAndCharacterOfPosition(p.getStart()).line + 1,
          })
        }
      }
      if (props.size) objects.push(props)
    }
    if (ts.isCallExpression(n)) {
      if (ts.isIdentifier(n.expression) && n.expression.text === 'require') {
        const a = n.arguments[0]
        requires.push(a && ts.isStringLiteral(a) ? a.text : '<dynamic>')
      }
      if (ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'exposeInMainWorld') {
        const v = n.arguments[1]
        if (v) exposed.push(v)
      }
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return { findings, objects, requires, exposed }
}

/** Violations: forbidden values, and values the bundle computes at run time (which could be anything). */
function violations(code: string, file: string): string[] {
  const out: string[] = []
  for (const f of scan(code, file).findings) {
    if (f.value === 'dynamic') out.push(`${file}:${f.line} ${f.key} is not a constant`)
    else if (Boolean(f.value) === FORBIDDEN[f.key] && f.value !== undefined)
      out.push(`${file}:${f.line} ${f.key}: ${String(f.value)}`)
  }
  // The plain-text forms too, whatever the syntax tree says.
  for (const re of [
    /nodeIntegration\s*:\s*(true|!0)\b/,
    /contextIsolation\s*:\s*(false|!1)\b/,
    /sandbox\s*:\s*(false|!1)\b/,
  ]) {
    const m = re.exec(code)
    if (m) out.push(`${file}: text '${m[0]}'`)
  }
  return out
}

/** The main entry plus every chunk it imports (the server code is split into chunks). */
function mainFiles(): string[] {
  const seen = new Set<string>()
  const walk = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const m of readFileSync(file, 'utf8').matchAll(
      /\bfrom\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    )) {
      walk(resolve(dirname(file), m[1] ?? m[2]!))
    }
  }
  walk(MAIN)
  return [...seen]
}

describe('built Electron bundles', () => {
  it('exist (npm test builds them in pretest; run npm run build)', () => {
    expect(existsSync(MAIN), `${MAIN} is missing: run npm run build`).toBe(true)
    expect(existsSync(PRELOAD), `${PRELOAD} is missing: run npm run build`).toBe(true)
  })

  it('never enable nodeIntegration or disable contextIsolation or the sandbox', () => {
    const files = [...mainFiles(), PRELOAD]
    expect(files.length).toBeGreaterThan(1)
    const found = files.flatMap(f => violations(readFileSync(f, 'utf8'), relative(root, f)))
    expect(found).toEqual([])
  })

  it('create the window with contextIsolation, sandbox and no nodeIntegration, spelled out', () => {
    const { objects } = scan(readFileSync(MAIN, 'utf8'), 'out/main/index.js')
    const prefs = objects.find(o => o.has('contextIsolation') && o.has('sandbox') && o.has('nodeIntegration'))
    expect(prefs, 'a webPreferences object with all three settings').toBeDefined()
    expect(Boolean(prefs!.get('contextIsolation'))).toBe(true)
    expect(Boolean(prefs!.get('sandbox'))).toBe(true)
    expect(Boolean(prefs!.get('nodeIntegration'))).toBe(false)
  })

  it('keep the sandboxed preload to require("electron") and a frozen API object', () => {
    const { requires, exposed } = scan(readFileSync(PRELOAD, 'utf8'), 'out/preload/index.cjs')
    expect([...new Set(requires)]).toEqual(['electron'])
    expect(exposed).toHaveLength(1)
    // Never hand the page ipcRenderer (or any electron module) itself.
    expect(exposed[0]!.getText()).not.toMatch(/^(electron\.)?ipcRenderer$|^electron$/)
  })

  it('the checker itself catches the bad forms', () => {
    const bad = `
      new BrowserWindow({ webPreferences: { nodeIntegration: !0, contextIsolation: !1, sandbox: false } })
      const w = { webPreferences: { nodeIntegration: flag } }
      const x = { "webSecurity": false }`
    const v = violations(bad, 'sample.js')
    expect(v.join('\n')).toMatch(/nodeIntegration: true/)
    expect(v.join('\n')).toMatch(/contextIsolation: false/)
    expect(v.join('\n')).toMatch(/sandbox: false/)
    expect(v.join('\n')).toMatch(/nodeIntegration is not a constant/)
    expect(v.join('\n')).toMatch(/webSecurity: false/)
    expect(violations('const ok = { nodeIntegration: false, contextIsolation: true, sandbox: true }', 'ok.js')).toEqual(
      [],
    )
  })
})
