// Someone saved the form while this designer was editing it. "Keep editing mine on top of
// theirs": their version becomes the base, and what this designer changed since they read the
// form is applied to it again — fields they added appear, fields only they changed take their
// definition, fields only they removed go; what this designer added, changed or removed stays so.
import type { EntityDefinition, EntityInfo, FieldDef, Label } from '@/api/types'
import { tabKey } from '@/lib/layoutTabs'
import { allFields, buildDefinition, cleanField, cleanLabel, findField, type DraftField, type FormDraft } from './draft'

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function byName(fields: readonly FieldDef[]): Map<string, FieldDef> {
  return new Map(fields.map((f) => [f.name, f]))
}

function sectionOf(definition: EntityDefinition | EntityInfo, name: string): Label | undefined {
  return definition.layout?.find((s) => s.fields.includes(name))?.section
}

/**
 * `mine` re-applied on `theirs`: `base` is the definition `mine` started from. The draft is
 * changed in place and keeps its sections, order and selection keys.
 */
export function rebaseDraft(mine: FormDraft, base: EntityDefinition, theirs: EntityInfo): FormDraft {
  const baseFields = byName(base.fields.map(cleanField))
  const theirFields = byName(theirs.fields.map(cleanField))
  const mineDefinition = buildDefinition(mine)
  const mineFields = byName(mineDefinition.fields)

  for (const field of allFields(mine)) {
    const name = field.def.name
    const before = baseFields.get(name)
    const now = theirFields.get(name)
    const unchangedByMe = before !== undefined && same(mineFields.get(name), before)
    if (before && !now && unchangedByMe) {
      // They removed it and this designer did not touch it.
      const place = findField(mine, field.key)
      place?.section.fields.splice(place.index, 1)
      continue
    }
    if (now && unchangedByMe) field.def = JSON.parse(JSON.stringify(now)) as FieldDef
    if (now) {
      field.saved = true
      field.nameTouched = true
      field.savedOptionValues = (now.options ?? []).map((o) => o.value)
    }
  }

  // Fields they added: in the section of the same title, else the last one.
  const present = new Set(allFields(mine).map((f) => f.def.name))
  for (const added of theirs.fields) {
    if (present.has(added.name) || baseFields.has(added.name)) continue
    const title = sectionOf(theirs, added.name)
    const target =
      (title && mine.sections.find((s) => tabKey(s.title) === tabKey(title))) ?? mine.sections[mine.sections.length - 1]
    if (!target) continue
    const field: DraftField = {
      key: `${target.key}-${added.name}`,
      def: JSON.parse(JSON.stringify(added)) as FieldDef,
      saved: true,
      nameTouched: true,
      defaultLabel: {},
      savedOptionValues: (added.options ?? []).map((o) => o.value),
    }
    target.fields.push(field)
  }

  if (same(cleanLabel(mine.label), cleanLabel(base.label))) mine.label = JSON.parse(JSON.stringify(theirs.label ?? {})) as Label
  const kept: FormDraft['kept'] = {}
  if (theirs.owner_field !== undefined) kept.owner_field = theirs.owner_field
  if (theirs.department_field !== undefined) kept.department_field = theirs.department_field
  if (theirs.medical_record !== undefined) kept.medical_record = theirs.medical_record
  mine.kept = kept
  mine.version = theirs.version
  mine.isNew = false
  return mine
}
