//! Deterministic parallel gzip, as pigz does: the uncompressed stream is cut into fixed 1 MiB
//! chunks, each compressed independently (raw deflate, ended by a sync flush, the last one by
//! a final block) on a pool of threads, and the outputs are concatenated in order under one
//! gzip header and trailer. The same input and level always give the same bytes, whatever the
//! thread count or timing.

use anyhow::{anyhow, Result};
use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Uncompressed bytes per chunk.
pub const CHUNK: usize = 1 << 20;
/// The fixed gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown".
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Compresses one piece of a deflate stream: `last` ends the stream with a final block;
/// otherwise the output ends byte-aligned (sync flush) so more pieces can follow.
pub fn deflate_piece(input: &[u8], level: u32, last: bool) -> Result<Vec<u8>> {
    let level = if looks_incompressible(input)? {
        0
    } else {
        level
    };
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(input.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(|e| anyhow!("deflate: {e}"))?;
        let done_input = c.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => break,
            _ if !last && done_input && out.capacity() > out.len() => break,
            _ => {}
        }
    }
    Ok(out)
}

/// A chunk to compress: index, bytes, whether it ends the stream.
type Job = (u64, Vec<u8>, bool);

struct Piece {
    index: u64,
    data: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
    last: bool,
}

/// Bytes of each chunk probed to decide whether it is worth compressing.
pub const PROBE: usize = 64 * 1024;

/// Whether a chunk's first [`PROBE`] bytes shrink by less than 3% at level 1. Such chunks
/// (already-compressed images, encrypted blobs) are written as stored blocks: the deflate
/// matcher would spend most of the packaging time on them for nothing. The decision depends
/// only on the chunk's bytes, so output stays deterministic.
fn looks_incompressible(input: &[u8]) -> Result<bool> {
    if input.len() < PROBE {
        return Ok(false);
    }
    let probe = &input[..PROBE];
    let mut c = Compress::new(Compression::new(1), false);
    let mut out = Vec::with_capacity(PROBE + 1024);
    c.compress_vec(probe, &mut out, FlushCompress::Finish)
        .map_err(|e| anyhow!("deflate: {e}"))?;
    Ok(c.total_in() as usize == PROBE && out.len() * 100 > PROBE * 97)
}

/// What a compressed section produced: its CRC state (with length) for the gzip trailer.
pub struct Section {
    /// CRC-32 of the uncompressed bytes, combinable.
    pub crc: crc32fast::Hasher,
    /// Uncompressed length.
    pub len: u64,
}

/// The writing end given to the producer: buffers bytes into chunks and hands them to the pool.
pub struct ChunkSink {
    buf: Vec<u8>,
    index: u64,
    tx: SyncSender<Job>,
}

impl ChunkSink {
    /// Appends bytes.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
                self.tx
                    .send((self.index, full, false))
                    .map_err(|_| anyhow!("compressor stopped"))?;
                self.index += 1;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.tx
            .send((self.index, self.buf, true))
            .map_err(|_| anyhow!("compressor stopped"))
    }
}

/// Runs `produce` on its own thread, compresses what it writes on `threads` workers and writes
/// the raw deflate stream (ending with a final block) to `out` in order. Memory is bounded:
/// at most about `3 × threads` chunks are in flight.
pub fn compress_parallel<W: Write>(
    produce: impl FnOnce(&mut ChunkSink) -> Result<()> + Send,
    out: &mut W,
    level: u32,
    threads: usize,
) -> Result<Section> {
    let threads = threads.max(1);
    let (job_tx, job_rx) = sync_channel::<Job>(threads);
    let (res_tx, res_rx) = sync_channel::<Result<Piece>>(threads);
    let job_rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(job_rx));
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut sink = ChunkSink {
                buf: Vec::with_capacity(CHUNK),
                index: 0,
                tx: job_tx,
            };
            produce(&mut sink)?;
            sink.finish()
        });
        for _ in 0..threads {
            let rx = Arc::clone(&job_rx);
            let tx = res_tx.clone();
            s.spawn(move || loop {
                let job = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                let Ok((i, data, last)) = job else { return };
                let mut crc = crc32fast::Hasher::new();
                crc.update(&data);
                let len = data.len() as u64;
                let r = deflate_piece(&data, level, last).map(|c| Piece {
                    index: i,
                    data: c,
                    crc,
                    len,
                    last,
                });
                if tx.send(r).is_err() {
                    return;
                }
            });
        }
        drop(res_tx);
        let mut pending: BTreeMap<u64, Piece> = BTreeMap::new();
        let mut next = 0u64;
        let mut total = Section {
            crc: crc32fast::Hasher::new(),
            len: 0,
        };
        let mut finished = false;
        let mut write_result: Result<()> = Ok(());
        for r in res_rx.iter() {
            let piece = match r {
                Ok(x) => x,
                Err(e) => {
                    write_result = Err(e);
                    break;
                }
            };
            pending.insert(piece.index, piece);
            while let Some(p) = pending.remove(&next) {
                if let Err(e) = out.write_all(&p.data) {
                    write_result = Err(e.into());
                    break;
                }
                total.len += p.len;
                total.crc.combine(&p.crc);
                next += 1;
                if p.last {
                    finished = true;
                }
            }
            if write_result.is_err() || finished {
                break;
            }
        }
        drop(res_rx);
        let produced = producer
            .join()
            .map_err(|_| anyhow!("producer thread panicked"))?;
        produced?;
        write_result?;
        if !finished {
            return Err(anyhow!("compression ended early"));
        }
        Ok(total)
    })
}
