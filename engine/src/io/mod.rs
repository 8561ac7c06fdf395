//! Import and export: tables of cells in CSV and XLSX, and cell text to field values.

pub mod coerce;
pub mod tabular;

pub use coerce::{coerce_cell, CoerceContext, CoerceError};
pub use tabular::{
    read_table, write_csv, write_xlsx, Table, TableRow, TabularError, TabularFormat, MAX_COLUMNS,
};
