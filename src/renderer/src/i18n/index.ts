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

/** The signed-in user, as far as naming actors goes. */
export interface ActorSelf {
  userId: string
  username: string
}

/**
 * Who caused an event, for display: the acting user's name (marked when it is
 * the signed-in user), or undefined when the event did not come through
 * VoidVM. Servers before `username` send only `userId`: the signed-in user is
 * still named, others by a short form of their id.
 */
export function describeActor(
  e: Pick<SystemEventData, 'userId' | 'username'>,
  me?: ActorSelf | null,
): string | undefined {
  if (e.userId === undefined && e.username === undefined) return undefined
  if (me && e.userId !== undefined && e.userId === me.userId)
    return i18n.t('events.actorSelf', { user: e.username ?? me.username })
  if (e.username) return e.username
  const id = e.userId ?? ''
  return i18n.t('events.actorId', { id: id.length > 12 ? `${id.slice(0, 8)}…` : id })
}

export function describeError(code: string, fallback: string): string {
  const key = `error.${code}`
  return i18n.exists(key) ? i18n.t(key) : fallback
}

/**
 * A server error for a toast: the code's translated summary as the title,
 * and the server's own message below it, since that is what says what to
 * fix (which field, which character, which limit).
 */
export function describeServerError(
  code: string,
  message: string,
  vmId?: string,
  details?: string,
): { title: string; body?: string } {
  const title = describeError(code, message)
  const said = title === message ? undefined : message
  const extra = details && !(said ?? title).includes(details) ? details : undefined
  const body = [vmId, said, extra].filter(Boolean).join(' · ') || undefined
  return { title, body }
}

export const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '简体中文' },
] as const
