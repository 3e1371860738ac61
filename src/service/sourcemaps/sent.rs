//! Source lines an SDK sent with its frames (the Sentry SDKs read them from disk on
//! the server side), shown where no source map supplies the original code.

use super::MappedFrame;
use crate::domain::grouping::Frame;
use serde_json::Value;

/// The lines around a frame: its own, and up to a few each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLines {
    pub pre_context: Vec<String>,
    pub context_line: String,
    pub post_context: Vec<String>,
}

/// Gives each of `frames` (parsed from the stored stack, most recent call first, as
/// the stored structured frames are) the lines sent with it. A structured frame is
/// paired with a parsed one only when its line and function agree, so a stack that
/// does not line up shows no lines rather than wrong ones.
pub fn attach(context: Option<&str>, frames: &mut [MappedFrame]) {
    let sent = context
        .filter(|c| c.contains("\"context_line\""))
        .and_then(|c| serde_json::from_str::<Value>(c).ok());
    let sent = sent
        .as_ref()
        .and_then(|c| c.get("frames"))
        .and_then(Value::as_array);
    let Some(sent) = sent else {
        return;
    };
    for (frame, sent) in frames.iter_mut().zip(sent) {
        frame.sent = lines_of(sent, &frame.raw);
    }
}

fn lines_of(sent: &Value, frame: &Frame) -> Option<SourceLines> {
    let line = sent.get("lineno").and_then(Value::as_u64);
    if line != frame.line.map(u64::from) {
        return None;
    }
    let function = sent
        .get("function")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty() && *f != "?");
    if function.is_some() && function != frame.function.as_deref() {
        return None;
    }
    let strings = |key: &str| -> Vec<String> {
        sent.get(key)
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(SourceLines {
        context_line: sent.get("context_line")?.as_str()?.to_string(),
        pre_context: strings("pre_context"),
        post_context: strings("post_context"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::grouping::parse_stack;
    use serde_json::json;

    #[test]
    fn lines_are_paired_with_the_frames_they_belong_to() {
        let stack = "KeyError: 'lines'\n    at total_of (/srv/app.py:25)\n    at <module> (/srv/app.py:30)\n";
        let parsed = || -> Vec<MappedFrame> {
            parse_stack(stack)
                .into_iter()
                .map(|raw| MappedFrame {
                    raw,
                    original: None,
                    reason: None,
                    sent: None,
                })
                .collect()
        };
        let context = json!({"frames": [
            {"function": "total_of", "lineno": 25, "pre_context": ["def total_of(i):"],
             "context_line": "    return i['lines']", "post_context": []},
            {"function": "<module>", "lineno": 31, "context_line": "total_of({})"}
        ]})
        .to_string();
        let mut frames = parsed();
        attach(Some(&context), &mut frames);
        let lines: Vec<Option<SourceLines>> = frames.into_iter().map(|f| f.sent).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            Some(SourceLines {
                pre_context: vec!["def total_of(i):".into()],
                context_line: "    return i['lines']".into(),
                post_context: vec![],
            })
        );
        assert_eq!(lines[1], None, "line 31 is not the parsed frame's line 30");
        let mut frames = parsed();
        attach(None, &mut frames);
        assert!(frames.iter().all(|f| f.sent.is_none()));
    }
}
