//! The OpenAPI document as served and committed, and the API docs page showing it.
//!
//! poem-openapi writes an optional field as its plain type, while the server sends
//! `null` for an absent value (and accepts `null` where a field is optional): the
//! document marks every optional property `nullable`, so it says what the server does.

use serde_json::{json, Map, Value};

/// The spec as served at `/api/openapi.json` and committed in `openapi/openapi.json`:
/// deterministic and free of hostnames.
pub fn spec_json() -> String {
    patched(&super::service().spec())
}

/// The Swagger UI page, showing the same document as `spec_json`.
pub fn docs_html() -> String {
    let service = super::service();
    let raw = service.spec();
    service.swagger_ui_html().replace(&raw, &patched(&raw))
}

fn patched(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_string();
    };
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            mark_optional_nullable(schema);
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.to_string())
}

fn mark_optional_nullable(schema: &mut Value) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let Some(reference) = prop.get("$ref").cloned() {
            // A `$ref` takes no siblings in OpenAPI 3.0: wrap it.
            let mut wrapped = Map::new();
            wrapped.insert("allOf".into(), json!([{ "$ref": reference }]));
            wrapped.insert("nullable".into(), Value::Bool(true));
            *prop = Value::Object(wrapped);
        } else if let Some(obj) = prop.as_object_mut() {
            obj.insert("nullable".into(), Value::Bool(true));
        }
    }
}
