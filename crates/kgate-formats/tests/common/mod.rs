//! What the formats' integration tests share.

use kgate_formats::FormatError;
use kgate_formats::registry::{SchemaRegistry, SchemaText, SubjectSchema};
use parking_lot::Mutex;

/// A registry held in memory: these tests are about the formats, not about reaching a
/// registry. Ids are 1, 2, ... in the order of registration; it knows no subjects.
#[derive(Default)]
pub struct MemoryRegistry {
    schemas: Mutex<Vec<(String, SchemaText)>>,
}

#[async_trait::async_trait]
impl SchemaRegistry for MemoryRegistry {
    async fn register(&self, subject: &str, schema: &SchemaText) -> Result<i32, FormatError> {
        let mut schemas = self.schemas.lock();
        schemas.push((subject.to_string(), schema.clone()));
        Ok(schemas.len() as i32)
    }
    async fn schema_by_id(&self, id: i32) -> Result<SchemaText, FormatError> {
        let schemas = self.schemas.lock();
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| schemas.get(i))
            .map(|(_, s)| s.clone())
            .ok_or(FormatError::Registry {
                status: 404,
                error_code: 40403,
                message: "Schema not found".into(),
            })
    }
    async fn subject_version(
        &self,
        _subject: &str,
        _version: Option<i32>,
    ) -> Result<SubjectSchema, FormatError> {
        Err(FormatError::Registry {
            status: 404,
            error_code: 40401,
            message: "Subject not found".into(),
        })
    }
    async fn lookup(
        &self,
        subject: &str,
        _schema: &SchemaText,
    ) -> Result<SubjectSchema, FormatError> {
        self.subject_version(subject, None).await
    }
}
