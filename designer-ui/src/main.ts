import { createPinia } from 'pinia'
import { createApp } from 'vue'
import { createApi, installApi } from '@/api'
import { i18n } from '@/i18n'
import { notifyError } from '@/lib/errors'
import { createAppRouter } from '@/router'
import { useEntitiesStore } from '@/stores/entities'
import { usePreferencesStore } from '@/stores/preferences'
import { useSessionStore } from '@/stores/session'
import App from './App.vue'
import './styles/base.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
app.use(i18n)

const session = useSessionStore(pinia)
const preferences = usePreferencesStore(pinia)
const router = createAppRouter()

installApi(
  createApi({
    csrfToken: () => session.csrfToken,
    language: () => preferences.language,
    onUnauthenticated: () => {
      const wasSignedIn = session.status === 'signed_in'
      session.expire()
      useEntitiesStore(pinia).reset()
      const current = router.currentRoute.value
      // Back to log-in, then back here; requests made while finding out who we are do not count.
      if (wasSignedIn && current.name !== 'login') {
        void router.push({ name: 'login', query: { redirect: current.fullPath } })
      }
    },
  }),
)

app.use(router)
app.config.errorHandler = (e) => notifyError(e)
window.addEventListener('unhandledrejection', (event) => {
  event.preventDefault()
  notifyError(event.reason)
})
app.mount('#app')
