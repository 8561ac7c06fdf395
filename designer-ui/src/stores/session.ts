// Who is signed in, with the CSRF token of their session, and what they may do.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { sessionApi } from '@/api/endpoints'
import { isApiError } from '@/api/errors'
import type { EntityAction, Me, SystemRight } from '@/api/types'
import { can, hasRight } from '@/lib/access'
import { useServerTimeZone } from '@/lib/dates'

export type SessionStatus = 'unknown' | 'anonymous' | 'signed_in'

export const useSessionStore = defineStore('session', () => {
  const me = ref<Me | null>(null)
  const csrfToken = ref<string | null>(null)
  const status = ref<SessionStatus>('unknown')
  /** Set when a request found the session gone, so the log-in page can say why. */
  const expired = ref(false)

  function signIn(answer: Me): void {
    me.value = answer
    csrfToken.value = answer.csrf_token ?? null
    useServerTimeZone(answer.timezone)
    status.value = 'signed_in'
    expired.value = false
  }

  function clear(): void {
    me.value = null
    csrfToken.value = null
    useServerTimeZone(null)
    status.value = 'anonymous'
  }

  /** Asks the server who this browser is signed in as (after a reload). */
  async function load(): Promise<void> {
    try {
      signIn(await sessionApi.me())
    } catch (e) {
      if (isApiError(e) && e.status === 401) {
        clear()
        return
      }
      throw e
    }
  }

  async function login(username: string, password: string): Promise<void> {
    signIn(await sessionApi.login(username, password))
  }

  async function logout(): Promise<void> {
    try {
      await sessionApi.logout()
    } finally {
      clear()
      expired.value = false
    }
  }

  /** A request answered 401: the session expired or was revoked elsewhere. */
  function expire(): void {
    if (status.value === 'signed_in') expired.value = true
    clear()
  }

  const displayName = computed(() => me.value?.user.display_name || me.value?.user.username || '')
  const roles = computed(() => me.value?.user.roles ?? [])
  const isAdmin = computed(() => me.value?.user.is_admin ?? false)

  return {
    me,
    csrfToken,
    status,
    expired,
    displayName,
    roles,
    isAdmin,
    load,
    login,
    logout,
    expire,
    can: (entity: string, action: EntityAction) => can(me.value, entity, action),
    hasRight: (right: SystemRight) => hasRight(me.value, right),
  }
})
