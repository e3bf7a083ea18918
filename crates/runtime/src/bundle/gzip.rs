//! The gzip layer. Thread R reads the file and feeds the outer signature's prehash; thread A
//! checks the one gzip framing a bundle has (FORMAT.md §15) and inflates into the archive
//! reader. The three streams of work (BLAKE2b over the file, inflating, SHA-256 over the
//! members in thread B) are each about a third of the whole on a large bundle, and three
//! threads let the system share two cores between them where two threads could not.

use super::*;
use std::sync::mpsc::Receiver;

/// The one gzip header a bundle has (FORMAT.md §15): magic, deflate, no flags, MTIME 0,
/// XFL 0, OS 255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Blocks of the file in flight between threads R and A: the memory they hold is bounded by
/// this many [`CHUNK`]s, whatever the bundle's size.
pub(super) const BLOCKS: usize = 8;

/// A block of the file as read: the buffer and how much of it holds bytes.
pub(super) type Block = (Vec<u8>, usize);

/// Thread R: read the file in blocks and feed the outer signature's prehash. Buffers come back
/// empty through `empty` to be refilled. The reading stops at the end of the file or as soon
/// as thread A is gone (a framing fault, or an archive reader that gave up): a hostile file is
/// read at most [`BLOCKS`] past its first fault, never to its end.
pub(super) fn read_blocks(
    mut r: impl Read,
    check: &mut MinisignCheck,
    full: SyncSender<Block>,
    empty: Receiver<Vec<u8>>,
) -> Result<(), String> {
    while let Ok(mut buf) = empty.recv() {
        let n = loop {
            match r.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading bundle: {e}")),
            }
        };
        if n == 0 {
            break;
        }
        check.update(&buf[..n]);
        if full.send((buf, n)).is_err() {
            break;
        }
    }
    Ok(())
}

/// Thread A: check the gzip framing and inflate the blocks [`read_blocks`] read. It stops at
/// the first framing error or as soon as the archive reader gave up. The end of `blocks` is
/// the end of the file (a reading error is thread R's to report).
pub(super) fn inflate(
    blocks: Receiver<Block>,
    empty: SyncSender<Vec<u8>>,
    tx: SyncSender<Vec<u8>>,
) -> Result<(), String> {
    let mut header = Vec::with_capacity(10);
    let mut trailer = Vec::with_capacity(8);
    let mut d = Decompress::new(false);
    let mut crc = crc32fast::Hasher::new();
    let mut out = Vec::with_capacity(CHUNK);
    let mut total_out: u64 = 0;
    let mut ended = false;
    let mut failure: Option<String> = None;
    let mut receiver_gone = false;
    for (input, n) in blocks.iter() {
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
        // Never blocks: the channel has room for every buffer there is.
        let _ = empty.send(input);
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
    verdict.map_or(Ok(()), Err)
}
