/** Navigation and preferences: the current view, theme and language. */
import { create } from 'zustand'
import { load, save } from '../lib/storage'

export type View = 'vms' | 'vm' | 'host' | 'events' | 'terminals'
export type VmTab = 'overview' | 'console' | 'terminal'
export type ThemePref = 'system' | 'light' | 'dark'
export type Lang = 'en' | 'zh-CN'

export interface UiState {
  view: View
  vmId: string | null
  vmTab: VmTab
  theme: ThemePref
  lang: Lang
  shortcutsOpen: boolean
  /** The theme in effect (the preference, or the OS's when "system"). */
  resolvedTheme: 'light' | 'dark'
}

export function detectLang(): Lang {
  const saved = load<Lang | null>('voidvm.lang', null)
  if (saved === 'en' || saved === 'zh-CN') return saved
  const nav = typeof navigator !== 'undefined' ? navigator.language : 'en'
  return nav.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

export const useUiStore = create<UiState>(() => ({
  view: 'vms',
  vmId: null,
  vmTab: 'overview',
  theme: load<ThemePref>('voidvm.theme', 'system'),
  lang: detectLang(),
  shortcutsOpen: false,
  resolvedTheme: 'light',
}))

export function navigate(view: View, vmId?: string, vmTab?: VmTab): void {
  useUiStore.setState(s => ({
    view,
    vmId: vmId ?? (view === 'vm' ? s.vmId : s.vmId),
    vmTab: vmTab ?? (view === 'vm' && vmId && vmId !== s.vmId ? 'overview' : s.vmTab),
  }))
}

export function setTheme(theme: ThemePref): void {
  save('voidvm.theme', theme)
  useUiStore.setState({ theme })
}

export function setLang(lang: Lang): void {
  save('voidvm.lang', lang)
  useUiStore.setState({ lang })
}

export function setShortcutsOpen(open: boolean): void {
  useUiStore.setState({ shortcutsOpen: open })
}
