// Problems of the draft and where they show. The server names each problem by its path in the
// definition (`fields.3.options.1.value`, `layout.0.tab`, engine/src/forms/compiled.rs); the
// designer turns the path into the field, section or form property it is about, through the
// keys the definition was built from (a field keeps its key while its identifier changes).
import type { ApiError } from '@/api/errors'
import type { FormDraft } from './draft'
import { allFields } from './draft'
import { identifierProblem, type IdentifierProblem } from './identifiers'

export type ProblemPlace =
  | { kind: 'form'; property: string }
  | { kind: 'section'; sectionKey: string; property: string }
  | { kind: 'field'; fieldKey: string; property: string }

export interface Problem {
  place: ProblemPlace
  code: string
  message: string
}

/** The keys of fields and sections in the order the checked definition listed them. */
export interface KeySnapshot {
  fieldKeys: string[]
  sectionKeys: string[]
  /** The fields' identifiers, in the same order: a save's refusal may name a field by it. */
  fieldNames: string[]
}

/** Where a path of the server's answer points in the draft. */
export function placeOfPath(path: string, keys: KeySnapshot): ProblemPlace {
  const field = /^fields\.(\d+)(?:\.(.+))?$/.exec(path)
  if (field) {
    const key = keys.fieldKeys[Number(field[1])]
    if (key) return { kind: 'field', fieldKey: key, property: field[2] ?? 'general' }
  }
  const section = /^layout\.(\d+)(?:\.(.+))?$/.exec(path)
  if (section) {
    const key = keys.sectionKeys[Number(section[1])]
    if (key) return { kind: 'section', sectionKey: key, property: section[2] ?? 'general' }
  }
  // A field named by its identifier: making it unique while records share a value.
  const named = keys.fieldNames.indexOf(path)
  if (named >= 0) return { kind: 'field', fieldKey: keys.fieldKeys[named]!, property: 'unique' }
  return { kind: 'form', property: path === '' ? 'general' : path }
}

/**
 * Staff's words for a problem whose server wording names the definition's own keys ("A select
 * field needs options"), or null to keep the server's.
 */
export type Reword = (code: string, property: string) => string | null

/**
 * The problems of a check or save the server refused: one per detail it named, or the answer's
 * own message when it named none (a definition it could not read, a missing right).
 */
export function problemsFromError(error: ApiError, keys: KeySnapshot, reword: Reword = () => null): Problem[] {
  const named = error.details.filter((d) => d.field !== '' || d.message !== '')
  if (named.length === 0) {
    const property = error.code === 'conflict' ? 'name' : 'general'
    return [{ place: { kind: 'form', property }, code: error.code, message: error.message }]
  }
  return named.map((d) => {
    const place = placeOfPath(d.field, keys)
    return { place, code: d.code, message: reword(d.code, place.property) ?? d.message }
  })
}

export type Describe = (problem: IdentifierProblem, subject: 'field' | 'entity', name: string) => string

/**
 * What the browser finds before asking the server: identifiers that are not slugs. The server
 * would refuse such a definition as unreadable, without saying which field, so these are
 * reported here, on the field, and the draft is not sent until they are fixed.
 */
export function localProblems(draft: FormDraft, describe: Describe): Problem[] {
  const problems: Problem[] = []
  if (draft.isNew) {
    const p = identifierProblem(draft.name)
    if (p) problems.push({ place: { kind: 'form', property: 'name' }, code: `identifier_${p}`, message: describe(p, 'entity', draft.name) })
  }
  for (const field of allFields(draft)) {
    if (field.saved) continue
    const p = identifierProblem(field.def.name)
    if (p) {
      problems.push({
        place: { kind: 'field', fieldKey: field.key, property: 'name' },
        code: `identifier_${p}`,
        message: describe(p, 'field', field.def.name),
      })
    }
  }
  return problems
}

export function problemsOfField(problems: readonly Problem[], fieldKey: string): Problem[] {
  return problems.filter((p) => p.place.kind === 'field' && p.place.fieldKey === fieldKey)
}

export function problemsOfSection(problems: readonly Problem[], sectionKey: string): Problem[] {
  return problems.filter((p) => p.place.kind === 'section' && p.place.sectionKey === sectionKey)
}

export function problemsOfForm(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => p.place.kind === 'form')
}

/** The messages about one property (`options`, `options.2.value`, `default` …), joined. */
export function messageAt(problems: readonly Problem[], property: string): string {
  return problems
    .filter((p) => p.place.property === property)
    .map((p) => p.message)
    .join('；')
}
