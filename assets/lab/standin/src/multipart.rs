//! Just enough `multipart/form-data` to read the fields of OpenKM's `createSimple`.

/// One part of a form: its field name and raw bytes.
pub struct Part<'a> {
    pub name: String,
    pub data: &'a [u8],
}

/// The boundary from a `Content-Type: multipart/form-data; boundary=...` header.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, rest) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    rest.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a body into its parts; `None` when it is not well formed.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delim = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, &delim, 0)? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            return Some(parts);
        }
        pos += skip_crlf(&body[pos..]);
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(&body[pos..head_end]).ok()?;
        let data_start = head_end + 4;
        let next = find(body, &[b"\r\n", delim.as_slice()].concat(), data_start)?;
        let name = head.lines().find_map(field_name)?;
        parts.push(Part {
            name,
            data: &body[data_start..next],
        });
        pos = next + 2 + delim.len();
    }
}

fn field_name(header_line: &str) -> Option<String> {
    let (k, v) = header_line.split_once(':')?;
    if !k.trim().eq_ignore_ascii_case("content-disposition") {
        return None;
    }
    v.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k == "name").then(|| v.trim_matches('"').to_string())
    })
}

fn skip_crlf(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") { 2 } else { 0 }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_of_a_form() {
        let body =
            b"--XX\r\nContent-Disposition: form-data; name=\"docPath\"\r\n\r\n/okm:root/a.txt\r\n\
--XX\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.txt\"\r\n\
Content-Type: application/octet-stream\r\n\r\nhello\r\nworld\r\n--XX--\r\n";
        let parts = parse(body, "XX").expect("well formed");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "docPath");
        assert_eq!(parts[0].data, b"/okm:root/a.txt");
        assert_eq!(parts[1].name, "content");
        assert_eq!(parts[1].data, b"hello\r\nworld");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XX\"").as_deref(),
            Some("XX")
        );
        assert!(parse(b"garbage", "XX").is_none());
    }
}
