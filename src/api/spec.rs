//! The OpenAPI document as served and committed, and the API docs page showing it.
//!
//! Three things poem-openapi cannot say by itself are added, so the document says
//! what the server does: every optional property is `nullable` (the server sends
//! `null` for an absent value and accepts `null` where a field is optional); every
//! time the server writes (`*_at`, `timestamp`, `from`, `to` of response schemas) is
//! a `date-time`; and the parameters naming the project and the time range of a read
//! are described.

use serde_json::{json, Map, Value};

/// The spec as served at `/api/openapi.json` and committed in `openapi/openapi.json`:
/// deterministic and free of hostnames.
pub fn spec_json() -> String {
    patched(&super::service().spec())
}

/// The spec as `spec_json` gives it, and the Swagger UI page showing it, built from
/// one generated document.
pub fn spec_and_docs() -> (String, String) {
    let service = super::service();
    let raw = service.spec();
    let spec = patched(&raw);
    let docs = service.swagger_ui_html().replace(&raw, &spec);
    (spec, docs)
}

fn patched(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_string();
    };
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            mark_optional_nullable(schema);
            // Request schemas (`EventIn`, …) take several time formats; only what the
            // server writes is always RFC 3339.
            if !name.ends_with("In") {
                mark_timestamps(schema);
            }
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for params in operation
                .values_mut()
                .filter_map(|op| op.get_mut("parameters"))
                .filter_map(Value::as_array_mut)
            {
                params.iter_mut().for_each(describe_parameter);
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| raw.to_string())
}

fn mark_timestamps(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        let is_time = name.ends_with("_at") || matches!(name.as_str(), "timestamp" | "from" | "to");
        if is_time && prop.get("type").and_then(Value::as_str) == Some("string") {
            prop["format"] = Value::String("date-time".into());
        }
    }
}

const PROJECT_CHOICE: &str = "The project to read or change: its id in the `X-Project-Id` \
     header or in the `project_id` query parameter (one of them is required; the header \
     wins when both are sent). The caller must be a member of its organization.";

const TIME_BOUND: &str = "A bound of the time range: RFC 3339, `YYYY-MM-DD` or Unix \
     milliseconds, from 1970-01-01 to 9999-12-30; widened to whole UTC hours (ranges up to \
     7 days) or days. Wins over `range`.";

const RANGE: &str = "A range ending now: `1h`, `24h`, `7d`, `14d`, `30d`, `90d`, `1y` or \
     `<n>h`, `<n>d`, `<n>w`.";

fn describe_parameter(param: &mut Value) {
    if param.get("description").is_some() {
        return;
    }
    let text = match param.get("name").and_then(Value::as_str) {
        Some("X-Project-Id" | "project_id") => PROJECT_CHOICE,
        Some("from" | "to") => TIME_BOUND,
        Some("range") => RANGE,
        _ => return,
    };
    param["description"] = Value::String(text.into());
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
