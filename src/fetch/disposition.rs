//! The file name in a `Content-Disposition` header (RFC 6266), `filename*` preferred.

use percent_encoding::percent_decode_str;

/// `attachment; filename="tabby.jpg"` gives `tabby.jpg`; `filename*=UTF-8''caf%C3%A9.jpg` wins.
pub fn file_name_from_disposition(header: &str) -> Option<String> {
    let mut plain = None;
    for param in header.split(';').skip(1) {
        let Some((key, value)) = param.split_once('=') else { continue };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        if key == "filename*" {
            let encoded = value.splitn(3, '\'').nth(2)?;
            let decoded = percent_decode_str(encoded).decode_utf8_lossy().into_owned();
            return Some(decoded).filter(|n| !n.is_empty());
        }
        if key == "filename" {
            plain = Some(value.trim_matches('"').replace("\\\"", "\"")).filter(|n| !n.is_empty());
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_either_form() {
        assert_eq!(file_name_from_disposition("attachment; filename=\"tabby.jpg\"").as_deref(), Some("tabby.jpg"));
        assert_eq!(file_name_from_disposition("inline; filename=dog.png").as_deref(), Some("dog.png"));
        assert_eq!(
            file_name_from_disposition("attachment; filename=\"x.jpg\"; filename*=UTF-8''caf%C3%A9.jpg").as_deref(),
            Some("café.jpg")
        );
        assert_eq!(file_name_from_disposition("attachment"), None);
        assert_eq!(file_name_from_disposition("attachment; filename=\"\""), None);
    }
}
