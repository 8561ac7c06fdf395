// What the designer's panes share: the draft, what is selected, the problems of the last check,
// and the language labels show in. The page provides it; the palette, canvas and property
// panel inject it, so each edits the one draft without passing it through every level.
import { inject, provide, type ComputedRef, type InjectionKey, type Ref } from 'vue'
import type { EntityInfo, FieldType, Label } from '@/api/types'
import { messages, type Language } from '@/i18n'
import type { FieldNaming, FormDraft } from './draft'
import type { Problem } from './problems'

export type Selection = { kind: 'field'; key: string } | { kind: 'section'; key: string } | { kind: 'form' }

export interface DesignerContext {
  draft: Ref<FormDraft>
  selection: Ref<Selection>
  problems: ComputedRef<Problem[]> | Ref<Problem[]>
  language: ComputedRef<Language> | Ref<Language>
  /** Entities a reference field may point at. */
  entities: ComputedRef<EntityInfo[]> | Ref<EntityInfo[]>
}

const KEY: InjectionKey<DesignerContext> = Symbol('designer')

export function provideDesigner(context: DesignerContext): void {
  provide(KEY, context)
}

export function useDesigner(): DesignerContext {
  const context = inject(KEY)
  if (!context) throw new Error('the designer panes need provideDesigner() in their page')
  return context
}

/**
 * A new field's names: its type's in both languages (replaced as soon as one is typed), and its
 * starter options' (选项 1 / Option 1).
 */
export const fieldNaming: FieldNaming = {
  typeLabel: (type: FieldType): Label => ({ zh: messages['zh-CN'].designer.types[type], en: messages.en.designer.types[type] }),
  optionLabel: (n: number): Label => ({
    zh: messages['zh-CN'].designer.props.starterOption.replace('{n}', String(n)),
    en: messages.en.designer.props.starterOption.replace('{n}', String(n)),
  }),
}

/** A label as the messages of both languages spell it (new sections' titles). */
export function bilingual(pick: (m: (typeof messages)['zh-CN']) => string): Label {
  return { zh: pick(messages['zh-CN']), en: pick(messages.en) }
}
