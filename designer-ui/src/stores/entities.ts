// The entity definitions the user may read or design, loaded once per session.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { entitiesApi } from '@/api/endpoints'
import type { EntityInfo } from '@/api/types'
import { useSessionStore } from './session'

export const useEntitiesStore = defineStore('entities', () => {
  const items = ref<EntityInfo[]>([])
  const loaded = ref(false)
  let pending: Promise<void> | null = null

  async function fetchAll(): Promise<void> {
    const page = await entitiesApi.list()
    items.value = page.items
    loaded.value = true
  }

  /** Loads the definitions unless they are loaded; `force` reloads them. */
  function load(force = false): Promise<void> {
    if (loaded.value && !force) return Promise.resolve()
    pending ??= fetchAll().finally(() => {
      pending = null
    })
    return pending
  }

  function byName(name: string): EntityInfo | undefined {
    return items.value.find((e) => e.name === name)
  }

  /** Entities whose records the user may read: the 数据 menu. */
  const readable = computed(() => {
    const session = useSessionStore()
    return items.value.filter((e) => session.can(e.name, 'read'))
  })

  function reset(): void {
    items.value = []
    loaded.value = false
  }

  return { items, loaded, load, byName, readable, reset }
})
