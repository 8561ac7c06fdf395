// Names for the shapes of the OpenAPI document (`schema.d.ts` is generated from openapi.json).
import type { components } from './schema'

type Schemas = components['schemas']

export type Me = Schemas['Me']
export type User = Schemas['User']
export type EntityInfo = Schemas['EntityInfo']
export type EntityDefinition = Schemas['EntityDefinition']
export type DefinitionCheck = Schemas['DefinitionCheck']
export type Impact = Schemas['Impact']
export type DefinitionVersion = Schemas['DefinitionVersion']
export type DefinitionVersionPage = Schemas['DefinitionVersionPage']
export type VersionedDefinition = Schemas['VersionedDefinition']
export type FieldDef = Schemas['Field']
export type FieldType = FieldDef['type']
export type LayoutSection = Schemas['LayoutSection']
export type Label = Schemas['Label']
export type SelectOption = Schemas['SelectOption']
export type EntityPermission = Schemas['EntityPermission']
export type EntityAction = EntityPermission['actions'][number]
export type FieldRule = NonNullable<EntityPermission['fields']>[string]
export type SystemRight = Schemas['SystemRight']
export type RowScope = NonNullable<EntityPermission['rows']>
/** A role as stored (GET answers it with its version). */
export type Role = Schemas['RoleAnswer']
/** A role as POST and PUT take it; on PUT its `version` is the precondition. */
export type RoleBody = Schemas['Role']
export type NewUser = Schemas['NewUser']
/** The parts of a user a PATCH changes; its `version` is the precondition. */
export type UserUpdate = Schemas['UserUpdate']
/** An API token as listed: never its value. */
export type ApiToken = Schemas['Token']
/** A token just created, with its value: shown once. */
export type CreatedApiToken = Schemas['NewTokenAnswer']
/** Record data as the API carries it: field name → JSON value. */
export type RecordData = { [field: string]: unknown }
/** A record; its `data` is the entity's own shape, which the document cannot spell out. */
export type RecordItem = Omit<Schemas['Record'], 'data'> & { data: RecordData }
export type RecordPage = Omit<Schemas['RecordPage'], 'items'> & { items: RecordItem[] }
export type FieldErrorItem = Schemas['FieldError']
export type ImportReport = Schemas['ImportReport']
/** A column of an imported file and the field it fills (null: ignored). */
export type ImportColumn = Schemas['ImportColumn']
/** An import file's header with proposed fields, and its first rows. */
export type ImportPreview = Schemas['ImportPreview']
/** The server's change log of one record, oldest first; `data` as the reader may see it. */
export type RecordChange = Omit<Schemas['Change'], 'data'> & { data: RecordData }
export type View360 = Omit<Schemas['View360'], 'record' | 'related'> & {
  record: RecordItem
  related: RelatedGroup[]
}
/** The records of one entity that reference the viewed record through one field. */
export type RelatedGroup = Omit<Schemas['View360']['related'][number], 'items'> & { items: RecordItem[] }
export type TimelineEntry = Schemas['View360']['timeline'][number]
/** A saved list view; its `state` is the browser's own (see areas/records/views). */
export type ListView = Schemas['ListView']
export type ErrorBody = Schemas['Error']
export type ServerErrorCode = ErrorBody['error']['code']

/** The filter grammar (DESIGN.md, "Reports engine"), typed for the app's own use. */
export type FilterOp =
  | 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'not_in' | 'contains' | 'starts_with'
  | 'is_empty' | 'not_empty' | 'between' | 'last_n_days' | 'before_n_days' | 'next_n_days'
  | 'after_n_days' | 'this_week' | 'this_month' | 'this_quarter' | 'this_year'
  | 'birthday_in_n_days'

export type FilterExpr =
  | { and: FilterExpr[] }
  | { or: FilterExpr[] }
  | { not: FilterExpr }
  | { exists: { entity: string; ref: string; filters?: FilterExpr } }
  | { field: string; op: FilterOp; value?: unknown }
