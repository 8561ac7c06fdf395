// The user's choices that outlive a session on this PC: the language.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { DEFAULT_LANGUAGE, i18n, isLanguage, type Language } from '@/i18n'

const LANGUAGE_KEY = 'kangdao.language'

function storedLanguage(): Language {
  try {
    const v = localStorage.getItem(LANGUAGE_KEY)
    return isLanguage(v) ? v : DEFAULT_LANGUAGE
  } catch {
    return DEFAULT_LANGUAGE
  }
}

function apply(language: Language): void {
  i18n.global.locale.value = language
  if (typeof document !== 'undefined') document.documentElement.lang = language
}

export const usePreferencesStore = defineStore('preferences', () => {
  const language = ref<Language>(storedLanguage())
  apply(language.value)

  function setLanguage(next: Language): void {
    language.value = next
    apply(next)
    try {
      localStorage.setItem(LANGUAGE_KEY, next)
    } catch {
      // A browser that refuses storage keeps the choice for this tab only.
    }
  }

  return { language, setLanguage }
})
