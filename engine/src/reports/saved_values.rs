//! What a saved definition may hold: a segment's or a chart's filters are stored as plain JSON
//! and read by everyone who may read the entity, masked viewers included. A value compared with
//! a sensitive field (an ID number, a phone) would be a plaintext copy of personal data outside
//! the sealed columns, so saving refuses it; emptiness tests (`is_empty`, `not_empty`) hold no
//! value and stay allowed. A one-off lookup by such a value belongs in a list filter, where it
//! is audited and rate-limited, not in a definition.

use crate::engine::Engine;
use crate::error::{EngineError, FieldError, Result};
use crate::query::grammar::{FilterExpr, Op};
use std::future::Future;
use std::pin::Pin;

impl Engine {
    /// Refuses `filter` (on `entity`) when a condition compares a sensitive field with a value,
    /// naming every such field.
    pub(crate) async fn refuse_saved_sensitive_values(
        &self,
        entity: &str,
        filter: &FilterExpr,
    ) -> Result<()> {
        let mut fields = Vec::new();
        self.sensitive_compared(entity, filter, false, &mut fields)
            .await?;
        if fields.is_empty() {
            return Ok(());
        }
        let message = format!(
            "保存的筛选条件不能包含敏感字段的值：{}（a saved filter cannot hold a value of a sensitive field: {}）",
            fields.join("、"),
            fields.join(", ")
        );
        Err(EngineError::BadRequest {
            details: fields
                .iter()
                .map(|f| FieldError::new(f, "sensitive_value_saved", message.clone()))
                .collect(),
            message,
        })
    }

    fn sensitive_compared<'a>(
        &'a self,
        entity: &'a str,
        filter: &'a FilterExpr,
        nested: bool,
        out: &'a mut Vec<String>,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            match filter {
                FilterExpr::And { and: items } | FilterExpr::Or { or: items } => {
                    for item in items {
                        self.sensitive_compared(entity, item, nested, out).await?;
                    }
                }
                FilterExpr::Not { not } => {
                    self.sensitive_compared(entity, not, nested, out).await?
                }
                FilterExpr::Exists { exists } => {
                    if let Some(inner) = &exists.filters {
                        self.sensitive_compared(&exists.entity, inner, true, out)
                            .await?;
                    }
                }
                FilterExpr::Condition { field, op, .. } => {
                    // An unknown entity is left to the compiler, which names it in its 400.
                    let Ok(rt) = self.entity(entity).await else {
                        return Ok(());
                    };
                    let sensitive = rt.field_storage(field).is_some_and(|fs| fs.sensitive);
                    if sensitive && !matches!(op, Op::IsEmpty | Op::NotEmpty) {
                        let name = if nested {
                            format!("{entity}.{field}")
                        } else {
                            field.clone()
                        };
                        if !out.contains(&name) {
                            out.push(name);
                        }
                    }
                }
                // Inlined segments were checked when they were saved.
                FilterExpr::Segment { .. } => {}
            }
            Ok(())
        })
    }
}
