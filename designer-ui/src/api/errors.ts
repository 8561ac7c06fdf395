// The one error type the app handles: the server's error format
// `{"error": {"code", "message", "details"}}`, or a failure to reach the server at all.
import type { FieldErrorItem, ServerErrorCode } from './types'

/** Codes of failures that never reached a server answer in the error format. */
export type ClientErrorCode = 'network_error' | 'unexpected_response'

export type ApiErrorCode = ServerErrorCode | ClientErrorCode

export class ApiError extends Error {
  readonly status: number
  readonly code: ApiErrorCode
  readonly details: FieldErrorItem[]

  constructor(status: number, code: ApiErrorCode, message: string, details: FieldErrorItem[] = []) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
  }

  /** Field name → the first message the server gave for it, to place under each input. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const d of this.details) {
      if (d.field && !(d.field in out)) out[d.field] = d.message
    }
    return out
  }

  /** Whether the error names fields (a form shows it on them rather than as a banner). */
  get hasFieldErrors(): boolean {
    return this.details.some((d) => d.field !== '')
  }
}

function isErrorBody(body: unknown): body is { error: { code: string; message: string; details?: unknown } } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false
  const error = (body as { error: unknown }).error
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  )
}

function detailsOf(raw: unknown): FieldErrorItem[] {
  if (!Array.isArray(raw)) return []
  return raw.filter(
    (d): d is FieldErrorItem =>
      typeof d === 'object' && d !== null && typeof d.field === 'string' && typeof d.code === 'string',
  )
}

/** Turns an error answer (status and parsed body) into an [`ApiError`]. */
export function apiErrorFrom(status: number, body: unknown, fallbackMessage: string): ApiError {
  if (isErrorBody(body)) {
    return new ApiError(
      status,
      body.error.code as ServerErrorCode,
      body.error.message,
      detailsOf(body.error.details),
    )
  }
  return new ApiError(status, 'unexpected_response', fallbackMessage)
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError
}
