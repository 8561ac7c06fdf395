//! The one expression dialect of formulas and flows: a sandboxed rhai engine with hard limits,
//! one helper set (dates, durations), and errors that name a code and a position but never a
//! value. Formulas (`forms::formula`) and flows (`flows`) both compile and run through here.

mod dates;
mod errors;
mod money;
mod reads;
mod sandbox;
mod values;

pub use dates::{with_context, Duration, TimeContext};
pub use errors::ExprError;
pub use money::{decimal_to_json, dynamic_to_fen, money_to_dynamic};
pub use reads::{reads, whole_roots, Read, Root};
pub use sandbox::{compile, engine, eval, MAX_OPERATIONS, MAX_SOURCE_CHARS};
pub use values::{dynamic_to_json, json_to_dynamic};
