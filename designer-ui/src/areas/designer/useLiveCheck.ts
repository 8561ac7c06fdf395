// The server checks the draft as the designer works: a moment after the last change, the
// definition goes to `POST /api/v1/entity-checks` (which writes nothing) and its problems come
// back on the fields they name. An answer to an older draft is dropped when a newer one is out.
import { computed, onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { entitiesApi } from '@/api/endpoints'
import { isApiError } from '@/api/errors'
import type { DefinitionCheck, EntityDefinition } from '@/api/types'
import { buildDefinition, definitionKeys, type FormDraft } from './draft'
import { localProblems, problemsFromError, type Describe, type Problem, type Reword } from './problems'

export type CheckState = 'idle' | 'pending' | 'checking' | 'passed' | 'problems' | 'failed'

/** What the server is asked to check: the definition without the version it was read at. */
function checkedDefinition(draft: FormDraft): EntityDefinition {
  const { version: _readAt, ...definition } = buildDefinition(draft)
  return definition
}

export function useLiveCheck(draft: Ref<FormDraft | null>, describe: Describe, reword: Reword, delayMs = 400) {
  const state = ref<CheckState>('idle')
  const serverProblems = ref<Problem[]>([])
  const passed = ref<DefinitionCheck | null>(null)
  const failure = ref<unknown>(null)
  const local = computed(() => (draft.value ? localProblems(draft.value, describe) : []))
  const problems = computed(() => [...local.value, ...serverProblems.value])

  let timer: ReturnType<typeof setTimeout> | null = null
  let asked = 0

  function cancelTimer(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  async function check(): Promise<void> {
    cancelTimer()
    const current = draft.value
    if (!current) return
    if (local.value.length > 0) {
      // A draft with unreadable identifiers is not sent: the server could not say where.
      serverProblems.value = []
      state.value = 'problems'
      return
    }
    const ticket = ++asked
    const keys = definitionKeys(current)
    state.value = 'checking'
    try {
      const answer = await entitiesApi.check(checkedDefinition(current), current.isNew ? 'create' : 'update')
      if (ticket !== asked) return
      serverProblems.value = []
      passed.value = answer
      failure.value = null
      state.value = 'passed'
    } catch (e) {
      if (ticket !== asked) return
      passed.value = null
      if (isApiError(e) && [400, 403, 404, 409, 422].includes(e.status)) {
        serverProblems.value = problemsFromError(e, keys, reword)
        failure.value = null
        state.value = 'problems'
      } else {
        failure.value = e
        state.value = 'failed'
      }
    }
  }

  /** Checks now (saving waits for this), instead of after the pause. */
  function checkNow(): Promise<void> {
    return check()
  }

  function schedule(): void {
    cancelTimer()
    state.value = 'pending'
    timer = setTimeout(() => void checkNow(), delayMs)
  }

  // Any change of the definition (not of the selection or the panes) asks again.
  watch(
    () => (draft.value ? JSON.stringify(checkedDefinition(draft.value)) : null),
    (now, before) => {
      if (now !== null && now !== before) schedule()
    },
    { immediate: true },
  )

  onBeforeUnmount(cancelTimer)

  /** Problems a save ran into, shown like the check's until the next change is checked. */
  function report(found: Problem[]): void {
    cancelTimer()
    asked++
    serverProblems.value = found
    passed.value = null
    state.value = found.length > 0 ? 'problems' : state.value
  }

  return { state, problems, passed, failure, checkNow, report }
}
