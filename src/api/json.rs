//! `/api` request bodies: JSON, strictly typed against the same schema the OpenAPI
//! document shows, every refusal naming its field.
//!
//! poem-openapi's own `Json` turns `false` or `-1.37e21` into the string `"false"`
//! or `"-1370000000000000000000"` where a string is declared, and checks the
//! content type before the handler could authenticate the caller. `ApiJson` keeps
//! the body as sent; the handler parses it (after authenticating, so a caller
//! without credentials gets 401 whatever the body), and parsing first checks every
//! value's JSON type against the schema, then applies the schema's constraints.

use crate::error::AppError;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;
use std::marker::PhantomData;

pub struct ApiJson<T> {
    bytes: bytes::Bytes,
    content_type: Option<String>,
    _type: PhantomData<T>,
}

impl<'a, T: Type + ParseFromJSON> ApiExtractor<'a> for ApiJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(ApiJson {
            bytes: read_bytes(body).await?,
            content_type: request.content_type().map(str::to_string),
            _type: PhantomData,
        })
    }
}

/// The body of an `/api` request, which the edge has already read within its
/// size and time limits.
pub(super) async fn read_bytes(body: &mut RequestBody) -> poem::Result<bytes::Bytes> {
    body.take()?.into_bytes().await.map_err(|e| {
        poem::Error::from_string(
            format!("could not read the request body: {e}"),
            poem::http::StatusCode::BAD_REQUEST,
        )
    })
}

impl<T: Type + ParseFromJSON> ApiJson<T> {
    /// The body exactly as sent, for a signature computed over its bytes.
    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }

    pub fn parse(&self) -> Result<T, AppError> {
        let essence = self
            .content_type
            .as_deref()
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/json") => {}
            Some(e) if e.ends_with("+json") => {}
            Some(other) => {
                return Err(AppError::UnsupportedMediaType(format!(
                    "content type {other} is not accepted; send Content-Type: application/json"
                )))
            }
            None => {
                return Err(AppError::UnsupportedMediaType(
                    "the request has no Content-Type; send Content-Type: application/json".into(),
                ))
            }
        }
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::Invalid {
                message: "the request body is empty; send a JSON object".into(),
                field: None,
            });
        }
        let value: Value = serde_json::from_slice(&self.bytes).map_err(|e| AppError::Invalid {
            message: format!("the body is not valid JSON: {e}"),
            field: None,
        })?;
        let mut registry = Registry::new();
        T::register(&mut registry);
        check_types(&registry, &T::schema_ref(), &value, "")?;
        T::parse_from_json(Some(value)).map_err(|e| {
            let message = e.into_message();
            AppError::Invalid {
                field: field_named_in(&message),
                message: readable(&message),
            }
        })
    }
}

/// Refuses the first value whose JSON type differs from its schema's, naming it.
fn check_types(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    path: &str,
) -> Result<(), AppError> {
    let schema: &MetaSchema = match schema {
        MetaSchemaRef::Inline(s) => s,
        MetaSchemaRef::Reference(name) => match registry.schemas.get(name) {
            Some(s) => s,
            None => return Ok(()),
        },
    };
    let what = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let wrong = |expected: &str| {
        let field = if path.is_empty() { "body" } else { path };
        Err(AppError::invalid(
            field,
            format!("`{field}` must be {expected}, not {}", what(value)),
        ))
    };
    match (schema.ty, value) {
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => Ok(()),
        ("string", _) => wrong("a string"),
        ("boolean", _) => wrong("true or false"),
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        ("integer", _) => wrong("a whole number"),
        ("number", Value::Number(_)) => Ok(()),
        ("number", _) => wrong("a number"),
        ("array", Value::Array(items)) => match &schema.items {
            Some(item) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check_types(registry, item, v, &format!("{path}[{i}]"))),
            None => Ok(()),
        },
        ("array", _) => wrong("an array"),
        ("object", Value::Object(map)) => {
            for (name, prop) in &schema.properties {
                let Some(v) = map.get(*name) else { continue };
                let child = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                // Leaving out an optional field and sending null mean the same.
                if v.is_null() && !schema.required.contains(name) {
                    continue;
                }
                check_types(registry, prop, v, &child)?;
            }
            Ok(())
        }
        ("object", _) if !schema.properties.is_empty() => wrong("an object"),
        _ => Ok(()),
    }
}

/// poem-openapi names the field of a failed constraint as ``field `name` …``.
fn field_named_in(message: &str) -> Option<String> {
    let rest = message.split("field `").nth(1)?;
    rest.split('`').next().map(str::to_string)
}

/// Its messages end in the schema's terms (`maxLength(120)`); say them plainly.
fn readable(message: &str) -> String {
    let message = message
        .replace("verification failed. ", "")
        .replace("failed to parse \"", "invalid \"");
    let plain = [
        ("maxLength(", "must be at most this many characters: "),
        ("minLength(", "must be at least this many characters: "),
        ("maximum(", "must be at most "),
        ("minimum(", "must be at least "),
        ("maxItems(", "must have at most this many items: "),
    ];
    let mut out = message;
    for (term, words) in plain {
        if let Some(at) = out.find(term) {
            let tail = &out[at + term.len()..];
            let number: String = tail.chars().take_while(|c| *c != ')').collect();
            let rest = tail.get(number.len() + 1..).unwrap_or("");
            out = format!("{}{words}{number}{rest}", &out[..at]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;

    #[derive(Debug, Object)]
    struct Body {
        #[oai(validator(min_length = 1, max_length = 5))]
        name: String,
        days: Option<u32>,
        tags: Option<Vec<String>>,
    }

    fn parse(json: &str) -> Result<Body, AppError> {
        ApiJson::<Body> {
            bytes: bytes::Bytes::from(json.to_string()),
            content_type: Some("application/json".into()),
            _type: PhantomData,
        }
        .parse()
    }

    fn field(r: Result<Body, AppError>) -> Option<String> {
        match r {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn wrong_types_are_refused_by_name() {
        assert_eq!(field(parse(r#"{"name": false}"#)), Some("name".into()));
        assert_eq!(field(parse(r#"{"name": -1.37e21}"#)), Some("name".into()));
        assert_eq!(
            field(parse(r#"{"name": "a", "days": "3"}"#)),
            Some("days".into())
        );
        assert_eq!(
            field(parse(r#"{"name": "a", "tags": ["x", 1]}"#)),
            Some("tags[1]".into())
        );
        assert_eq!(field(parse(r#"{"name": "abcdef"}"#)), Some("name".into()));
        assert_eq!(field(parse(r#"[1]"#)), Some("body".into()));
        let ok = parse(r#"{"name": "abc", "days": null}"#).unwrap();
        assert_eq!((ok.name.as_str(), ok.days), ("abc", None));
    }
}
