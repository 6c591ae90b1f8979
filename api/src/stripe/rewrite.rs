//! A body written back the way Stripe writes its payloads: two-space indentation, a
//! space after each `:`, `\n` line ends, `{}` and `[]` when empty — the keys in their
//! order and every string and number exactly as they came. A proxy or framework that
//! parsed and re-serialised the body (compacted it, say) broke Stripe's signature; if
//! the body written back this way verifies, that is what happened (`body_altered`).
//!
//! It works on the JSON text, token by token, so that nothing is re-ordered,
//! re-escaped or re-formatted but the whitespace between tokens.

/// The body as Stripe would have written it, or `None` when it is not well-formed JSON
/// text (one value, balanced, nothing after it).
pub fn stripe_layout(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() * 2);
    let mut depth: usize = 0;
    // Each open container: whether it has had an element yet.
    let mut open: Vec<(u8, bool)> = Vec::new();
    let mut done = false;
    let mut i = 0;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 2));
    };
    while i < body.len() {
        let b = body[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            _ if done => return None,
            b'{' | b'[' => {
                if out.last() != Some(&b' ') {
                    element(&mut out, &mut open, depth, newline);
                }
                out.push(b);
                open.push((b, false));
                depth += 1;
            }
            b'}' | b']' => {
                let (kind, had) = open.pop()?;
                if (kind == b'{') != (b == b'}') {
                    return None;
                }
                depth -= 1;
                if had {
                    newline(&mut out, depth);
                }
                out.push(b);
                done = open.is_empty();
            }
            b',' => {
                out.push(b',');
            }
            b':' => out.extend_from_slice(b": "),
            b'"' => {
                let start = i;
                i += 1;
                while i < body.len() && body[i] != b'"' {
                    i += if body[i] == b'\\' { 2 } else { 1 };
                }
                if i >= body.len() {
                    return None;
                }
                // A key follows `{` or `,` inside an object; it starts an element.
                let is_value_after_colon = out.last() == Some(&b' ');
                if !is_value_after_colon {
                    element(&mut out, &mut open, depth, newline);
                }
                out.extend_from_slice(&body[start..=i]);
                done = open.is_empty();
            }
            _ => {
                let start = i;
                while i < body.len() && !b",:]} \t\n\r".contains(&body[i]) {
                    i += 1;
                }
                if out.last() != Some(&b' ') {
                    element(&mut out, &mut open, depth, newline);
                }
                out.extend_from_slice(&body[start..i]);
                done = open.is_empty();
                continue;
            }
        }
        i += 1;
    }
    (done && open.is_empty()).then_some(out)
}

/// Starts an element of the innermost container on a line of its own.
fn element(
    out: &mut Vec<u8>,
    open: &mut [(u8, bool)],
    depth: usize,
    newline: impl Fn(&mut Vec<u8>, usize),
) {
    if let Some((_, had)) = open.last_mut() {
        *had = true;
        newline(out, depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(text: &str) -> String {
        String::from_utf8(stripe_layout(text.as_bytes()).expect("JSON")).unwrap()
    }

    #[test]
    fn a_compacted_body_is_written_back_as_stripe_wrote_it() {
        let stripe = "{\n  \"id\": \"evt_1\",\n  \"object\": \"event\",\n  \"data\": {\n    \"object\": {\n      \"amount\": 2599,\n      \"metadata\": {},\n      \"list\": [\n        1,\n        \"a, b: {c}\",\n        null\n      ],\n      \"empty\": []\n    }\n  },\n  \"livemode\": false\n}";
        let compact = r#"{"id":"evt_1","object":"event","data":{"object":{"amount":2599,"metadata":{},"list":[1,"a, b: {c}",null],"empty":[]}},"livemode":false}"#;
        assert_eq!(layout(compact), stripe);
        assert_eq!(layout(stripe), stripe, "Stripe's own layout is kept");
        let spaced = "{ \"id\" : \"evt_1\",\r\n\t\"object\":\"event\", \"data\": {\"object\": {\"amount\": 2599, \"metadata\": { }, \"list\": [1, \"a, b: {c}\", null], \"empty\": [ ]}}, \"livemode\": false }";
        assert_eq!(layout(spaced), stripe);
    }

    #[test]
    fn strings_keep_their_escapes_and_bad_text_is_refused() {
        assert_eq!(
            layout(r#"{"q":"say \"hi\"\\","u":"\u00e9"}"#),
            "{\n  \"q\": \"say \\\"hi\\\"\\\\\",\n  \"u\": \"\\u00e9\"\n}"
        );
        for bad in ["{", "{}}", "[1]]", "{\"a\":1]", "\"open", "{} {}", ""] {
            assert_eq!(stripe_layout(bad.as_bytes()), None, "{bad}");
        }
    }
}
