// The app's languages: 简体中文 first, English second. Messages live in one file per area and
// language (`zh-CN/<area>.ts`, `en/<area>.ts`); a test fails when a key is in one and not the
// other, or when the code names a key that is in neither.
import { createI18n } from 'vue-i18n'
import en from './en'
import zhCN from './zh-CN'

export type Language = 'zh-CN' | 'en'
export const LANGUAGES: readonly Language[] = ['zh-CN', 'en']
export const DEFAULT_LANGUAGE: Language = 'zh-CN'

/** The shape every language's messages have: the Chinese file is the reference. */
export type MessageSchema = typeof zhCN

export const messages: Record<Language, MessageSchema> = { 'zh-CN': zhCN, en }

export function isLanguage(v: unknown): v is Language {
  return typeof v === 'string' && (LANGUAGES as readonly string[]).includes(v)
}

export const i18n = createI18n<[MessageSchema], Language, false>({
  legacy: false,
  locale: DEFAULT_LANGUAGE,
  fallbackLocale: DEFAULT_LANGUAGE,
  messages,
  missingWarn: false,
  fallbackWarn: false,
})

/** A label in both languages (entity and field labels of definitions) in the current one. */
export function pickLabel(
  label: { zh?: string; en?: string } | undefined,
  language: Language,
  fallback: string,
): string {
  if (!label) return fallback
  const first = language === 'en' ? label.en : label.zh
  const second = language === 'en' ? label.zh : label.en
  return first || second || fallback
}
