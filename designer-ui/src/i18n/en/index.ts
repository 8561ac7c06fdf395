// One file per area; a new area (designer, admin, …) adds its file here and in the other language.
import admin from './admin'
import auth from './auth'
import common from './common'
import designer from './designer'
import records from './records'
import shell from './shell'
import validation from './validation'
import workbench from './workbench'

export default {
  ...common,
  auth,
  shell,
  workbench,
  records,
  designer,
  validation,
  admin,
}
