// The file being imported and what the server says when it cannot take it.
import { isApiError } from '@/api/errors'
import type { FieldDef } from '@/api/types'
import type { Language } from '@/i18n'
import { describeError } from '@/lib/errors'
import { rowProblems, type RowProblem } from './importReport'

/** CSV or XLSX, by name: browsers give CSV files several media types. */
export function isImportableFile(name: string): boolean {
  return /\.(csv|xlsx)$/i.test(name)
}

export interface ImportFailure {
  message: string
  /** The lines and columns the server named (an unreadable line, an unknown column). */
  problems: RowProblem[]
}

/**
 * A refusal of the whole file (400: unreadable, a column matching no field, a field the user may
 * not write; 413: too large) as words for the upload step; null for other errors, which go to
 * the one error presenter.
 */
export function importFailure(e: unknown, fields: FieldDef[], language: Language): ImportFailure | null {
  if (!isApiError(e) || (e.status !== 400 && e.status !== 413)) return null
  return { message: describeError(e), problems: rowProblems(e.details, fields, language) }
}
