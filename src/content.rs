//! Content types: sniffing from magic bytes and the allow-list.

/// The type stored for bytes that no signature matches.
pub const UNKNOWN_TYPE: &str = "application/octet-stream";

/// What the bytes turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// MIME type, e.g. `image/png`.
    pub mime: &'static str,
    /// Canonical file extension without the dot, e.g. `png`.
    pub extension: &'static str,
}

/// SVG: a text format, stored only when the allow-list names it (it can carry scripts).
pub const SVG_TYPE: &str = "image/svg+xml";

/// Sniffs the content type from the first bytes; the declared type is never trusted.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    match infer::get(bytes) {
        // `infer` knows no SVG; an XML document whose root is <svg> is one.
        Some(kind) if kind.mime_type() == "text/xml" && is_svg(bytes) => Sniffed { mime: SVG_TYPE, extension: "svg" },
        Some(kind) => Sniffed { mime: kind.mime_type(), extension: kind.extension() },
        None if is_svg(bytes) => Sniffed { mime: SVG_TYPE, extension: "svg" },
        None => Sniffed { mime: UNKNOWN_TYPE, extension: "bin" },
    }
}

/// Whether the first element of the document, after an optional byte-order mark, XML
/// declaration, processing instructions, comments and doctype, is `<svg`.
fn is_svg(bytes: &[u8]) -> bool {
    let mut rest = &bytes[..bytes.len().min(4096)];
    rest = rest.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(rest);
    loop {
        rest = rest.trim_ascii_start();
        let skipped = if rest.starts_with(b"<!--") {
            after(rest, b"-->")
        } else if rest.starts_with(b"<?") {
            after(rest, b"?>")
        } else if rest.starts_with(b"<!") {
            after(rest, b">")
        } else {
            return rest.starts_with(b"<svg")
                && rest.get(4).is_some_and(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/');
        };
        match skipped {
            Some(next) => rest = next,
            None => return false,
        }
    }
}

/// What follows the first `end` in `bytes`.
fn after<'a>(bytes: &'a [u8], end: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(bytes, end)?;
    Some(&bytes[at + end.len()..])
}

/// A declared type as if it had been sniffed, for presigned uploads whose bytes are never seen.
/// `None` for types with no known extension.
pub fn declared(mime: &str) -> Option<Sniffed> {
    let known = mime_guess::get_mime_extensions_str(mime)?;
    let subtype = mime.split('/').nth(1).unwrap_or_default();
    let extension = ["jpg", subtype]
        .iter()
        .find_map(|wanted| known.iter().copied().find(|e| e == wanted))
        .or_else(|| known.first().copied())?;
    let mime = mime_guess::from_ext(extension).first_raw()?;
    Some(Sniffed { mime, extension })
}

/// True when `ext` (without dot, any case) is a usual extension for `mime`.
pub fn extension_fits(ext: &str, sniffed: &Sniffed) -> bool {
    let ext = ext.to_ascii_lowercase();
    ext == sniffed.extension
        || mime_guess::get_mime_extensions_str(sniffed.mime).is_some_and(|known| known.contains(&ext.as_str()))
}

/// True when `ext` is a usual extension of some known type, so a wrong one can be replaced.
pub fn is_known_extension(ext: &str) -> bool {
    mime_guess::from_ext(ext).first().is_some()
}

/// `ALLOWED_CONTENT_TYPES`: a list of `type/subtype`, `type/*` or `*/*` patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentTypePolicy {
    patterns: Vec<String>,
}

impl ContentTypePolicy {
    /// Parses a comma-separated list; each entry must look like a MIME pattern.
    pub fn parse(list: &str) -> Result<Self, String> {
        let patterns: Vec<String> =
            list.split(',').map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect();
        if patterns.is_empty() {
            return Err("expected at least one type such as image/*".into());
        }
        for p in &patterns {
            let valid = match p.split_once('/') {
                Some(("*", "*")) => true,
                Some((kind, sub)) => kind != "*" && !kind.is_empty() && !sub.is_empty() && !sub.contains('/'),
                None => false,
            };
            if !valid {
                return Err(format!("{p:?} is not a type/subtype pattern"));
            }
        }
        Ok(Self { patterns })
    }

    /// Whether `mime` matches one of the patterns. `image/*` does not cover SVG, which can
    /// carry scripts: it must be named (or everything allowed with `*/*`).
    pub fn allows(&self, mime: &str) -> bool {
        let mime = mime.to_ascii_lowercase();
        let kind = mime.split('/').next().unwrap_or_default();
        self.patterns.iter().any(|p| match p.split_once('/') {
            Some(("*", "*")) => true,
            Some((k, "*")) => k == kind && mime != SVG_TYPE,
            _ => *p == mime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";

    #[test]
    fn sniffs_images_and_falls_back_for_text() {
        assert_eq!(sniff(PNG), Sniffed { mime: "image/png", extension: "png" });
        assert_eq!(sniff(JPEG).mime, "image/jpeg");
        assert_eq!(sniff(b"hello, world").mime, UNKNOWN_TYPE);
    }

    #[test]
    fn svg_is_an_xml_document_whose_root_is_svg() {
        for svg in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'/>"[..],
            b"\xEF\xBB\xBF  <?xml version='1.0'?>\n<!-- made by hand -->\n<!DOCTYPE svg>\n<svg>",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><svg\nwidth='1'>",
        ] {
            assert_eq!(sniff(svg), Sniffed { mime: SVG_TYPE, extension: "svg" }, "{}", String::from_utf8_lossy(svg));
        }
        for not_svg in [&b"<svgx/>"[..], b"<html><svg/></html>", b"<?xml version='1.0'?><rss/>", b"<!-- <svg>", b"svg"]
        {
            assert_ne!(sniff(not_svg).mime, SVG_TYPE, "{}", String::from_utf8_lossy(not_svg));
        }
    }

    #[test]
    fn svg_must_be_named_or_everything_allowed() {
        assert!(!ContentTypePolicy::parse("image/*").unwrap().allows(SVG_TYPE));
        assert!(ContentTypePolicy::parse("image/*, image/svg+xml").unwrap().allows(SVG_TYPE));
        assert!(ContentTypePolicy::parse("*/*").unwrap().allows(SVG_TYPE));
    }

    #[test]
    fn jpeg_accepts_its_usual_extensions() {
        let jpeg = sniff(JPEG);
        assert!(extension_fits("jpg", &jpeg));
        assert!(extension_fits("JPEG", &jpeg));
        assert!(!extension_fits("png", &jpeg));
        assert!(is_known_extension("png"));
        assert!(!is_known_extension("2026"));
    }

    #[test]
    fn declared_types_get_their_usual_extension() {
        assert_eq!(declared("image/jpeg"), Some(Sniffed { mime: "image/jpeg", extension: "jpg" }));
        assert_eq!(declared("image/png"), Some(Sniffed { mime: "image/png", extension: "png" }));
        assert_eq!(declared("image/x-not-a-type"), None);
    }

    #[test]
    fn policy_matches_wildcards_and_exact_types() {
        let images = ContentTypePolicy::parse("image/*").unwrap();
        assert!(images.allows("image/png") && images.allows("IMAGE/JPEG"));
        assert!(!images.allows("application/pdf"));
        let exact = ContentTypePolicy::parse("image/png, application/pdf").unwrap();
        assert!(exact.allows("application/pdf") && !exact.allows("image/jpeg"));
        assert!(ContentTypePolicy::parse("*/*").unwrap().allows(UNKNOWN_TYPE));
        for bad in ["", "png", "*/png", "image/", "a/b/c"] {
            assert!(ContentTypePolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
