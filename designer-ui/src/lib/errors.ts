// The one place errors become words on screen. Server errors carry a message in the user's
// language; failures that never reached the server get ours.
import { ElMessage } from 'element-plus'
import 'element-plus/es/components/message/style/css'
import { isApiError, type ApiError } from '@/api/errors'
import { i18n, type Language } from '@/i18n'

const HAN = /[\u3400-\u9fff]/
/** Words the server puts before a reason it gives in both languages (engine/src/error.rs). */
const PREFIXES = ['没有权限：', 'Forbidden: ', '未找到：', 'Not found: ']

/**
 * Some refusals (the account rules of engine/src/access) carry their reason in both languages,
 * `中文 / English`; this keeps the half in the user's language. Anything else stays as it is.
 */
export function inLanguage(message: string, language: Language): string {
  const prefix = PREFIXES.find((p) => message.startsWith(p)) ?? ''
  const parts = message.slice(prefix.length).split(' / ')
  if (parts.length !== 2) return message
  const [first, second] = parts as [string, string]
  if (HAN.test(first) === HAN.test(second)) return message
  const [zh, en] = HAN.test(first) ? [first, second] : [second, first]
  return prefix + (language === 'en' ? en : zh).trim()
}

function currentLanguage(): Language {
  return i18n.global.locale.value
}

/** Field name → the server's message for it, in the user's language. */
export function fieldErrorsOf(e: ApiError): Record<string, string> {
  const language = currentLanguage()
  return Object.fromEntries(Object.entries(e.fieldErrors()).map(([field, message]) => [field, inLanguage(message, language)]))
}

export function describeError(e: unknown): string {
  const t = i18n.global.t
  if (isApiError(e)) {
    switch (e.code) {
      case 'network_error':
        return t('errors.network')
      case 'unexpected_response':
        return t('errors.unexpected', { status: e.status })
      case 'internal':
        return t('errors.internal')
      default:
        return inLanguage(e.message, currentLanguage())
    }
  }
  return t('errors.unknown')
}

/** Shows the error as a message at the top of the page. A 401 is left to the session. */
export function notifyError(e: unknown): void {
  if (isApiError(e) && e.status === 401) return
  ElMessage({ type: 'error', message: describeError(e), showClose: true, duration: 6000 })
}
