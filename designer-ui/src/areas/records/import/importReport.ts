// A dry run's report as staff read it: how many rows, how many good, and each problem by the
// line of the file it is on (line 1 is the header, as a spreadsheet numbers it).
import type { FieldDef, FieldErrorItem, ImportReport } from '@/api/types'
import type { Language } from '@/i18n'
import { fieldLabel } from '../fields'

export interface RowProblem {
  /** The line in the file; null when the server named none. */
  line: number | null
  /** The field's label, or the column or field as the server named it. */
  field: string
  message: string
  /** Rows of the same line after the first: the table shows the line once. */
  continued: boolean
}

export interface CheckSummary {
  total: number
  valid: number
  /** Lines with at least one problem. */
  bad: number
}

export function summarize(report: ImportReport): CheckSummary {
  const lines = new Set(report.errors.map((e) => e.line ?? 0))
  return { total: report.total_rows, valid: report.valid_rows, bad: lines.size }
}

/** Every problem, by line then in the server's order, with field labels in the user's language. */
export function rowProblems(errors: FieldErrorItem[], fields: FieldDef[], language: Language): RowProblem[] {
  const byName = new Map(fields.map((f) => [f.name, f]))
  const sorted = errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.line ?? 0) - (b.e.line ?? 0) || a.i - b.i)
  return sorted.map(({ e }, k) => {
    const field = byName.get(e.field)
    return {
      line: e.line ?? null,
      field: field ? fieldLabel(field, language) : e.field,
      message: e.message,
      continued: k > 0 && (sorted[k - 1]!.e.line ?? null) === (e.line ?? null),
    }
  })
}

/** How many rows of the table each line spans, for the first row of the line (0 for the rest). */
export function lineSpans(problems: RowProblem[]): number[] {
  return problems.map((p, i) => {
    if (p.continued) return 0
    let n = 1
    while (problems[i + n]?.continued) n++
    return n
  })
}
