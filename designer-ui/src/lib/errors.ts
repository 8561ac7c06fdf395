// The one place errors become words on screen. Server errors carry a message in the user's
// language; failures that never reached the server get ours.
import { ElMessage } from 'element-plus'
import 'element-plus/es/components/message/style/css'
import { isApiError } from '@/api/errors'
import { i18n } from '@/i18n'

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
        return e.message
    }
  }
  return t('errors.unknown')
}

/** Shows the error as a message at the top of the page. A 401 is left to the session. */
export function notifyError(e: unknown): void {
  if (isApiError(e) && e.status === 401) return
  ElMessage({ type: 'error', message: describeError(e), showClose: true, duration: 6000 })
}
