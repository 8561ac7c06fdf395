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
/** Record data as the API carries it: field name → JSON value. */
export type RecordData = { [field: string]: unknown }
/** A record; its `data` is the entity's own shape, which the document cannot spell out. */
export type RecordItem = Omit<Schemas['Record'], 'data'> & { data: RecordData }
export type RecordPage = Omit<Schemas['RecordPage'], 'items'> & { items: RecordItem[] }
export type FieldErrorItem = Schemas['FieldError']
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
