//! Grouping through its public API, on real stack traces kept in
//! `tests/fixtures/grouping/`: the golden fingerprints that existing groups
//! depend on, and the rules that keep one bug in one group across releases,
//! browsers and runtimes.

use telemetry_tracker::domain::grouping::{group, parse_stack, Grouping};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/grouping/", $name, ".txt"))
    };
}

// `_r1` / `_r2`: the same bug in two releases. The second release has new
// bundle hashes and shifted columns, and for Chrome is served from a CDN.
const CHROME_R1: &str = fixture!("chrome_r1");
const CHROME_R2: &str = fixture!("chrome_r2");
const CHROME_CRA_R1: &str = fixture!("chrome_cra_r1");
const CHROME_CRA_R2: &str = fixture!("chrome_cra_r2");
const NEXT_R1: &str = fixture!("next_r1");
const NEXT_R2: &str = fixture!("next_r2");
const FIREFOX_R1: &str = fixture!("firefox_r1");
const FIREFOX_R2: &str = fixture!("firefox_r2");
const SAFARI_R1: &str = fixture!("safari_r1");
const SAFARI_R2: &str = fixture!("safari_r2");
const HERMES_R1: &str = fixture!("hermes_r1");
const HERMES_R2: &str = fixture!("hermes_r2");
const HERMES_BYTECODE: &str = fixture!("hermes_bytecode");
const NODE_STACK: &str = fixture!("node_stack");
const NODE_STACK_LIBRARY_TOP: &str = fixture!("node_stack_library_top");
const NODE_INTERNAL_ONLY: &str = fixture!("node_internal_only");

fn fp(app: &str, message: &str, stack: Option<&str>) -> String {
    group(app, message, stack).fingerprint
}

// --- Golden fingerprints -----------------------------------------------------
//
// A fingerprint is the stored key of an error group. If `group` returns a
// different one for a report it used to group, every new occurrence of an
// existing bug opens a fresh group while the old one keeps its history,
// status and assignee, and the fix looks like a regression. These values were
// recorded from the grouping code before it was split into modules, so a
// failure here means a change splits (or merges) existing groups.
//
// Never edit a value to make this test pass. Change grouping only on purpose:
// with a CHANGELOG entry that says which groups split and how to migrate, and
// docs/GROUPING.md updated; only then record the new values. The fixture files
// used here are part of the input: add new ones rather than editing them.

struct Golden {
    app: &'static str,
    message: &'static str,
    stack: Option<&'static str>,
    fingerprint: &'static str,
    error_type: Option<&'static str>,
    normalized_message: &'static str,
    top_frame: Option<&'static str>,
}

const GOLDEN: &[Golden] = &[
    // Chrome, Vite build: bundle hashes in file names, quoted value in the message.
    Golden {
        app: "web",
        message: "Cannot read properties of undefined (reading 'price')",
        stack: Some(CHROME_R1),
        fingerprint: "3355cd187c349056c2f9b5a738b2139997ca1d57e56ee9c1091374e3726b8fd3",
        error_type: Some("TypeError"),
        normalized_message: "Cannot read properties of undefined (reading <str>)",
        top_frame: Some("computeTotal (/assets/index.js)"),
    },
    // Chrome, create-react-app chunks with query strings; hex id and number in the message.
    Golden {
        app: "web",
        message: "Cart 5f2b9c1e8a7d: item 1043 not found",
        stack: Some(CHROME_CRA_R1),
        fingerprint: "84fbb98e4403afe2d5eaca793e416691727f1bece047d20c5beb161da3391a81",
        error_type: Some("Error"),
        normalized_message: "Cart <hex>: item <num> not found",
        top_frame: Some("e.addItem (/static/js/main.chunk.js)"),
    },
    // Next.js; empty message, so the UUID-bearing one comes from the stack header.
    Golden {
        app: "site",
        message: "",
        stack: Some(NEXT_R1),
        fingerprint: "6237e98a2d90a6f3f0a35b21e8d8cafdac1e8049f8972b2952bc7ec84ff11215",
        error_type: Some("Error"),
        normalized_message: "Hydration failed for session <uuid>",
        top_frame: Some("throwOnHydrationMismatch (/_next/static/chunks/framework.js)"),
    },
    // Minified Vite/esbuild bundle: base64url hashes, anonymous and native frames.
    Golden {
        app: "web",
        message: "Cannot read properties of null (reading 'addEventListener')",
        stack: Some(fixture!("vite_minified")),
        fingerprint: "b5ce316f28faa33cfd109c93c3859e22b6350020341aa2df9effac8629774368",
        error_type: Some("TypeError"),
        normalized_message: "Cannot read properties of null (reading <str>)",
        top_frame: Some("Xe (/assets/index.js)"),
    },
    // webpack dev server: node_modules frames above the app's; URL in the message.
    Golden {
        app: "web",
        message: "Minified React error #185; visit https://reactjs.org/docs/error-decoder.html?invariant=185 for the full message",
        stack: Some(fixture!("webpack_dev")),
        fingerprint: "63f19bde9d61c498356cd16c692b7a50673b5b6a7f895ea102db7de6822292f7",
        error_type: Some("Error"),
        normalized_message: "Minified React error #<num>; visit <url> for the full message",
        top_frame: Some("Counter (src/components/Counter.tsx)"),
    },
    // Firefox: no header line, no error type.
    Golden {
        app: "web",
        message: "can't access property \"price\", item is undefined",
        stack: Some(FIREFOX_R1),
        fingerprint: "9d9a57d55cf826e9b919df554de3b9fb02aade07b898a26f089a5c5072380649",
        error_type: None,
        normalized_message: "can't access property <str>, item is undefined",
        top_frame: Some("computeTotal (/assets/index.js)"),
    },
    // Firefox: eval frame, version directory, extension frame; type from the message.
    Golden {
        app: "web",
        message: "TypeError: NetworkError when attempting to fetch resource.",
        stack: Some(fixture!("firefox_eval")),
        fingerprint: "e56cc1ac444c54996ebfb4c831ca82e034dd403f201e0ed28775b19e2d03ca72",
        error_type: Some("TypeError"),
        normalized_message: "NetworkError when attempting to fetch resource.",
        top_frame: Some("handler (/releases/<ver>/app.js)"),
    },
    // Safari: `[native code]` and `global code` frames.
    Golden {
        app: "web",
        message: "undefined is not an object (evaluating 'item.price')",
        stack: Some(SAFARI_R1),
        fingerprint: "b2ba63891baecd5aabc575ebc2f85e6c8b581ac08b09e6ea542d554ec9ecf05b",
        error_type: None,
        normalized_message: "undefined is not an object (evaluating <str>)",
        top_frame: Some("computeTotal (/assets/index.js)"),
    },
    // Node: async frames, node_modules and `node:internal` frames.
    Golden {
        app: "api",
        message: "Cannot read properties of null (reading 'id')",
        stack: Some(NODE_STACK),
        fingerprint: "7c97a46df65edb94ae4c12b1caaeacde68a62b4ebdbea6d3efdd84353dcf40dc",
        error_type: Some("TypeError"),
        normalized_message: "Cannot read properties of null (reading <str>)",
        top_frame: Some("serializeUser (/srv/api/src/auth/session.js)"),
    },
    // Node: library frames above the app's; IP address and port in the message.
    Golden {
        app: "api",
        message: "connect ECONNREFUSED 127.0.0.1:5432",
        stack: Some(NODE_STACK_LIBRARY_TOP),
        fingerprint: "a5915ab09c7520d8bc99bb4631138368940b43fec9a6f3d213fd3ee2252d027e",
        error_type: Some("Error"),
        normalized_message: "connect ECONNREFUSED <num>:<num>",
        top_frame: Some("Object.<anonymous> (/srv/api/src/db/pool.js)"),
    },
    // Node: only `node:internal` frames, so the top frames count.
    Golden {
        app: "api",
        message: "read ECONNRESET",
        stack: Some(NODE_INTERNAL_ONLY),
        fingerprint: "fede2fa4ded6c36c38ebc43b8f59d4ec0abaa37927ba331736f7d0db1003bf68",
        error_type: Some("Error"),
        normalized_message: "read ECONNRESET",
        top_frame: Some("TCP.onStreamRead (node:internal/stream_base_commons)"),
    },
    // Node on Windows: backslash paths, a `file:///C:/` ESM frame, a quoted path in the message.
    Golden {
        app: "worker",
        message: r"ENOENT: no such file or directory, open 'C:\Users\ci\AppData\Local\Temp\report-1714.csv'",
        stack: Some(fixture!("node_windows")),
        fingerprint: "29a34027ec08a5361cc6589a9f41e1569c2c21e73197beb1b82567293ef7b7ba",
        error_type: Some("Error"),
        normalized_message: "ENOENT: no such file or directory, open <str>",
        top_frame: Some("loadReport (C:/srv/reports/src/load.js)"),
    },
    // React Native (Hermes): `address at` frames, InternalBytecode.js and native frames.
    Golden {
        app: "mobile",
        message: "Profile 1234 not found",
        stack: Some(HERMES_R1),
        fingerprint: "42e446704e662acb78b5303844e08e0ebe0de7d90bf00668004d1e26f7629444",
        error_type: Some("TypeError"),
        normalized_message: "Profile <num> not found",
        top_frame: Some("anonymous (index.android.bundle)"),
    },
    // React Native (Hermes bytecode): frames without a file.
    Golden {
        app: "mobile",
        message: "Network request failed",
        stack: Some(HERMES_BYTECODE),
        fingerprint: "dc542b3822bdc95159afef02e1d9b91a9b47c9320f47514e716bf9577bd305db",
        error_type: None,
        normalized_message: "Network request failed",
        top_frame: Some("fetchProfile"),
    },
    // React Native: `Invariant Violation`, an error type with a space.
    Golden {
        app: "mobile",
        message: "Invariant Violation: View config not found for name RCTView. Make sure to start component names with a capital letter.",
        stack: Some(fixture!("hermes_invariant")),
        fingerprint: "f2ff3f170f9cf568cc0b0927f884da9a49da861d7880d02129e822efc2b27776",
        error_type: Some("Invariant Violation"),
        normalized_message: "View config not found for name RCTView. Make sure to start component names with a capital letter.",
        top_frame: Some("invariant (index.android.bundle)"),
    },
    // The SDK's own fixture: a single anonymous frame.
    Golden {
        app: "shop",
        message: "Request 5321 failed with status 503",
        stack: Some("Error: Request 5321 failed with status 503\n    at https://shop.example.com/assets/app-3f9a1c.js:22:19"),
        fingerprint: "a984a62e62b3434213783eb19ee8f4532acc261ea17baaa71d8e41d99049bfb8",
        error_type: Some("Error"),
        normalized_message: "Request <num> failed with status <num>",
        top_frame: Some("/assets/app.js"),
    },
    // A bare `Error` header (empty message) still gives the type.
    Golden {
        app: "a",
        message: "",
        stack: Some("Error\n    at main (/srv/app/index.js:1:1)"),
        fingerprint: "befbafb11a2bc86a163d7d422290ccfb7d827864d3b89152150e5a98aec173f6",
        error_type: Some("Error"),
        normalized_message: "",
        top_frame: Some("main (/srv/app/index.js)"),
    },
    // Cross-origin script error: no stack, nothing but the message and the app.
    Golden {
        app: "web",
        message: "Script error.",
        stack: None,
        fingerprint: "c03b6137a3d47b09d940499badb9324b99ef743112e007e44b36a7dece628e11",
        error_type: None,
        normalized_message: "Script error.",
        top_frame: None,
    },
    // No stack; console wording and the type come from the message.
    Golden {
        app: "web",
        message: "Uncaught (in promise) AbortError: The user aborted a request.",
        stack: None,
        fingerprint: "663cb08dbe5716f6f726e96c987cb42f1918236b03ff42dcb56ff7127480006f",
        error_type: Some("AbortError"),
        normalized_message: "The user aborted a request.",
        top_frame: None,
    },
    // No stack; UUID, e-mail address, URL, status code and duration stripped.
    Golden {
        app: "api",
        message: "Invite 8f14e45f-ceea-467f-a0e6-3c5b2d8e1f22 sent to jane.doe+test@example.co.uk failed: POST https://mail.example.com/v3/send returned 429 after 1500ms",
        stack: None,
        fingerprint: "b286e267d078b25883da782445bfe6bb8fce98e3954476349aa8621ce80d451e",
        error_type: None,
        normalized_message: "Invite <uuid> sent to <email> failed: POST <url> returned <num> after <num>ms",
        top_frame: None,
    },
    // Nothing at all.
    Golden {
        app: "",
        message: "",
        stack: None,
        fingerprint: "39b7da6b3b251a1175c58e9be95881d5f4011f1721f47844c4b9fb871fbfcbc8",
        error_type: None,
        normalized_message: "",
        top_frame: None,
    },
];

#[test]
fn golden_fingerprints_never_change() {
    for case in GOLDEN {
        let expected = Grouping {
            fingerprint: case.fingerprint.to_owned(),
            error_type: case.error_type.map(str::to_owned),
            normalized_message: case.normalized_message.to_owned(),
            top_frame: case.top_frame.map(str::to_owned),
        };
        assert_eq!(
            group(case.app, case.message, case.stack),
            expected,
            "app {:?}, message {:?}",
            case.app,
            case.message
        );
    }
}

// --- Same bug across releases ----------------------------------------------

#[test]
fn sdk_fixture_groups_across_hosts_and_bundle_hashes() {
    let a = group(
        "shop",
        "Request 5321 failed with status 503",
        Some("Error: Request 5321 failed with status 503\n    at https://shop.example.com/assets/app-3f9a1c.js:22:19"),
    );
    let b = group(
        "shop",
        "Request 777 failed with status 503",
        Some("Error: Request 777 failed with status 503\n    at https://cdn.example.com/assets/app-77aa01.js:31:7"),
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.error_type.as_deref(), Some("Error"));
    assert_eq!(b.error_type.as_deref(), Some("Error"));
    assert_eq!(
        a.normalized_message,
        "Request <num> failed with status <num>"
    );
    assert_eq!(a.top_frame.as_deref(), Some("/assets/app.js"));
}

#[test]
fn v8_same_bug_two_releases() {
    let msg = "Cannot read properties of undefined (reading 'price')";
    let a = group("web", msg, Some(CHROME_R1));
    let b = group("web", msg, Some(CHROME_R2));
    assert_eq!(a, b);
    assert_eq!(
        a.top_frame.as_deref(),
        Some("computeTotal (/assets/index.js)")
    );
}

/// Groups the report of one bug from two releases, asserts that both land in
/// one group, and returns the first for the test's own checks.
fn same_group(app: &str, first: (&str, &str), second: (&str, &str)) -> Grouping {
    let a = group(app, first.0, Some(first.1));
    let b = group(app, second.0, Some(second.1));
    assert_eq!(a.fingerprint, b.fingerprint, "{first:?} vs {second:?}");
    a
}

#[test]
fn v8_cra_chunks_with_query_strings_and_ids_in_message() {
    let a = same_group(
        "web",
        ("Cart 5f2b9c1e8a7d: item 1043 not found", CHROME_CRA_R1),
        ("Cart a81e3d92bc04: item 77 not found", CHROME_CRA_R2),
    );
    assert_eq!(a.normalized_message, "Cart <hex>: item <num> not found");
    assert_eq!(
        a.top_frame.as_deref(),
        Some("e.addItem (/static/js/main.chunk.js)")
    );
}

#[test]
fn v8_nextjs_chunks_and_uuid_in_message() {
    let a = same_group("site", ("", NEXT_R1), ("", NEXT_R2));
    // Empty message falls back to the stack header.
    assert_eq!(a.normalized_message, "Hydration failed for session <uuid>");
    assert_eq!(
        a.top_frame.as_deref(),
        Some("throwOnHydrationMismatch (/_next/static/chunks/framework.js)")
    );
}

#[test]
fn firefox_same_bug_two_releases() {
    let message = "can't access property \"price\", item is undefined";
    let a = same_group("web", (message, FIREFOX_R1), (message, FIREFOX_R2));
    assert_eq!(
        a.normalized_message,
        "can't access property <str>, item is undefined"
    );
}

#[test]
fn safari_same_bug_two_releases() {
    let a = same_group(
        "web",
        (
            "undefined is not an object (evaluating 'item.price')",
            SAFARI_R1,
        ),
        (
            "undefined is not an object (evaluating 'line.price')",
            SAFARI_R2,
        ),
    );
    assert_eq!(
        a.top_frame.as_deref(),
        Some("computeTotal (/assets/index.js)")
    );
}

#[test]
fn hermes_same_bug_two_releases() {
    let a = same_group(
        "mobile",
        ("Profile 1234 not found", HERMES_R1),
        ("Profile 98 not found", HERMES_R2),
    );
    assert_eq!(a.error_type.as_deref(), Some("TypeError"));
    assert_eq!(
        a.top_frame.as_deref(),
        Some("anonymous (index.android.bundle)")
    );
}

#[test]
fn hermes_bytecode_positions_group_across_releases() {
    let shifted = "fetchProfile@1:809876\nanonymous@1:741003\ntryCallOne@1:1180";
    let message = "Network request failed";
    let a = same_group("mobile", (message, HERMES_BYTECODE), (message, shifted));
    assert_eq!(a.top_frame.as_deref(), Some("fetchProfile"));
}

// --- Different bugs ---------------------------------------------------------

#[test]
fn different_top_function_is_a_different_group() {
    let msg = "Cannot read properties of undefined (reading 'price')";
    let other = CHROME_R1.replace("at computeTotal", "at computeTax");
    assert_ne!(
        fp("web", msg, Some(CHROME_R1)),
        fp("web", msg, Some(&other))
    );
}

#[test]
fn different_file_is_a_different_group() {
    let msg = "Cannot read properties of undefined (reading 'price')";
    let other = CHROME_R1.replacen("assets/index-3f9a1c7b.js", "assets/checkout-3f9a1c7b.js", 1);
    assert_ne!(
        fp("web", msg, Some(CHROME_R1)),
        fp("web", msg, Some(&other))
    );
}

#[test]
fn different_message_shape_is_a_different_group() {
    let a = fp("web", "Request 1 failed with status 503", Some(CHROME_R1));
    let b = fp("web", "Request 1 timed out after 30 s", Some(CHROME_R1));
    assert_ne!(a, b);
    assert_ne!(
        fp("web", "Request 1 failed", None),
        fp("web", "Response 1 failed", None)
    );
}

#[test]
fn same_message_at_different_call_sites_is_different() {
    let msg = "Request 5321 failed with status 503";
    let site_a = "Error: x\n    at loadCart (https://shop.example.com/assets/app-3f9a1c.js:22:19)\n    at main (https://shop.example.com/assets/app-3f9a1c.js:90:1)";
    let site_b = "Error: x\n    at loadWishlist (https://shop.example.com/assets/app-3f9a1c.js:48:3)\n    at main (https://shop.example.com/assets/app-3f9a1c.js:95:1)";
    assert_ne!(fp("shop", msg, Some(site_a)), fp("shop", msg, Some(site_b)));
}

#[test]
fn different_error_type_is_a_different_group() {
    assert_ne!(
        fp("web", "TypeError: x is not a function", None),
        fp("web", "RangeError: x is not a function", None)
    );
}

#[test]
fn stack_vs_no_stack_are_different_groups() {
    let msg = "Cannot read properties of undefined (reading 'price')";
    assert_ne!(fp("web", msg, Some(CHROME_R1)), fp("web", msg, None));
}

// --- App scoping ------------------------------------------------------------

#[test]
fn same_error_in_two_apps_is_two_groups() {
    let msg = "Cannot read properties of undefined (reading 'price')";
    assert_ne!(
        fp("web", msg, Some(CHROME_R1)),
        fp("admin", msg, Some(CHROME_R1))
    );
    assert_ne!(
        fp("web", "Script error.", None),
        fp("admin", "Script error.", None)
    );
}

#[test]
fn app_label_is_trimmed() {
    assert_eq!(fp("  web\n", "Boom", None), fp("web", "Boom", None));
}

#[test]
fn script_error_groups_by_app() {
    let a = group("web", "Script error.", None);
    let b = group("web", "Script error.", Some(""));
    assert_eq!(a, b);
    assert_eq!(a.normalized_message, "Script error.");
    assert_eq!(a.error_type, None);
    assert_eq!(a.top_frame, None);
}

// --- Error type -------------------------------------------------------------

#[test]
fn error_type_from_v8_header() {
    let g = group(
        "web",
        "Cannot read properties of undefined (reading 'price')",
        Some(CHROME_R1),
    );
    assert_eq!(g.error_type.as_deref(), Some("TypeError"));
    assert_eq!(
        g.normalized_message,
        "Cannot read properties of undefined (reading <str>)"
    );
}

#[test]
fn error_type_from_message_prefix() {
    let g = group("web", "RangeError: Maximum call stack size exceeded", None);
    assert_eq!(g.error_type.as_deref(), Some("RangeError"));
    assert_eq!(g.normalized_message, "Maximum call stack size exceeded");

    let g = group(
        "web",
        "Uncaught DOMException: The operation is insecure.",
        None,
    );
    assert_eq!(g.error_type.as_deref(), Some("DOMException"));

    let g = group(
        "web",
        "AbortError: The user aborted a request.",
        Some(FIREFOX_R1),
    );
    assert_eq!(g.error_type.as_deref(), Some("AbortError"));

    let g = group(
        "rn",
        "Invariant Violation: View config not found for RCTView",
        None,
    );
    assert_eq!(g.error_type.as_deref(), Some("Invariant Violation"));
}

#[test]
fn message_prefix_wins_over_header_and_matches_unprefixed_form() {
    let with_prefix = group(
        "web",
        "TypeError: Cannot read properties of undefined (reading 'price')",
        Some(CHROME_R1),
    );
    let without = group(
        "web",
        "Cannot read properties of undefined (reading 'price')",
        Some(CHROME_R1),
    );
    assert_eq!(with_prefix, without);
}

#[test]
fn error_type_none_for_firefox_without_prefix() {
    let g = group("web", "item is undefined", Some(FIREFOX_R1));
    assert_eq!(g.error_type, None);
    let g = group("web", "item is undefined", Some(SAFARI_R1));
    assert_eq!(g.error_type, None);
}

#[test]
fn error_type_rejects_non_error_prefixes() {
    for message in [
        "Note: something odd",
        "Failed: 3 retries",
        "loadError@https://x.example/app.js:1:2",
        "TypeError:no-space",
        "9Error: digits first",
    ] {
        assert_eq!(group("a", message, None).error_type, None, "{message}");
    }
    // Bare header line (empty message) still yields the type.
    let g = group("a", "", Some("Error\n    at main (/srv/app/index.js:1:1)"));
    assert_eq!(g.error_type.as_deref(), Some("Error"));
    assert_eq!(g.normalized_message, "");
}

// --- In-app frames ----------------------------------------------------------

#[test]
fn node_in_app_detection_and_top_frame() {
    let frames = parse_stack(NODE_STACK);
    let flags: Vec<bool> = frames.iter().map(|f| f.in_app).collect();
    assert_eq!(flags, [true, true, false, false, false, false]);
    assert_eq!(frames[1].function.as_deref(), Some("loginHandler"));
    assert_eq!(frames[2].function, None);
    assert_eq!(frames[3].function.as_deref(), Some("Layer.handle"));
    assert_eq!(frames[5].file, "node:internal/process/task_queues");

    let g = group(
        "api",
        "Cannot read properties of null (reading 'id')",
        Some(NODE_STACK),
    );
    assert_eq!(
        g.top_frame.as_deref(),
        Some("serializeUser (/srv/api/src/auth/session.js)")
    );
    assert_eq!(g.error_type.as_deref(), Some("TypeError"));
}

#[test]
fn library_frames_above_app_code_are_skipped() {
    let g = group(
        "api",
        "connect ECONNREFUSED 127.0.0.1:5432",
        Some(NODE_STACK_LIBRARY_TOP),
    );
    assert_eq!(
        g.top_frame.as_deref(),
        Some("Object.<anonymous> (/srv/api/src/db/pool.js)")
    );
    assert_eq!(g.normalized_message, "connect ECONNREFUSED <num>:<num>");
    // Changes in dependency frames do not split the group.
    let bumped = NODE_STACK_LIBRARY_TOP
        .replace("client.js:132:24", "client.js:140:2")
        .replace("node:net:1595:16", "node:net:1600:3")
        .replace("at new Pool", "at new BoundPool");
    assert_eq!(
        g.fingerprint,
        fp("api", "connect ECONNREFUSED 10.0.0.7:5432", Some(&bumped))
    );
}

#[test]
fn falls_back_to_top_frames_when_nothing_is_in_app() {
    let g = group("api", "read ECONNRESET", Some(NODE_INTERNAL_ONLY));
    assert_eq!(
        g.top_frame.as_deref(),
        Some("TCP.onStreamRead (node:internal/stream_base_commons)")
    );
    let other = NODE_INTERNAL_ONLY.replace("TCP.onStreamRead", "Socket.onRead");
    assert_ne!(g.fingerprint, fp("api", "read ECONNRESET", Some(&other)));
}

#[test]
fn parses_hermes_frames() {
    let frames = parse_stack(HERMES_R1);
    assert_eq!(frames.len(), 6);
    assert_eq!(frames[0].function.as_deref(), Some("anonymous"));
    assert_eq!(frames[0].file, "index.android.bundle");
    assert_eq!((frames[0].line, frames[0].column), (Some(1), Some(734_512)));
    assert!(frames[0].in_app);
    assert!(!frames[2].in_app, "InternalBytecode.js is runtime code");
    assert_eq!(frames[4].file, "native");
    assert!(!frames[4].in_app);

    let frames = parse_stack(HERMES_BYTECODE);
    assert_eq!(frames[0].function.as_deref(), Some("fetchProfile"));
    assert_eq!(frames[0].file, "");
    assert_eq!((frames[0].line, frames[0].column), (Some(1), Some(802_113)));
}
