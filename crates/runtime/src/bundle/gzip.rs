//! The gzip layer (thread A): read the file, feed the outer signature's prehash, check the
//! one gzip framing a bundle has (FORMAT.md §15) and inflate into the archive reader.

use super::*;

/// The one gzip header a bundle has (FORMAT.md §15): magic, deflate, no flags, MTIME 0,
/// XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub(super) enum GzFail {
    Io(String),
    Format(String),
}

/// Thread A: read, prehash, check gzip framing, inflate. Reading stops at the first framing
/// error or as soon as the archive reader gave up: a hostile file is never read to its end.
pub(super) fn inflate(
    mut r: impl Read,
    check: &mut MinisignCheck,
    tx: SyncSender<Vec<u8>>,
) -> Result<(), GzFail> {
    let mut input = vec![0u8; CHUNK];
    let mut header = Vec::with_capacity(10);
    let mut trailer = Vec::with_capacity(8);
    let mut d = Decompress::new(false);
    let mut crc = crc32fast::Hasher::new();
    let mut out = Vec::with_capacity(CHUNK);
    let mut total_out: u64 = 0;
    let mut ended = false;
    let mut failure: Option<String> = None;
    let mut receiver_gone = false;
    loop {
        let n = match r.read(&mut input) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GzFail::Io(format!("reading bundle: {e}"))),
        };
        check.update(&input[..n]);
        if failure.is_some() || receiver_gone {
            break;
        }
        let mut data = &input[..n];
        if header.len() < 10 {
            let take = (10 - header.len()).min(data.len());
            header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if header.len() == 10 && header[..] != GZIP_HEADER {
                failure = Some(format!(
                    "the gzip header must be exactly {} (deflate, no optional header fields, mtime 0, xfl 0, os 255), is {}",
                    enc::hex(&GZIP_HEADER),
                    enc::hex(&header)
                ));
                break;
            }
        }
        while !data.is_empty() && failure.is_none() && !receiver_gone {
            if ended {
                let take = (8 - trailer.len()).min(data.len());
                trailer.extend_from_slice(&data[..take]);
                data = &data[take..];
                if !data.is_empty() {
                    failure = Some(
                        "data after the gzip stream (a second member or trailing garbage)".into(),
                    );
                }
                break;
            }
            let before = d.total_in();
            let status = d.decompress_vec(data, &mut out, FlushDecompress::None);
            let used = (d.total_in() - before) as usize;
            data = &data[used..];
            match status {
                Ok(Status::StreamEnd) => ended = true,
                Ok(_) => {}
                Err(e) => failure = Some(format!("corrupt deflate data: {e}")),
            }
            if out.len() == out.capacity() || (ended && !out.is_empty()) {
                crc.update(&out);
                total_out += out.len() as u64;
                let full = std::mem::replace(&mut out, Vec::with_capacity(CHUNK));
                if tx.send(full).is_err() {
                    receiver_gone = true;
                }
            }
        }
    }
    drop(tx);
    let verdict = if let Some(f) = failure {
        Some(f)
    } else if receiver_gone {
        None
    } else if header.len() < 10 || !ended {
        Some("truncated gzip stream".into())
    } else if trailer.len() < 8 {
        Some("truncated gzip trailer".into())
    } else {
        let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc.clone().finalize() != want_crc {
            Some("CRC32 mismatch".into())
        } else if total_out as u32 != want_len {
            Some("ISIZE mismatch".into())
        } else {
            None
        }
    };
    match verdict {
        None => Ok(()),
        Some(m) => Err(GzFail::Format(m)),
    }
}
