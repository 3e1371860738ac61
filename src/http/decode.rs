//! Request bodies sent compressed (`Content-Encoding: gzip`, `deflate`, `br`,
//! `zstd`), decoded into at most a limit of bytes: a body that inflates beyond it
//! (a zip bomb) is refused whole without ever being held.

use std::io::Read;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    /// Inflates beyond the limit (bytes).
    TooLarge(usize),
    /// Not valid data of its encoding.
    Corrupt(String),
    /// An encoding we do not read.
    Unsupported(String),
}

impl std::fmt::Display for Decode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decode::TooLarge(limit) => {
                write!(f, "the body is larger than {limit} bytes once decompressed")
            }
            Decode::Corrupt(e) => write!(f, "the compressed body cannot be decoded: {e}"),
            Decode::Unsupported(enc) => write!(
                f,
                "Content-Encoding {enc:?} is not supported; send gzip, deflate, br, zstd or none"
            ),
        }
    }
}

/// The body decoded per `Content-Encoding` (`None`, empty, `identity` or `utf-8`
/// mean as is), within `limit` bytes.
pub fn decode(
    encoding: Option<&str>,
    body: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, Decode> {
    let encoding = encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let inflated = match encoding.as_str() {
        "" | "identity" | "utf-8" => return Ok(body),
        "gzip" | "x-gzip" => read_bounded(flate2::read::MultiGzDecoder::new(&body[..]), limit)?,
        // HTTP's deflate is zlib-wrapped; some clients send raw deflate.
        "deflate" => match read_bounded(flate2::read::ZlibDecoder::new(&body[..]), limit) {
            Err(Decode::Corrupt(_)) => {
                read_bounded(flate2::read::DeflateDecoder::new(&body[..]), limit)?
            }
            other => other?,
        },
        "br" => read_bounded(
            brotli_decompressor::Decompressor::new(&body[..], 4096),
            limit,
        )?,
        "zstd" => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(&body[..])
                .map_err(|e| Decode::Corrupt(e.to_string()))?;
            read_bounded(decoder, limit)?
        }
        other => return Err(Decode::Unsupported(other.to_string())),
    };
    Ok(inflated.into())
}

fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, Decode> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Decode::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(Decode::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> bytes::Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap().into()
    }

    #[test]
    fn encodings_decode_within_the_limit() {
        let body = b"{\"a\":1}".repeat(100);
        assert_eq!(
            decode(Some("gzip"), gzip(&body), 10_000).unwrap(),
            &body[..]
        );
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&body).unwrap();
        assert_eq!(
            decode(Some("deflate"), z.finish().unwrap().into(), 10_000).unwrap(),
            &body[..]
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&body).unwrap();
        assert_eq!(
            decode(Some("Deflate"), raw.finish().unwrap().into(), 10_000).unwrap(),
            &body[..]
        );
        assert_eq!(decode(None, body.clone().into(), 1).unwrap(), &body[..]);
        // A zip bomb: 10 MB of zeros in ~10 KB.
        let bomb = gzip(&vec![0u8; 10_000_000]);
        assert!(bomb.len() < 20_000);
        assert_eq!(
            decode(Some("gzip"), bomb, 1_000_000),
            Err(Decode::TooLarge(1_000_000))
        );
        assert!(matches!(
            decode(Some("gzip"), b"nope".to_vec().into(), 10),
            Err(Decode::Corrupt(_))
        ));
        assert!(matches!(
            decode(Some("compress"), body.into(), 10),
            Err(Decode::Unsupported(_))
        ));
    }
}
