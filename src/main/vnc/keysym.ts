/**
 * KeyboardEvent.key values → X11 keysyms, and "type this text" → RFB key
 * presses with the Shift handling a US keyboard layout needs. QEMU turns
 * keysyms back into scancodes through its (en-us) keymap, so a shifted
 * character must arrive with Shift held, as a real keyboard would send it.
 */

const F1 = 0xffbe

/** Named KeyboardEvent.key values (the UI Events "key" spec) → keysym. */
const NAMED: Record<string, number> = {
  Enter: 0xff0d,
  Tab: 0xff09,
  Backspace: 0xff08,
  Escape: 0xff1b,
  Esc: 0xff1b,
  Delete: 0xffff,
  Del: 0xffff,
  Insert: 0xff63,
  Home: 0xff50,
  End: 0xff57,
  PageUp: 0xff55,
  PageDown: 0xff56,
  ArrowLeft: 0xff51,
  ArrowUp: 0xff52,
  ArrowRight: 0xff53,
  ArrowDown: 0xff54,
  Left: 0xff51,
  Up: 0xff52,
  Right: 0xff53,
  Down: 0xff54,
  Shift: 0xffe1,
  Control: 0xffe3,
  Alt: 0xffe9,
  AltGraph: 0xfe03,
  Meta: 0xffeb, // Super_L: what browsers call Meta is the Windows/Command key
  OS: 0xffeb,
  Super: 0xffeb,
  Hyper: 0xffed,
  CapsLock: 0xffe5,
  NumLock: 0xff7f,
  ScrollLock: 0xff14,
  Pause: 0xff13,
  PrintScreen: 0xff61,
  ContextMenu: 0xff67,
  Apps: 0xff67,
  Help: 0xff6a,
  Clear: 0xff0b,
  Cancel: 0xff69,
  Execute: 0xff62,
  Select: 0xff60,
  Find: 0xff68,
  Undo: 0xff65,
  Redo: 0xff66,
  Again: 0xff66,
  Convert: 0xff23,
  NonConvert: 0xff22,
  KanaMode: 0xff2d,
  HangulMode: 0xff31,
  HanjaMode: 0xff34,
  Spacebar: 0x20,
  Space: 0x20,
}
for (let i = 1; i <= 35; i++) NAMED[`F${i}`] = F1 + i - 1

/** The keysym for one Unicode code point: Latin-1 maps to itself, the rest to 0x01000000 + code point. */
export function codePointToKeysym(cp: number): number {
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp
  return 0x01000000 + cp
}

/** Maps a KeyboardEvent.key value to a keysym; undefined when it names no key. */
export function keyToKeysym(key: string): number | undefined {
  const named = NAMED[key]
  if (named !== undefined) return named
  const cps = [...key]
  if (cps.length !== 1) return undefined
  const cp = key.codePointAt(0)!
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return undefined // control characters are not key values
  return codePointToKeysym(cp)
}

/** US-layout characters typed with Shift held. */
const SHIFTED = new Set('~!@#$%^&*()_+{}|:"<>?ABCDEFGHIJKLMNOPQRSTUVWXYZ')

export interface KeyPress {
  keysym: number
  down: boolean
}

export const SHIFT_L = 0xffe1

/**
 * Key presses that type `text` on a US layout: Shift around shifted
 * characters, Enter for newlines (CR LF counts once), Tab for tabs. Throws
 * a RangeError naming the first character that cannot be typed: control
 * characters, and anything outside ASCII — QEMU turns keysyms into scancodes
 * through its US keymap and silently drops a character it has no key for,
 * so typing "café" would give "caf".
 */
export function textToKeyPresses(text: string): KeyPress[] {
  const out: KeyPress[] = []
  let i = 0
  const chars = [...text]
  for (; i < chars.length; i++) {
    const ch = chars[i]!
    let keysym: number
    if (ch === '\r') {
      if (chars[i + 1] === '\n') i++
      keysym = NAMED.Enter!
    } else if (ch === '\n') keysym = NAMED.Enter!
    else if (ch === '\t') keysym = NAMED.Tab!
    else if (ch === '\b') keysym = NAMED.Backspace!
    else if (ch === '\x1b') keysym = NAMED.Escape!
    else {
      const cp = ch.codePointAt(0)!
      const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`
      if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        throw new RangeError(`character ${i + 1} (${code}) is a control character and cannot be typed`)
      if (cp > 0x7e)
        throw new RangeError(
          `character ${i + 1} ("${ch}", ${code}) has no key on the US keyboard layout text is typed with; ` +
            'only ASCII characters, newlines and tabs can be typed',
        )
      keysym = cp
    }
    const shift = SHIFTED.has(ch)
    if (shift) out.push({ keysym: SHIFT_L, down: true })
    out.push({ keysym, down: true }, { keysym, down: false })
    if (shift) out.push({ keysym: SHIFT_L, down: false })
  }
  return out
}
