/**
 * Theme: the `data-theme` attribute on <html> follows the preference or the
 * OS. Canvas-drawn charts take their colours from the same palette as the
 * CSS variables (kept in sync by hand: --c-* in styles.css).
 */
import { useEffect, useState } from 'react'
import { useUiStore, type ThemePref } from '../stores/ui'

export interface ChartColors {
  cpu: string
  mem: string
  rx: string
  tx: string
  rd: string
  wr: string
  grid: string
  text: string
}

export const PALETTES: Record<'light' | 'dark', ChartColors> = {
  light: {
    cpu: '#3b82f6',
    mem: '#8b5cf6',
    rx: '#10b981',
    tx: '#f59e0b',
    rd: '#06b6d4',
    wr: '#ec4899',
    grid: 'rgba(100,110,130,0.14)',
    text: '#5b6478',
  },
  dark: {
    cpu: '#60a5fa',
    mem: '#a78bfa',
    rx: '#34d399',
    tx: '#fbbf24',
    rd: '#22d3ee',
    wr: '#f472b6',
    grid: 'rgba(160,170,190,0.12)',
    text: '#9aa3b5',
  },
}

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches
}

export function resolveTheme(pref: ThemePref, osDark: boolean): 'light' | 'dark' {
  return pref === 'system' ? (osDark ? 'dark' : 'light') : pref
}

/** Applies the theme to <html> and keeps it in sync with the OS. */
export function useApplyTheme(): 'light' | 'dark' {
  const pref = useUiStore(s => s.theme)
  const [osDark, setOsDark] = useState(systemDark)
  useEffect(() => {
    if (typeof matchMedia !== 'function') return
    const mq = matchMedia('(prefers-color-scheme: dark)')
    const on = () => setOsDark(mq.matches)
    mq.addEventListener('change', on)
    return () => mq.removeEventListener('change', on)
  }, [])
  const theme = resolveTheme(pref, osDark)
  useEffect(() => {
    document.documentElement.dataset.theme = theme
    document.documentElement.style.colorScheme = theme
    useUiStore.setState({ resolvedTheme: theme })
  }, [theme])
  return theme
}

/** Chart colours for the current theme. */
export function useChartColors(): ChartColors {
  return PALETTES[useUiStore(s => s.resolvedTheme)]
}
