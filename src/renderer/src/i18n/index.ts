/**
 * i18next setup. Resources are bundled (two small languages), so init is
 * synchronous and the first render is already translated. Server event codes
 * and error codes are localised here from their codes, not from the server's text.
 */
import i18next, { type i18n as I18n } from 'i18next'
import { initReactI18next } from 'react-i18next'
import type { SystemEventData } from '../../../shared/protocol'
import { en } from './en'
import { zhCN } from './zh-CN'

export const i18n: I18n = i18next.createInstance()

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
  lng: 'en',
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
  initAsync: false,
  returnNull: false,
})

export function describeEvent(e: Pick<SystemEventData, 'event' | 'vmId' | 'message'>): string {
  const key = `events.name.${e.event}`
  return i18n.exists(key) ? i18n.t(key, { vm: e.vmId ?? '' }) : e.message
}

export function describeError(code: string, fallback: string): string {
  const key = `error.${code}`
  return i18n.exists(key) ? i18n.t(key) : fallback
}

export const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
] as const
