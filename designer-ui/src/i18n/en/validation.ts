import type zh from '../zh-CN/validation'

export default {
  required: '{label} is required',
  min_length: '{label} must be at least {detail} characters',
  max_length: '{label} must be at most {detail} characters',
  pattern: '{label} does not have the required format',
  min: '{label} must be at least {detail}',
  max: '{label} must be at most {detail}',
  not_integer: '{label} must be a whole number',
  money_precision: '{label}: an amount has at most 2 decimal places',
  id_card_format: '{label}: an ID number is 17 digits followed by a digit or X',
  id_card_checksum: '{label}: the check digit is wrong',
  id_card_birth_date: '{label}: the birth date is not valid',
  phone_format: '{label} is not a valid mobile or landline number',
  email_format: '{label} is not a valid email address',
  date_format: '{label} must be a date written YYYY-MM-DD',
  datetime_format: '{label} must be an RFC 3339 date-time with an offset',
  invalid_option: '{label}: not one of the options',
} satisfies typeof zh
