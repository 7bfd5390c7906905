/**
 * One xterm per terminal tab, created on first display and kept (with its
 * scrollback) until the tab closes, so tabs survive view switches: a view only
 * moves the terminal's element into its container.
 */
import { Terminal } from '@xterm/xterm'
import { FitAddon } from '@xterm/addon-fit'
import '@xterm/xterm/css/xterm.css'
import { attachSink, sendTerminalInput, useTermStore } from '../stores/terminals'

export interface TermEntry {
  term: Terminal
  fit: FitAddon
  host: HTMLDivElement
  detachSink: () => void
}

const entries = new Map<string, TermEntry>()

const DARK = {
  background: '#0b0f17',
  foreground: '#d7dce5',
  cursor: '#7aa2ff',
  selectionBackground: '#2a3b5f',
}

export function getTerminal(key: string): TermEntry {
  let e = entries.get(key)
  if (e) return e
  const term = new Terminal({
    fontFamily: 'ui-monospace, "JetBrains Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 13,
    cursorBlink: true,
    scrollback: 5000,
    theme: DARK,
    allowProposedApi: false,
  })
  const fit = new FitAddon()
  term.loadAddon(fit)
  const host = document.createElement('div')
  host.className = 'xterm-host'
  term.open(host)
  term.onData(d => sendTerminalInput(key, d))
  // Ctrl+Shift+C / Ctrl+Shift+V copy and paste, as in desktop terminals.
  term.attachCustomKeyEventHandler(ev => {
    if (ev.type !== 'keydown' || !ev.ctrlKey || !ev.shiftKey) return true
    if (ev.code === 'KeyC') {
      void copySelection(key)
      return false
    }
    if (ev.code === 'KeyV') {
      void pasteClipboard(key)
      return false
    }
    return true
  })
  const detachSink = attachSink(key, d => term.write(d))
  e = { term, fit, host, detachSink }
  entries.set(key, e)
  return e
}

export async function copySelection(key: string): Promise<void> {
  const sel = entries.get(key)?.term.getSelection()
  if (sel) await navigator.clipboard?.writeText(sel).catch(() => undefined)
  entries.get(key)?.term.focus()
}

export async function pasteClipboard(key: string): Promise<void> {
  const text = await navigator.clipboard?.readText().catch(() => '')
  const e = entries.get(key)
  if (text && e) e.term.paste(text)
  // Back to the terminal, so typing goes on where the text went.
  e?.term.focus()
}

// Dispose terminals whose tabs were closed.
useTermStore.subscribe(s => {
  for (const [key, e] of entries) {
    if (!s.tabs.some(t => t.key === key)) {
      e.detachSink()
      e.term.dispose()
      entries.delete(key)
    }
  }
})
